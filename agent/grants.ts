// What each session-bus client has been allowed to read. A grant belongs to one connection
// (unique bus names are never reused, so no other process can inherit it) and holds the secret
// the daemon released for that approval, because the spec's flow reads the secret in a second
// call after the prompt completed (libsecret: Unlock → Prompt → GetSecrets; secretstorage reads
// the secret and then its content type with two GetSecret calls). Grants live GRANT_TTL_MS at
// most, end on Lock and when the client disconnects, and their buffers are wiped.
import type { ErrorCode } from '../core/errors.js';

export const GRANT_TTL_MS = 30_000;
/**
 * After a refusal (denied, timed out, nobody to ask), the same client's next read of the item fails
 * at once with that reason instead of asking again: this is how a client that went through a prompt
 * learns why it got nothing.
 */
export const DENIAL_TTL_MS = 30_000;

/**
 * Reads a grant of a tier-high item allows: the spec's flow needs the secret once more after the
 * approval (secretstorage's content-type call, libsecret's GetSecrets after the prompt), and no more:
 * a tier-high item is asked for every time.
 */
export const HIGH_TIER_READS = 2;

interface Grant { secret: Buffer; contentType: string; expiresAt: number; readsLeft: number }

export class ClientGrants {
  private readonly grants = new Map<string, Map<string, Grant>>();
  private readonly denials = new Map<string, Map<string, { until: number; code: ErrorCode }>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 5_000);
    this.sweeper.unref();
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const client of [...this.grants.keys()]) this.forget(client);
  }

  /** Keeps a copy of the secret, for `reads` reads at most; the caller wipes its own. */
  grant(client: string, itemId: string, secret: Buffer, contentType: string, reads = Infinity): void {
    let map = this.grants.get(client);
    if (!map) this.grants.set(client, (map = new Map()));
    map.get(itemId)?.secret.fill(0);
    if (reads <= 0) {
      map.delete(itemId);
      return;
    }
    map.set(itemId, { secret: Buffer.from(secret), contentType, expiresAt: this.now() + GRANT_TTL_MS, readsLeft: reads });
    this.denials.get(client)?.delete(itemId);
  }

  isUnlocked(client: string, itemId: string): boolean {
    const g = this.grants.get(client)?.get(itemId);
    return g !== undefined && g.expiresAt > this.now();
  }

  /** A copy of the granted secret (the caller wipes it), or null. */
  read(client: string, itemId: string): { secret: Buffer; contentType: string } | null {
    const g = this.grants.get(client)?.get(itemId);
    if (!g || g.expiresAt <= this.now()) return null;
    const copy = { secret: Buffer.from(g.secret), contentType: g.contentType };
    g.readsLeft -= 1;
    if (g.readsLeft <= 0) this.revoke(client, [itemId]);
    return copy;
  }

  deny(client: string, itemIds: string[], code: ErrorCode = 'Denied'): void {
    let map = this.denials.get(client);
    if (!map) this.denials.set(client, (map = new Map()));
    for (const id of itemIds) map.set(id, { until: this.now() + DENIAL_TTL_MS, code });
  }

  isDenied(client: string, itemId: string): boolean {
    const d = this.denials.get(client)?.get(itemId);
    return d !== undefined && d.until > this.now();
  }

  /** The reason of a recent refusal, consumed: the read after it asks again. */
  takeRefusal(client: string, itemId: string): ErrorCode | null {
    const map = this.denials.get(client);
    const d = map?.get(itemId);
    map?.delete(itemId);
    return d !== undefined && d.until > this.now() ? d.code : null;
  }

  /** Lock items for one client (all its items when `itemIds` is omitted). */
  revoke(client: string, itemIds?: string[]): void {
    const map = this.grants.get(client);
    if (!map) return;
    for (const id of itemIds ?? [...map.keys()]) {
      map.get(id)?.secret.fill(0);
      map.delete(id);
    }
  }

  /** An item was deleted or its secret replaced: nobody keeps the old secret. */
  revokeEverywhere(itemId: string): void {
    for (const client of this.grants.keys()) this.revoke(client, [itemId]);
  }

  forget(client: string): void {
    this.revoke(client);
    this.grants.delete(client);
    this.denials.delete(client);
  }

  private sweep(): void {
    const now = this.now();
    for (const [client, map] of this.grants) {
      for (const [id, g] of map) {
        if (g.expiresAt <= now) {
          g.secret.fill(0);
          map.delete(id);
        }
      }
      if (map.size === 0) this.grants.delete(client);
    }
    for (const [client, map] of this.denials) {
      for (const [id, d] of map) if (d.until <= now) map.delete(id);
      if (map.size === 0) this.denials.delete(client);
    }
  }
}
