// Sealing and opening cells, and the lookup MACs, under the keys of one unlocked session. Lock
// wipes those keys; from then on every call here refuses instead of sealing under zeroes.
import { SdError } from '../../core/errors.js';
import { wipeKeys, type UnlockedKeys } from './data-keys.js';
import { LOOKUP } from './row-labels.js';
import type { Cell } from './row-digest.js';
import { mac, open, seal, wipe } from './seal.js';
import { CORRUPT_ADVICE } from './sqlite-errors.js';

export class RowCrypto {
  private wiped = false;

  constructor(private readonly keys: UnlockedKeys) {}

  /** The session's keys; StoreLocked once they are wiped (a stale reference to a locked session). */
  held(): UnlockedKeys {
    if (this.wiped) throw new SdError('StoreLocked');
    return this.keys;
  }

  /** Zeroes the very Buffers every seal, open and MAC of this session used. */
  wipe(): void {
    this.wiped = true;
    wipeKeys(this.keys);
  }

  sealBytes(plain: Buffer, aad: Buffer): Buffer {
    return seal(this.held().record, plain, aad);
  }

  sealJson(value: unknown, aad: Buffer): Buffer {
    const plain = Buffer.from(JSON.stringify(value), 'utf8');
    try {
      return this.sealBytes(plain, aad);
    } finally {
      wipe(plain);
    }
  }

  openBytes(sealed: Cell, aad: Buffer, what: string): Buffer {
    const plain = Buffer.isBuffer(sealed) ? open(this.held().record, sealed, aad) : null;
    if (!plain) throw new SdError('StoreCorrupt', `${what} failed its integrity check. ${CORRUPT_ADVICE}`);
    return plain;
  }

  openJson(sealed: Cell, aad: Buffer, what: string): unknown {
    const plain = this.openBytes(sealed, aad, what);
    try {
      return JSON.parse(plain.toString('utf8'));
    } catch {
      throw new SdError('StoreCorrupt', `${what} is not readable. ${CORRUPT_ADVICE}`);
    } finally {
      wipe(plain);
    }
  }

  /** The (key_mac, value_mac) pair of one attribute, as stored in the attributes table. */
  attributeMacs(name: string, value: string): [Buffer, Buffer] {
    const keys = this.held();
    return [mac(keys.attributeKey, LOOKUP.attributeName(name)), mac(keys.attributeValue, LOOKUP.attributeValue(name, value))];
  }

  aliasMac(alias: string): Buffer {
    return mac(this.held().lookup, LOOKUP.alias(alias));
  }

  fingerprintMac(fingerprint: string): Buffer {
    return mac(this.held().lookup, LOOKUP.fingerprint(fingerprint));
  }
}
