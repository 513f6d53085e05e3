// Signing keys while the store is unlocked. A key row is found by a MAC of its fingerprint, so the
// file does not say which keys it holds.
import { SdError } from '../../core/errors.js';
import { LIMITS } from '../../core/limits.js';
import { asKey } from './records.js';
import { SEALED } from './row-labels.js';
import type { Session } from './session.js';
import type { Row } from './store-file.js';
import type { KeyRecord } from './types.js';
import { checkSecret, checkText, checkTier } from './validate.js';
import { highestTier } from '../../core/tiers.js';
import type { Tier } from '../../core/wire.js';
import type { Writer } from './writer.js';

export class SigningKeys {
  constructor(private readonly s: Session) {}

  private readRow(fingerprint: string): { fpMac: Buffer; row: Row } | null {
    if (typeof fingerprint !== 'string' || fingerprint.length > LIMITS.idChars) return null;
    const fpMac = this.s.crypto.fingerprintMac(fingerprint);
    const row = this.s.file.getRow('signing_keys', fpMac);
    return row ? { fpMac, row } : null;
  }

  private requireRow(fingerprint: string): { fpMac: Buffer; row: Row } {
    const found = this.readRow(fingerprint);
    if (!found) throw new SdError('NoSuchKey', `No key with fingerprint ${JSON.stringify(String(fingerprint).slice(0, 64))}.`);
    return found;
  }

  list(): KeyRecord[] {
    return (this.s.file.statement('scan:signing_keys').raw(true).all() as Row[]).map((row) => this.meta(row[0] as Buffer, row));
  }

  put(record: KeyRecord, armoredSecretKey: Buffer): void {
    this.s.writes.write((w) => this.write(w, record, armoredSecretKey));
  }

  /** The one path that writes a key record, for put and import alike: every field checked the same way. */
  write(w: Writer, record: KeyRecord, armoredSecretKey: Buffer): void {
    checkText(record.fingerprint, LIMITS.idChars, 'The fingerprint');
    checkText(record.keyId, LIMITS.idChars, 'The key id');
    checkText(record.algorithm, LIMITS.idChars, 'The algorithm');
    if (!Array.isArray(record.userIds)) throw new SdError('InvalidArgs', 'userIds must be a list.');
    for (const uid of record.userIds) checkText(uid, LIMITS.labelChars, 'A user id');
    const subkeys = record.subkeys ?? [];
    if (!Array.isArray(subkeys) || subkeys.length > LIMITS.subkeysPerKey) throw new SdError('InvalidArgs', `subkeys must be a list of at most ${LIMITS.subkeysPerKey}.`);
    for (const fpr of subkeys) if (typeof fpr !== 'string' || !/^[0-9A-F]{40}$/.test(fpr)) throw new SdError('InvalidArgs', 'A subkey fingerprint must be 40 upper-case hex digits.');
    checkSecret(armoredSecretKey);
    const fpMac = this.s.crypto.fingerprintMac(record.fingerprint);
    const meta: KeyRecord = { fingerprint: record.fingerprint, keyId: record.keyId, userIds: record.userIds, algorithm: record.algorithm, created: record.created };
    if (record.subkeys !== undefined) meta.subkeys = subkeys;
    // Re-importing a key (or a bundle holding it) never lowers its tier: only setTier does.
    const stored = this.readRow(record.fingerprint);
    const asked = checkTier(record.tier ?? 'normal');
    const tier = stored ? highestTier([asked, this.meta(stored.fpMac, stored.row).tier]) : asked;
    if (tier !== 'normal') meta.tier = tier;
    w.remove('signing_keys', [fpMac]);
    w.insert('signing_keys', [fpMac, this.s.crypto.sealJson(meta, SEALED.keyMeta(fpMac)), this.s.crypto.sealBytes(armoredSecretKey, SEALED.keySecret(fpMac))]);
  }

  setTier(fingerprint: string, tier: Tier): void {
    checkTier(tier);
    const { fpMac, row } = this.requireRow(fingerprint);
    const meta: KeyRecord = { ...this.meta(fpMac, row), tier };
    this.s.writes.write((w) => {
      w.remove('signing_keys', [fpMac]);
      w.insert('signing_keys', [fpMac, this.s.crypto.sealJson(meta, SEALED.keyMeta(fpMac)), row[2]!]);
    });
  }

  private meta(fpMac: Buffer, row: Row): KeyRecord {
    return asKey(this.s.crypto.openJson(row[1]!, SEALED.keyMeta(fpMac), 'A signing key'), 'A signing key');
  }

  getSecret(fingerprint: string): Buffer {
    const found = this.requireRow(fingerprint);
    return this.s.crypto.openBytes(found.row[2]!, SEALED.keySecret(found.fpMac), 'A signing key');
  }

  delete(fingerprint: string): void {
    const found = this.requireRow(fingerprint);
    this.s.writes.write((w) => w.remove('signing_keys', [found.fpMac]));
  }
}
