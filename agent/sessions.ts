// Open Secret Service sessions. A session belongs to the connection that opened it: using another
// client's session path, or a closed one, is NoSession (spec), so one client cannot read secrets
// encrypted for another.
import { SdError, SECRET_SERVICE_ERRORS } from '../core/errors.js';
import { SESSION_PREFIX } from './object-paths.js';
import type { SessionCrypto } from './session-crypto.js';

/** More than any real client opens; bounds what a misbehaving one can make us hold. */
export const MAX_SESSIONS_PER_CLIENT = 64;

interface OpenSession { owner: string; crypto: SessionCrypto }

export class SessionRegistry {
  private readonly sessions = new Map<string, OpenSession>();
  private next = 1;

  open(owner: string, crypto: SessionCrypto): string {
    let count = 0;
    for (const s of this.sessions.values()) if (s.owner === owner) count++;
    if (count >= MAX_SESSIONS_PER_CLIENT) {
      crypto.wipe();
      throw new SdError('TooLarge', `this client already has ${count} open sessions; close some first.`);
    }
    const path = `${SESSION_PREFIX}${this.next++}`;
    this.sessions.set(path, { owner, crypto });
    return path;
  }

  get(untrustedPath: string, caller: string): SessionCrypto {
    const s = this.sessions.get(untrustedPath);
    if (!s || s.owner !== caller) throw new SdError('NotFound', 'No open session at that path for this client.', { dbusName: SECRET_SERVICE_ERRORS.NoSession });
    return s.crypto;
  }

  hasAny(caller: string): boolean {
    for (const s of this.sessions.values()) if (s.owner === caller) return true;
    return false;
  }

  owns(path: string, caller: string): boolean {
    return this.sessions.get(path)?.owner === caller;
  }

  close(path: string, caller: string): boolean {
    const s = this.sessions.get(path);
    if (!s || s.owner !== caller) return false;
    s.crypto.wipe();
    this.sessions.delete(path);
    return true;
  }

  /** Close every session of a client; returns the paths. */
  forget(owner: string): string[] {
    const closed: string[] = [];
    for (const [path, s] of this.sessions) {
      if (s.owner !== owner) continue;
      s.crypto.wipe();
      this.sessions.delete(path);
      closed.push(path);
    }
    return closed;
  }
}
