// The encrypted store (DESIGN §5): one SQLite file, WAL with synchronous=FULL so an acknowledged
// write survives kill -9, one row per item. Everything but random ids is sealed under keys derived
// from the data key (see header.ts): labels, attributes, content types, secrets, signing keys.
// Attributes are also kept as HMACs for lookup. Every row is covered by a keyed digest checked at
// unlock, so damage is reported as StoreCorrupt instead of ever returning wrong data.
//
// The store has two shapes, split by lock state: a LockedStore (locked-store.ts) can only be
// created, unlocked or have its passphrase changed or reset; an UnlockedStore (unlocked-store.ts)
// is the collections, items, signing keys and bundles working under the session's keys. This
// file is the one holder behind SecretStoreApi: the only place that asks "is it unlocked?", in
// unlocked(), and the only place that keeps an UnlockedStore.
import type Database from 'better-sqlite3';
import { SdError } from '../../core/errors.js';
import { decryptForImport, importPreview } from './export-import.js';
import { LockedStore } from './locked-store.js';
import { wipe } from './seal.js';
import { translateStoreError } from './sqlite-errors.js';
import { openDatabase, StoreFile } from './store-file.js';
import type { CollectionRecord, ImportPreview, ItemRecord, KeyRecord, NewItem, RuleRecord, SecretStoreApi } from './types.js';
import type { UnlockedStore } from './unlocked-store.js';
import type { KdfParams } from './kdf.js';
import type { Tier } from '../../core/wire.js';

export interface StoreOptions {
  /** Argon2id memory for new passphrase wraps and bundles (config store.argon2MemoryKiB). */
  argon2MemoryKiB: number;
  argon2Iterations: number;
  /** How long to wait before reporting the n-th consecutive wrong passphrase or recovery code. */
  failureDelayMs?: (failures: number) => number;
  /** Milliseconds since the epoch. */
  now?: () => number;
}

/** 0, 1, 2, 4, 8 … seconds, capped at 30 s: no cost to a typo, a wall for guessing. */
export function defaultFailureDelayMs(failures: number): number {
  if (failures <= 1) return 0;
  return Math.min(30_000, 1000 * 2 ** (failures - 2));
}

function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw translateStoreError(err);
  }
}

async function guardAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw translateStoreError(err);
  }
}

class SecretStore implements SecretStoreApi {
  private readonly lockedStore: LockedStore;
  /** Set while unlocked; nothing else keeps an UnlockedStore. */
  private open: UnlockedStore | null = null;
  /** Bumped by lock(): an unlock that finishes after a lock() it raced with does not count. */
  private lockGeneration = 0;
  /** Told when the store locks, so holders of derived key material (parsed signing keys) wipe it too. */
  private readonly lockListeners: Array<() => void> = [];
  private readonly kdf: KdfParams;

  constructor(
    private readonly db: Database.Database,
    options: StoreOptions,
  ) {
    // Four lanes as in RFC 9106's second recommended setting (64 MiB, t=3, p=4): same work for a
    // guesser, less waiting for the person on a multi-core machine.
    // Argon2 needs 8 KiB per lane, so a tiny test setting gets fewer lanes.
    this.kdf = { memoryKiB: options.argon2MemoryKiB, iterations: options.argon2Iterations, parallelism: Math.max(1, Math.min(4, Math.floor(options.argon2MemoryKiB / 8))) };
    this.lockedStore = new LockedStore(new StoreFile(db), { kdf: this.kdf, failureDelayMs: options.failureDelayMs ?? defaultFailureDelayMs, now: options.now ?? Date.now });
  }

  get initialized(): boolean {
    return this.lockedStore.initialized;
  }

  get locked(): boolean {
    return this.open === null;
  }

  /** The boundary: every call that reads or writes a row gets the UnlockedStore here, or StoreLocked. */
  private unlocked(): UnlockedStore {
    this.lockedStore.requireInitialized();
    if (!this.open) throw new SdError('StoreLocked');
    return this.open;
  }

  // ---- lifecycle --------------------------------------------------------------------------

  async create(passphrase: Buffer): Promise<string> {
    const { store, recoveryCode } = await this.lockedStore.create(passphrase);
    this.open = store;
    return recoveryCode;
  }

  async unlock(passphrase: Buffer): Promise<void> {
    const generation = this.lockGeneration;
    const stillWanted = () => generation === this.lockGeneration && this.db.open;
    const store = await this.lockedStore.unlock(passphrase, stillWanted);
    if (!stillWanted()) {
      store.lock();
      throw new SdError('StoreLocked', 'The store was locked while the unlock was in progress.');
    }
    // Unlocking while unlocked: the earlier session's keys are wiped, the store stays unlocked.
    this.open?.lock();
    this.open = store;
  }

  lock(): void {
    this.lockGeneration += 1;
    this.open?.lock();
    this.open = null;
    for (const listener of this.lockListeners) listener();
  }

  onLock(listener: () => void): void {
    this.lockListeners.push(listener);
  }

  changePassphrase(oldPassphrase: Buffer, newPassphrase: Buffer): Promise<void> {
    return this.lockedStore.changePassphrase(oldPassphrase, newPassphrase);
  }

  resetPassphrase(recoveryCode: string, newPassphrase: Buffer): Promise<string> {
    return this.lockedStore.resetPassphrase(recoveryCode, newPassphrase);
  }

  close(): void {
    this.lock();
    if (this.db.open) this.db.close();
  }

  // ---- collections and aliases ------------------------------------------------------------

  listCollections(): CollectionRecord[] {
    return guard(() => this.unlocked().collections.list());
  }

  createCollection(label: string, alias?: string): CollectionRecord {
    return guard(() => this.unlocked().collections.create(label, alias));
  }

  setCollectionLabel(id: string, label: string): void {
    guard(() => this.unlocked().collections.setLabel(id, label));
  }

  deleteCollection(id: string): void {
    guard(() => this.unlocked().collections.delete(id));
  }

  readAlias(alias: string): string | null {
    return guard(() => this.unlocked().collections.readAlias(alias));
  }

  setAlias(alias: string, collectionId: string | null): void {
    guard(() => this.unlocked().collections.setAlias(alias, collectionId));
  }

  // ---- items ------------------------------------------------------------------------------

  searchItems(collectionId: string | null, attributes: Record<string, string>): string[] {
    return guard(() => this.unlocked().items.search(collectionId, attributes));
  }

  getItems(ids: string[]): ItemRecord[] {
    return guard(() => this.unlocked().items.get(ids));
  }

  findExact(collectionId: string, attributes: Record<string, string>): string | null {
    return guard(() => this.unlocked().items.findExact(collectionId, attributes));
  }

  createItem(item: NewItem): ItemRecord {
    return guard(() => this.unlocked().items.create(item));
  }

  getSecret(id: string): { secret: Buffer; contentType: string } {
    return guard(() => this.unlocked().items.getSecret(id));
  }

  setSecret(id: string, secret: Buffer, contentType: string): void {
    guard(() => this.unlocked().items.setSecret(id, secret, contentType));
  }

  updateItem(id: string, changes: { label?: string; attributes?: Record<string, string> }): void {
    guard(() => this.unlocked().items.update(id, changes));
  }

  deleteItem(id: string): void {
    guard(() => this.unlocked().items.delete(id));
  }

  setItemTier(id: string, tier: Tier): void {
    guard(() => this.unlocked().items.setTier(id, tier));
  }

  // ---- signing keys -----------------------------------------------------------------------

  listKeys(): KeyRecord[] {
    return guard(() => this.unlocked().signingKeys.list());
  }

  putKey(record: KeyRecord, armoredSecretKey: Buffer): void {
    guard(() => this.unlocked().signingKeys.put(record, armoredSecretKey));
  }

  getKeySecret(fingerprint: string): Buffer {
    return guard(() => this.unlocked().signingKeys.getSecret(fingerprint));
  }

  deleteKey(fingerprint: string): void {
    guard(() => this.unlocked().signingKeys.delete(fingerprint));
  }

  // ---- rules ------------------------------------------------------------------------------

  listRules(): RuleRecord[] {
    return guard(() => this.unlocked().rules.list());
  }

  putRule(rule: RuleRecord): void {
    guard(() => this.unlocked().rules.put(rule));
  }

  deleteRule(id: string): void {
    guard(() => this.unlocked().rules.delete(id));
  }

  setKeyTier(fingerprint: string, tier: Tier): void {
    guard(() => this.unlocked().signingKeys.setTier(fingerprint, tier));
  }

  // ---- bundles ----------------------------------------------------------------------------

  exportBundle(bundlePassphrase: Buffer): Promise<Buffer> {
    return guardAsync(() => this.unlocked().bundles.export(bundlePassphrase));
  }

  importBundle(bundle: Buffer, bundlePassphrase: Buffer): Promise<number> {
    return this.openImport(bundle, bundlePassphrase).then((preview) => {
      try {
        return preview.apply();
      } finally {
        preview.wipe();
      }
    });
  }

  /**
   * Decrypts and checks a bundle and says what importing it would add and overwrite, without
   * writing anything: the console shows that before the human decides. The Argon2 run in between
   * yields, so the store is asked for again after it.
   */
  openImport(bundle: Buffer, bundlePassphrase: Buffer): Promise<ImportPreview> {
    return guardAsync(async () => {
      this.unlocked();
      const opened = await decryptForImport(bundle, bundlePassphrase, this.kdf);
      try {
        return importPreview(opened, this.unlocked().bundles.plan(opened), () => this.unlocked().bundles);
      } catch (err) {
        wipe(opened.plain);
        throw err;
      }
    });
  }
}

/**
 * Opens (creating if absent, mode 0600) the store at dbPath. Throws SdError('StoreCorrupt') when
 * the file exists but is not a readable store; the daemon reports that and stops.
 */
export function openSecretStore(dbPath: string, options: StoreOptions): SecretStoreApi {
  try {
    const db = openDatabase(dbPath);
    try {
      return new SecretStore(db, options);
    } catch (err) {
      db.close();
      throw err;
    }
  } catch (err) {
    throw translateStoreError(err);
  }
}
