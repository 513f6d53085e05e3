// The store while locked: all it can do is be created, be unlocked (each giving an UnlockedStore),
// and have its passphrase changed or reset. It reads and writes the header only, never a row's
// contents. Credential operations run one at a time, and a wrong passphrase or recovery code
// costs a delay that grows with consecutive failures.
import { randomBytes } from 'node:crypto';
import { SdError, type ErrorCode } from '../../core/errors.js';
import { deriveKeys, wipeKeys, type UnlockedKeys } from './data-keys.js';
import {
  decodeHeader,
  encodeHeader,
  unwrapWithPassphrase,
  unwrapWithRecovery,
  wrapForPassphrase,
  wrapForRecovery,
  type Header,
} from './header.js';
import type { KdfParams } from './kdf.js';
import { newRecoveryCode, parseRecoveryCode } from './recovery-code.js';
import { DIGEST_BYTES, keyedSum } from './row-digest.js';
import { mac, sameBytes, sha256, wipe } from './seal.js';
import { CORRUPT_ADVICE, translateStoreError } from './sqlite-errors.js';
import type { RowHashes, StoreFile } from './store-file.js';
import { UnlockedStore } from './unlocked-store.js';
import { checkPassphrase } from './validate.js';

export interface LockedStoreSettings {
  kdf: KdfParams;
  /** How long to wait before reporting the n-th consecutive wrong passphrase or recovery code. */
  failureDelayMs: (failures: number) => number;
  /** Milliseconds since the epoch. */
  now: () => number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class LockedStore {
  private hasHeader: boolean;
  private failures = 0;
  private penaltyPending = false;
  private credentialQueue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly file: StoreFile,
    private readonly settings: LockedStoreSettings,
  ) {
    this.hasHeader = this.readHeader() !== null;
  }

  get initialized(): boolean {
    return this.hasHeader;
  }

  requireInitialized(): void {
    if (!this.file.db.open) throw new SdError('Internal', 'The store has been closed.');
    if (!this.hasHeader) throw new SdError('StoreNotInitialized');
  }

  // ---- header -----------------------------------------------------------------------------

  private readHeader(): { header: Header; bytes: Buffer } | null {
    const bytes = this.file.metaValue('header');
    if (!bytes) return null;
    const sum = this.file.metaValue('header_sum');
    if (!sum || !sameBytes(sha256(bytes), sum)) throw new SdError('StoreCorrupt', `The store header is damaged. ${CORRUPT_ADVICE}`);
    return { header: decodeHeader(bytes), bytes };
  }

  private writeHeader(header: Header, headerKey: Buffer): void {
    const bytes = encodeHeader(header);
    const put = this.file.statement('putMeta');
    put.run('header', bytes);
    put.run('header_sum', sha256(bytes));
    put.run('header_mac', mac(headerKey, bytes));
  }

  private verifyHeaderMac(bytes: Buffer, keys: UnlockedKeys): void {
    const stored = this.file.metaValue('header_mac');
    if (!stored || !sameBytes(mac(keys.header, bytes), stored))
      throw new SdError('StoreCorrupt', `The store header failed its integrity check. ${CORRUPT_ADVICE}`);
  }

  /** Throws StoreCorrupt unless the rows match the stored digest; returns the digest. */
  private verifyRows(keys: UnlockedKeys, rows: RowHashes): Buffer {
    // A write between hashing and now (only possible when unlock is called while unlocked) makes the hashes stale.
    const current = rows.commits === this.file.commits ? rows : this.file.hashAllRows();
    const digest = keyedSum(keys.row, current.hashes);
    const stored = this.file.metaValue('digest');
    if (!stored || !sameBytes(digest, stored))
      throw new SdError('StoreCorrupt', `Rows of the store were damaged, removed or added outside secrets-dispatcher. ${CORRUPT_ADVICE}`);
    return digest;
  }

  /** Derives the keys and checks the header MAC and every row; the caller's dataKey is wiped. */
  private admit(dataKey: Buffer, headerBytes: Buffer, rows: RowHashes): UnlockedStore {
    const keys = deriveKeys(dataKey);
    wipe(dataKey);
    try {
      this.verifyHeaderMac(headerBytes, keys);
      return this.session(keys, this.verifyRows(keys, rows));
    } catch (err) {
      wipeKeys(keys);
      throw err;
    }
  }

  private session(keys: UnlockedKeys, digest: Buffer): UnlockedStore {
    this.failures = 0;
    return new UnlockedStore(this, this.file, keys, digest, { kdf: this.settings.kdf, now: this.settings.now });
  }

  // ---- credentials ------------------------------------------------------------------------

  /** Credential operations run one at a time; none starts while a failure delay is running. */
  private credential<T>(fn: () => Promise<T>): Promise<T> {
    if (this.penaltyPending) return Promise.reject(new SdError('TooManyAttempts'));
    const run = this.credentialQueue.then(async () => {
      if (this.penaltyPending) throw new SdError('TooManyAttempts');
      try {
        return await fn();
      } catch (err) {
        throw translateStoreError(err);
      }
    });
    this.credentialQueue = run.catch(() => undefined);
    return run;
  }

  private async failed(code: ErrorCode): Promise<never> {
    this.failures += 1;
    this.penaltyPending = true;
    try {
      await sleep(Math.max(0, this.settings.failureDelayMs(this.failures)));
    } finally {
      this.penaltyPending = false;
    }
    throw new SdError(code);
  }

  /** First run: a random data key wrapped twice, the default collection; returns the store unlocked and the one-time recovery code. */
  create(passphrase: Buffer): Promise<{ store: UnlockedStore; recoveryCode: string }> {
    return this.credential(async () => {
      if (this.hasHeader) throw new SdError('StoreAlreadyInitialized');
      checkPassphrase(passphrase);
      const dataKey = randomBytes(32);
      const code = newRecoveryCode();
      try {
        const header: Header = { version: 1, ...(await wrapForPassphrase(dataKey, passphrase, this.settings.kdf)), ...wrapForRecovery(dataKey, code.bytes) };
        if (this.hasHeader) throw new SdError('StoreAlreadyInitialized');
        const keys = deriveKeys(dataKey);
        const store = this.session(keys, Buffer.alloc(DIGEST_BYTES));
        this.hasHeader = true;
        try {
          // One transaction: a crash leaves either no store or a complete one with its default collection.
          this.file.db.transaction(() => {
            this.writeHeader(header, keys.header);
            store.collections.createDefault();
          })();
        } catch (err) {
          this.hasHeader = false;
          store.lock();
          throw err;
        }
        return { store, recoveryCode: code.text };
      } finally {
        wipe(dataKey, code.bytes);
      }
    });
  }

  /**
   * The passphrase opens the data key; the header MAC and every row are checked before the
   * UnlockedStore is handed out. `stillWanted` is asked once the key is derived: a lock() that
   * came meanwhile wins, and the unlock ends in StoreLocked.
   */
  unlock(passphrase: Buffer, stillWanted: () => boolean): Promise<UnlockedStore> {
    return this.credential(async () => {
      this.requireInitialized();
      checkPassphrase(passphrase);
      const { header, bytes } = this.readHeader()!;
      const deriving = unwrapWithPassphrase(header, passphrase);
      let rows: RowHashes;
      try {
        rows = this.file.hashAllRows();
      } catch (err) {
        wipe(await deriving.catch(() => null));
        throw err;
      }
      const dataKey = await deriving;
      if (!dataKey) return this.failed('WrongPassphrase');
      if (!stillWanted()) {
        wipe(dataKey);
        throw new SdError('StoreLocked', 'The store was locked while the unlock was in progress.');
      }
      return this.admit(dataKey, bytes, rows);
    });
  }

  /** Re-wraps the data key under a new passphrase; no row changes. */
  changePassphrase(oldPassphrase: Buffer, newPassphrase: Buffer): Promise<void> {
    return this.credential(async () => {
      this.requireInitialized();
      checkPassphrase(oldPassphrase, 'The old passphrase');
      checkPassphrase(newPassphrase, 'The new passphrase');
      const { header, bytes } = this.readHeader()!;
      const dataKey = await unwrapWithPassphrase(header, oldPassphrase);
      if (!dataKey) return this.failed('WrongPassphrase');
      await this.rewrap(dataKey, bytes, newPassphrase, header);
    });
  }

  /** The recovery code opens the data key; a new passphrase and a new recovery code wrap it. */
  resetPassphrase(recoveryCode: string, newPassphrase: Buffer): Promise<string> {
    return this.credential(async () => {
      this.requireInitialized();
      checkPassphrase(newPassphrase, 'The new passphrase');
      const { header, bytes } = this.readHeader()!;
      const codeBytes = typeof recoveryCode === 'string' && recoveryCode.length <= 256 ? parseRecoveryCode(recoveryCode) : null;
      const dataKey = codeBytes ? unwrapWithRecovery(header, codeBytes) : null;
      wipe(codeBytes);
      if (!dataKey) return this.failed('WrongRecoveryCode');
      const code = newRecoveryCode();
      try {
        await this.rewrap(dataKey, bytes, newPassphrase, { ...header, ...wrapForRecovery(dataKey, code.bytes) });
        return code.text;
      } finally {
        wipe(code.bytes);
      }
    });
  }

  /**
   * Writes a header whose passphrase wrap is new (and whose recovery wrap is `base`'s). The old
   * header is overwritten in place (secure_delete) and the WAL is truncated, so the old wrap does
   * not linger in the file for an old passphrase to open.
   */
  private async rewrap(dataKey: Buffer, oldHeaderBytes: Buffer, newPassphrase: Buffer, base: Header): Promise<void> {
    try {
      const keys = deriveKeys(dataKey);
      try {
        this.verifyHeaderMac(oldHeaderBytes, keys);
        const header: Header = { ...base, ...(await wrapForPassphrase(dataKey, newPassphrase, this.settings.kdf)) };
        if (!this.readHeader()?.bytes.equals(oldHeaderBytes)) throw new SdError('Internal', 'The store header changed during the operation; try again.');
        this.file.db.transaction(() => this.writeHeader(header, keys.header))();
        this.file.db.pragma('wal_checkpoint(TRUNCATE)');
        this.failures = 0;
      } finally {
        wipeKeys(keys);
      }
    } finally {
      wipe(dataKey);
    }
  }
}
