// The encrypted store (DESIGN §5): one SQLite file, WAL with synchronous=FULL so an acknowledged
// write survives kill -9, one row per item. Everything but random ids is sealed under keys derived
// from the data key (see header.ts): labels, attributes, content types, secrets, signing keys.
// Attributes are also kept as HMACs for lookup. Every row is covered by a keyed digest checked at
// unlock, so damage is reported as StoreCorrupt instead of ever returning wrong data.
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { SdError, type ErrorCode } from '../../core/errors.js';
import { LIMITS } from '../../core/limits.js';
import { openBundle, sealBundle, type BundleContents } from './bundle.js';
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
import { deriveKeys, wipeKeys, type UnlockedKeys } from './data-keys.js';
import { asAlias, asCollection, asItem, asKey, type ItemPayload } from './records.js';
import { newRecoveryCode, parseRecoveryCode } from './recovery-code.js';
import { DIGEST_BYTES, keyedSum, rowHash, xorInto, type Cell } from './row-digest.js';
import { createSchema, DIGESTED_TABLES, isEmptyDatabase, TABLES, verifySchema, type TableName } from './schema.js';
import { encodeParts, mac, open, sameBytes, seal, sha256, wipe } from './seal.js';
import { CORRUPT_ADVICE, translateStoreError } from './sqlite-errors.js';
import { checkAttributes, checkPassphrase, checkSecret, checkText } from './validate.js';
import type { CollectionRecord, ImportPlan, ImportPreview, ItemRecord, KeyRecord, NewItem, SecretStoreApi } from './types.js';

export interface StoreOptions {
  /** Argon2id memory for new passphrase wraps and bundles (config store.argon2MemoryKiB). */
  argon2MemoryKiB: number;
  argon2Iterations: number;
  /** How long to wait before reporting the n-th consecutive wrong passphrase or recovery code. */
  failureDelayMs?: (failures: number) => number;
  /** Milliseconds since the epoch. */
  now?: () => number;
}

export const DEFAULT_COLLECTION_ID = 'login';
export const DEFAULT_COLLECTION_LABEL = 'Login';
export const DEFAULT_ALIAS = 'default';

/** 0, 1, 2, 4, 8 … seconds, capped at 30 s: no cost to a typo, a wall for guessing. */
export function defaultFailureDelayMs(failures: number): number {
  if (failures <= 1) return 0;
  return Math.min(30_000, 1000 * 2 ** (failures - 2));
}

type Row = Cell[];

/** One write transaction: every row change goes through here so the digest follows it. */
class Writer {
  constructor(
    private readonly store: SecretStore,
    readonly digest: Buffer,
    private readonly rowKey: Buffer,
  ) {}

  insert(table: TableName, cells: Row): void {
    this.store.statement(`insert:${table}`).run(...cells);
    xorInto(this.digest, keyedSum(this.rowKey, rowHash(table, cells)));
  }

  /** Removes the row with this primary key; false when there is none. */
  remove(table: TableName, key: Row): boolean {
    const row = this.store.statement(`get:${table}`).raw(true).get(...key) as Row | undefined;
    if (!row) return false;
    this.store.statement(`delete:${table}`).run(...key);
    xorInto(this.digest, keyedSum(this.rowKey, rowHash(table, row)));
    return true;
  }
}

function newId(): string {
  return randomBytes(8).toString('hex');
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class SecretStore implements SecretStoreApi {
  private keys: UnlockedKeys | null = null;
  /** The row digest as of the last commit; valid while unlocked. */
  private digest: Buffer | null = null;
  private hasHeader: boolean;
  private failures = 0;
  private penaltyPending = false;
  /** Bumped by lock(): an unlock that finishes after a lock() it raced with does not count. */
  private lockGeneration = 0;
  /** Counts committed writes, so unlock knows whether rows hashed before the key was ready are still current. */
  private writeCount = 0;
  private credentialQueue: Promise<unknown> = Promise.resolve();
  private readonly statements = new Map<string, Database.Statement>();
  /** Told when the store locks, so holders of derived key material (parsed signing keys) wipe it too. */
  private readonly lockListeners: Array<() => void> = [];
  private readonly failureDelayMs: (failures: number) => number;
  private readonly now: () => number;
  private readonly kdf: KdfParams;

  constructor(
    private readonly db: Database.Database,
    options: StoreOptions,
  ) {
    this.failureDelayMs = options.failureDelayMs ?? defaultFailureDelayMs;
    this.now = options.now ?? Date.now;
    // Four lanes as in RFC 9106's second recommended setting (64 MiB, t=3, p=4): same work for a
    // guesser, less waiting for the person on a multi-core machine.
    // Argon2 needs 8 KiB per lane, so a tiny test setting gets fewer lanes.
    this.kdf = { memoryKiB: options.argon2MemoryKiB, iterations: options.argon2Iterations, parallelism: Math.max(1, Math.min(4, Math.floor(options.argon2MemoryKiB / 8))) };
    this.prepareStatements();
    this.hasHeader = this.readHeader() !== null;
  }

  get initialized(): boolean {
    return this.hasHeader;
  }

  get locked(): boolean {
    return this.keys === null;
  }

  // ---- statements -------------------------------------------------------------------------

  private prepareStatements(): void {
    for (const [table, { columns, key }] of Object.entries(TABLES)) {
      const where = key.map((k) => `${k} = ?`).join(' AND ');
      this.statements.set(`insert:${table}`, this.db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`));
      this.statements.set(`get:${table}`, this.db.prepare(`SELECT ${columns.join(', ')} FROM ${table} WHERE ${where}`));
      this.statements.set(`delete:${table}`, this.db.prepare(`DELETE FROM ${table} WHERE ${where}`));
      this.statements.set(`scan:${table}`, this.db.prepare(`SELECT ${columns.join(', ')} FROM ${table}`));
    }
    this.statements.set('putMeta', this.db.prepare('INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)'));
    this.statements.set('itemIds', this.db.prepare('SELECT id FROM items'));
    this.statements.set('itemIdsIn', this.db.prepare('SELECT id FROM items WHERE collection_id = ?'));
    this.statements.set('aliasesOf', this.db.prepare('SELECT alias_mac FROM aliases WHERE collection_id = ?'));
  }

  statement(name: string): Database.Statement {
    const stmt = this.statements.get(name);
    if (!stmt) throw new Error(`no statement ${name}`);
    return stmt;
  }

  /** Items having all of n attributes: the first pair walks the lookup table, the rest are point lookups. */
  private searchStatement(n: number, inCollection: boolean): Database.Statement {
    const name = `search:${n}:${inCollection}`;
    let stmt = this.statements.get(name);
    if (!stmt) {
      let sql = 'SELECT a0.item_id AS id FROM attributes a0';
      if (inCollection) sql += ' JOIN items i ON i.id = a0.item_id AND i.collection_id = @c';
      sql += ' WHERE a0.key_mac = @k0 AND a0.value_mac = @v0';
      for (let i = 1; i < n; i++)
        sql += ` AND EXISTS (SELECT 1 FROM attributes a${i} WHERE a${i}.key_mac = @k${i} AND a${i}.value_mac = @v${i} AND a${i}.item_id = a0.item_id)`;
      stmt = this.db.prepare(sql).pluck(true);
      this.statements.set(name, stmt);
    }
    return stmt;
  }

  private getRow(table: TableName, ...key: Cell[]): Row | undefined {
    return this.statement(`get:${table}`).raw(true).get(...key) as Row | undefined;
  }

  private metaValue(name: string): Buffer | null {
    const row = this.getRow('meta', name);
    return row ? (row[1] as Buffer) : null;
  }

  // ---- guards -----------------------------------------------------------------------------

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw translateStoreError(err);
    }
  }

  private async guardAsync<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw translateStoreError(err);
    }
  }

  private requireInitialized(): void {
    if (!this.db.open) throw new SdError('Internal', 'The store has been closed.');
    if (!this.hasHeader) throw new SdError('StoreNotInitialized');
  }

  private unlockedKeys(): UnlockedKeys {
    this.requireInitialized();
    if (!this.keys) throw new SdError('StoreLocked');
    return this.keys;
  }

  /** Credential operations run one at a time; none starts while a failure delay is running. */
  private credential<T>(fn: () => Promise<T>): Promise<T> {
    if (this.penaltyPending) return Promise.reject(new SdError('TooManyAttempts'));
    const run = this.credentialQueue.then(() => {
      if (this.penaltyPending) throw new SdError('TooManyAttempts');
      return this.guardAsync(fn);
    });
    this.credentialQueue = run.catch(() => undefined);
    return run;
  }

  private async failed(code: ErrorCode): Promise<never> {
    this.failures += 1;
    this.penaltyPending = true;
    try {
      await sleep(Math.max(0, this.failureDelayMs(this.failures)));
    } finally {
      this.penaltyPending = false;
    }
    throw new SdError(code);
  }

  private write<T>(fn: (w: Writer) => T): T {
    const keys = this.unlockedKeys();
    const next = Buffer.from(this.digest!);
    const writer = new Writer(this, next, keys.row);
    const result = this.db.transaction(() => {
      const r = fn(writer);
      this.statement('putMeta').run('digest', next);
      return r;
    })();
    this.digest = next;
    this.writeCount += 1;
    return result;
  }

  // ---- sealing ----------------------------------------------------------------------------

  private sealJson(value: unknown, aad: Buffer): Buffer {
    const plain = Buffer.from(JSON.stringify(value), 'utf8');
    try {
      return seal(this.unlockedKeys().record, plain, aad);
    } finally {
      wipe(plain);
    }
  }

  private openBytes(sealed: Cell, aad: Buffer, what: string): Buffer {
    const plain = Buffer.isBuffer(sealed) ? open(this.unlockedKeys().record, sealed, aad) : null;
    if (!plain) throw new SdError('StoreCorrupt', `${what} failed its integrity check. ${CORRUPT_ADVICE}`);
    return plain;
  }

  private openJson(sealed: Cell, aad: Buffer, what: string): unknown {
    const plain = this.openBytes(sealed, aad, what);
    try {
      return JSON.parse(plain.toString('utf8'));
    } catch {
      throw new SdError('StoreCorrupt', `${what} is not readable. ${CORRUPT_ADVICE}`);
    } finally {
      wipe(plain);
    }
  }

  private attributeMacs(key: string, value: string): [Buffer, Buffer] {
    const keys = this.unlockedKeys();
    return [mac(keys.attributeKey, Buffer.from(key, 'utf8')), mac(keys.attributeValue, encodeParts(key, value))];
  }

  private aliasMac(alias: string): Buffer {
    return mac(this.unlockedKeys().lookup, encodeParts('alias', alias));
  }

  private fingerprintMac(fingerprint: string): Buffer {
    return mac(this.unlockedKeys().lookup, encodeParts('fingerprint', fingerprint.toUpperCase()));
  }

  // ---- header -----------------------------------------------------------------------------

  private readHeader(): { header: Header; bytes: Buffer } | null {
    const bytes = this.metaValue('header');
    if (!bytes) return null;
    const sum = this.metaValue('header_sum');
    if (!sum || !sameBytes(sha256(bytes), sum)) throw new SdError('StoreCorrupt', `The store header is damaged. ${CORRUPT_ADVICE}`);
    return { header: decodeHeader(bytes), bytes };
  }

  private writeHeader(header: Header, headerKey: Buffer): void {
    const bytes = encodeHeader(header);
    const put = this.statement('putMeta');
    put.run('header', bytes);
    put.run('header_sum', sha256(bytes));
    put.run('header_mac', mac(headerKey, bytes));
  }

  private verifyHeaderMac(bytes: Buffer, keys: UnlockedKeys): void {
    const stored = this.metaValue('header_mac');
    if (!stored || !sameBytes(mac(keys.header, bytes), stored))
      throw new SdError('StoreCorrupt', `The store header failed its integrity check. ${CORRUPT_ADVICE}`);
  }

  /** SHA-256 of every row, packed; needs no key, so it can run while Argon2 does. */
  private hashAllRows(): { hashes: Buffer; writes: number } {
    // One growing buffer rather than a Buffer per row: a 10,000-item store has ~50,000 rows.
    let hashes = Buffer.allocUnsafe(DIGEST_BYTES * 1024);
    let used = 0;
    for (const table of DIGESTED_TABLES) {
      for (const row of this.statement(`scan:${table}`).raw(true).iterate() as IterableIterator<Row>) {
        if (used === hashes.length) {
          const bigger = Buffer.allocUnsafe(hashes.length * 2);
          hashes.copy(bigger);
          hashes = bigger;
        }
        rowHash(table, row).copy(hashes, used);
        used += DIGEST_BYTES;
      }
    }
    return { hashes: hashes.subarray(0, used), writes: this.writeCount };
  }

  /** Throws StoreCorrupt unless the rows match the stored digest; returns the digest. */
  private verifyRows(keys: UnlockedKeys, rows: { hashes: Buffer; writes: number }): Buffer {
    // A write between hashing and now (only possible when unlock is called while unlocked) makes the hashes stale.
    const current = rows.writes === this.writeCount ? rows : this.hashAllRows();
    const digest = keyedSum(keys.row, current.hashes);
    const stored = this.metaValue('digest');
    if (!stored || !sameBytes(digest, stored))
      throw new SdError('StoreCorrupt', `Rows of the store were damaged, removed or added outside secrets-dispatcher. ${CORRUPT_ADVICE}`);
    return digest;
  }

  /** Derives the keys and checks the header MAC and every row; the caller's dataKey is wiped. */
  private admit(dataKey: Buffer, headerBytes: Buffer, rows: { hashes: Buffer; writes: number }): { keys: UnlockedKeys; digest: Buffer } {
    const keys = deriveKeys(dataKey);
    wipe(dataKey);
    try {
      this.verifyHeaderMac(headerBytes, keys);
      return { keys, digest: this.verifyRows(keys, rows) };
    } catch (err) {
      wipeKeys(keys);
      throw err;
    }
  }

  private setUnlocked(keys: UnlockedKeys, digest: Buffer): void {
    if (this.keys) wipeKeys(this.keys);
    this.keys = keys;
    this.digest = digest;
    this.failures = 0;
  }

  // ---- lifecycle --------------------------------------------------------------------------

  create(passphrase: Buffer): Promise<string> {
    return this.credential(async () => {
      if (this.hasHeader) throw new SdError('StoreAlreadyInitialized');
      checkPassphrase(passphrase);
      const dataKey = randomBytes(32);
      const code = newRecoveryCode();
      try {
        const header: Header = { version: 1, ...(await wrapForPassphrase(dataKey, passphrase, this.kdf)), ...wrapForRecovery(dataKey, code.bytes) };
        if (this.hasHeader) throw new SdError('StoreAlreadyInitialized');
        const keys = deriveKeys(dataKey);
        this.hasHeader = true;
        this.setUnlocked(keys, Buffer.alloc(DIGEST_BYTES));
        try {
          // One transaction: a crash leaves either no store or a complete one with its default collection.
          this.db.transaction(() => {
            this.writeHeader(header, keys.header);
            this.write((w) => this.insertCollection(w, DEFAULT_COLLECTION_ID, DEFAULT_COLLECTION_LABEL, [DEFAULT_ALIAS]));
          })();
        } catch (err) {
          this.hasHeader = false;
          this.lock();
          throw err;
        }
        return code.text;
      } finally {
        wipe(dataKey, code.bytes);
      }
    });
  }

  unlock(passphrase: Buffer): Promise<void> {
    const generation = this.lockGeneration;
    return this.credential(async () => {
      this.requireInitialized();
      checkPassphrase(passphrase);
      const { header, bytes } = this.readHeader()!;
      const deriving = unwrapWithPassphrase(header, passphrase);
      let rows: { hashes: Buffer; writes: number };
      try {
        rows = this.hashAllRows();
      } catch (err) {
        wipe(await deriving.catch(() => null));
        throw err;
      }
      const dataKey = await deriving;
      if (!dataKey) return this.failed('WrongPassphrase');
      if (generation !== this.lockGeneration || !this.db.open) {
        wipe(dataKey);
        throw new SdError('StoreLocked', 'The store was locked while the unlock was in progress.');
      }
      const { keys, digest } = this.admit(dataKey, bytes, rows);
      this.setUnlocked(keys, digest);
    });
  }

  lock(): void {
    this.lockGeneration += 1;
    if (this.keys) wipeKeys(this.keys);
    this.keys = null;
    this.digest = null;
    for (const listener of this.lockListeners) listener();
  }

  onLock(listener: () => void): void {
    this.lockListeners.push(listener);
  }

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
   * Writes a header whose passphrase wrap is new (and whose recovery wrap is `base`'s). The lock
   * state stays as it was. The old header is overwritten in place (secure_delete) and the WAL is
   * truncated, so the old wrap does not linger in the file for an old passphrase to open.
   */
  private async rewrap(dataKey: Buffer, oldHeaderBytes: Buffer, newPassphrase: Buffer, base: Header): Promise<void> {
    try {
      const keys = deriveKeys(dataKey);
      try {
        this.verifyHeaderMac(oldHeaderBytes, keys);
        const header: Header = { ...base, ...(await wrapForPassphrase(dataKey, newPassphrase, this.kdf)) };
        if (!this.readHeader()?.bytes.equals(oldHeaderBytes)) throw new SdError('Internal', 'The store header changed during the operation; try again.');
        this.db.transaction(() => this.writeHeader(header, keys.header))();
        this.db.pragma('wal_checkpoint(TRUNCATE)');
        this.failures = 0;
      } finally {
        wipeKeys(keys);
      }
    } finally {
      wipe(dataKey);
    }
  }

  close(): void {
    this.lock();
    if (this.db.open) this.db.close();
  }

  // ---- collections and aliases ------------------------------------------------------------

  private insertCollection(w: Writer, id: string, label: string, aliases: string[], created?: number, modified?: number): CollectionRecord {
    const now = Math.floor(this.now() / 1000);
    const record = { label, created: created ?? now, modified: modified ?? now };
    w.insert('collections', [id, this.sealJson(record, encodeParts('collection', id))]);
    for (const alias of aliases) this.putAlias(w, alias, id);
    return { id, aliases, ...record };
  }

  private putAlias(w: Writer, alias: string, collectionId: string | null): void {
    const aliasMac = this.aliasMac(alias);
    w.remove('aliases', [aliasMac]);
    if (collectionId !== null) w.insert('aliases', [aliasMac, collectionId, this.sealJson({ alias }, encodeParts('alias', aliasMac, collectionId))]);
  }

  private readCollection(id: string): { id: string; label: string; created: number; modified: number } | null {
    const row = this.getRow('collections', id);
    if (!row) return null;
    return { id, ...asCollection(this.openJson(row[1]!, encodeParts('collection', id), `Collection ${id}`), `Collection ${id}`) };
  }

  private requireCollection(id: string) {
    const c = typeof id === 'string' ? this.readCollection(id) : null;
    if (!c) throw new SdError('NotFound', `No collection ${JSON.stringify(String(id).slice(0, 64))}.`);
    return c;
  }

  listCollections(): CollectionRecord[] {
    return this.guard(() => {
      this.unlockedKeys();
      const aliases = new Map<string, string[]>();
      for (const [aliasMac, collectionId, sealed] of this.statement('scan:aliases').raw(true).all() as Row[]) {
        const name = asAlias(this.openJson(sealed!, encodeParts('alias', aliasMac!, collectionId!), 'An alias'), 'An alias');
        aliases.set(collectionId as string, [...(aliases.get(collectionId as string) ?? []), name]);
      }
      return (this.statement('scan:collections').raw(true).all() as Row[]).map(([id]) => {
        const c = this.readCollection(id as string)!;
        return { ...c, aliases: (aliases.get(c.id) ?? []).sort() };
      });
    });
  }

  createCollection(label: string, alias?: string): CollectionRecord {
    return this.guard(() => {
      this.unlockedKeys();
      checkText(label, LIMITS.labelChars, 'The label');
      if (alias !== undefined) checkText(alias, LIMITS.idChars, 'The alias');
      let id = newId();
      while (this.getRow('collections', id)) id = newId();
      return this.write((w) => this.insertCollection(w, id, label, alias === undefined ? [] : [alias]));
    });
  }

  setCollectionLabel(id: string, label: string): void {
    this.guard(() => {
      this.unlockedKeys();
      checkText(label, LIMITS.labelChars, 'The label');
      const c = this.requireCollection(id);
      this.write((w) => {
        w.remove('collections', [id]);
        w.insert('collections', [id, this.sealJson({ label, created: c.created, modified: Math.floor(this.now() / 1000) }, encodeParts('collection', id))]);
      });
    });
  }

  deleteCollection(id: string): void {
    this.guard(() => {
      this.unlockedKeys();
      this.requireCollection(id);
      const itemIds = this.statement('itemIdsIn').pluck(true).all(id) as string[];
      const aliasMacs = this.statement('aliasesOf').pluck(true).all(id) as Buffer[];
      this.write((w) => {
        for (const itemId of itemIds) this.removeItem(w, itemId);
        for (const aliasMac of aliasMacs) w.remove('aliases', [aliasMac]);
        w.remove('collections', [id]);
      });
    });
  }

  readAlias(alias: string): string | null {
    return this.guard(() => {
      this.unlockedKeys();
      if (typeof alias !== 'string' || alias.length > LIMITS.idChars) return null;
      const aliasMac = this.aliasMac(alias);
      const row = this.getRow('aliases', aliasMac);
      if (!row) return null;
      const stored = asAlias(this.openJson(row[2]!, encodeParts('alias', aliasMac, row[1]!), 'An alias'), 'An alias');
      if (stored !== alias) throw new SdError('StoreCorrupt', `An alias does not match its lookup key. ${CORRUPT_ADVICE}`);
      return row[1] as string;
    });
  }

  setAlias(alias: string, collectionId: string | null): void {
    this.guard(() => {
      this.unlockedKeys();
      checkText(alias, LIMITS.idChars, 'The alias');
      if (collectionId !== null) this.requireCollection(collectionId);
      this.write((w) => this.putAlias(w, alias, collectionId));
    });
  }

  // ---- items ------------------------------------------------------------------------------

  private readItem(id: string): { collectionId: string; payload: ItemPayload } | null {
    const row = this.getRow('items', id);
    if (!row) return null;
    const collectionId = row[1] as string;
    const what = `Item ${id}`;
    return { collectionId, payload: asItem(this.openJson(row[2]!, encodeParts('item', id, collectionId), what), what) };
  }

  private requireItem(id: string) {
    const item = typeof id === 'string' && id.length <= LIMITS.idChars ? this.readItem(id) : null;
    if (!item) throw new SdError('NotFound', `No item ${JSON.stringify(String(id).slice(0, 64))}.`);
    return item;
  }

  private toRecord(id: string, collectionId: string, p: ItemPayload): ItemRecord {
    return {
      id,
      collectionId,
      label: p.label,
      attributes: Object.fromEntries(p.attributes),
      contentType: p.contentType,
      created: p.created,
      modified: p.modified,
    };
  }

  private insertItem(w: Writer, id: string, collectionId: string, payload: ItemPayload, secret: Buffer): void {
    w.insert('items', [id, collectionId, this.sealJson(payload, encodeParts('item', id, collectionId))]);
    w.insert('secrets', [id, seal(this.unlockedKeys().record, secret, encodeParts('secret', id))]);
    for (const [k, v] of payload.attributes) w.insert('attributes', [...this.attributeMacs(k, v), id]);
  }

  private removeItem(w: Writer, id: string): boolean {
    const item = this.readItem(id);
    if (!item) return false;
    for (const [k, v] of item.payload.attributes) w.remove('attributes', [...this.attributeMacs(k, v), id]);
    w.remove('secrets', [id]);
    w.remove('items', [id]);
    return true;
  }

  searchItems(collectionId: string | null, attributes: Record<string, string>): string[] {
    return this.guard(() => {
      this.unlockedKeys();
      const entries = checkAttributes(attributes);
      if (entries.length === 0) {
        return (collectionId === null ? this.statement('itemIds').pluck(true).all() : this.statement('itemIdsIn').pluck(true).all(collectionId)) as string[];
      }
      const params: Record<string, unknown> = {};
      entries.forEach(([k, v], i) => {
        [params[`k${i}`], params[`v${i}`]] = this.attributeMacs(k, v);
      });
      if (collectionId !== null) params.c = collectionId;
      return this.searchStatement(entries.length, collectionId !== null).all(params) as string[];
    });
  }

  getItems(ids: string[]): ItemRecord[] {
    return this.guard(() => {
      this.unlockedKeys();
      const out: ItemRecord[] = [];
      for (const id of ids) {
        if (typeof id !== 'string' || id.length > LIMITS.idChars) continue;
        const item = this.readItem(id);
        if (item) out.push(this.toRecord(id, item.collectionId, item.payload));
      }
      return out;
    });
  }

  findExact(collectionId: string, attributes: Record<string, string>): string | null {
    return this.guard(() => {
      const entries = checkAttributes(attributes);
      for (const id of this.searchItems(collectionId, attributes)) {
        const item = this.readItem(id);
        if (item && item.payload.attributes.length === entries.length) return id;
      }
      return null;
    });
  }

  createItem(item: NewItem): ItemRecord {
    return this.guard(() => {
      this.unlockedKeys();
      const attributes = checkAttributes(item.attributes);
      checkText(item.label, LIMITS.labelChars, 'The label');
      checkText(item.contentType, LIMITS.contentTypeChars, 'The content type');
      checkSecret(item.secret);
      this.requireCollection(item.collectionId);
      let id = newId();
      while (this.getRow('items', id)) id = newId();
      const now = Math.floor(this.now() / 1000);
      const payload: ItemPayload = { label: item.label, attributes, contentType: item.contentType, created: now, modified: now };
      this.write((w) => this.insertItem(w, id, item.collectionId, payload, item.secret));
      return this.toRecord(id, item.collectionId, payload);
    });
  }

  getSecret(id: string): { secret: Buffer; contentType: string } {
    return this.guard(() => {
      this.unlockedKeys();
      const item = this.requireItem(id);
      const row = this.getRow('secrets', id);
      if (!row) throw new SdError('StoreCorrupt', `The secret of item ${id} is missing. ${CORRUPT_ADVICE}`);
      return { secret: this.openBytes(row[1]!, encodeParts('secret', id), `The secret of item ${id}`), contentType: item.payload.contentType };
    });
  }

  setSecret(id: string, secret: Buffer, contentType: string): void {
    this.guard(() => {
      this.unlockedKeys();
      checkSecret(secret);
      checkText(contentType, LIMITS.contentTypeChars, 'The content type');
      const item = this.requireItem(id);
      const payload: ItemPayload = { ...item.payload, contentType, modified: Math.floor(this.now() / 1000) };
      this.write((w) => {
        w.remove('items', [id]);
        w.remove('secrets', [id]);
        w.insert('items', [id, item.collectionId, this.sealJson(payload, encodeParts('item', id, item.collectionId))]);
        w.insert('secrets', [id, seal(this.unlockedKeys().record, secret, encodeParts('secret', id))]);
      });
    });
  }

  updateItem(id: string, changes: { label?: string; attributes?: Record<string, string> }): void {
    this.guard(() => {
      this.unlockedKeys();
      if (changes.label !== undefined) checkText(changes.label, LIMITS.labelChars, 'The label');
      const attributes = changes.attributes === undefined ? undefined : checkAttributes(changes.attributes);
      const item = this.requireItem(id);
      const old = item.payload;
      const payload: ItemPayload = { ...old, label: changes.label ?? old.label, attributes: attributes ?? old.attributes, modified: Math.floor(this.now() / 1000) };
      this.write((w) => {
        if (attributes) {
          for (const [k, v] of old.attributes) w.remove('attributes', [...this.attributeMacs(k, v), id]);
          for (const [k, v] of attributes) w.insert('attributes', [...this.attributeMacs(k, v), id]);
        }
        w.remove('items', [id]);
        w.insert('items', [id, item.collectionId, this.sealJson(payload, encodeParts('item', id, item.collectionId))]);
      });
    });
  }

  deleteItem(id: string): void {
    this.guard(() => {
      this.unlockedKeys();
      this.requireItem(id);
      this.write((w) => this.removeItem(w, id));
    });
  }

  // ---- signing keys -----------------------------------------------------------------------

  private readKeyRow(fingerprint: string): { fpMac: Buffer; row: Row } | null {
    if (typeof fingerprint !== 'string' || fingerprint.length > LIMITS.idChars) return null;
    const fpMac = this.fingerprintMac(fingerprint);
    const row = this.getRow('signing_keys', fpMac);
    return row ? { fpMac, row } : null;
  }

  listKeys(): KeyRecord[] {
    return this.guard(() => {
      this.unlockedKeys();
      return (this.statement('scan:signing_keys').raw(true).all() as Row[]).map(([fpMac, sealedMeta]) =>
        asKey(this.openJson(sealedMeta!, encodeParts('key', fpMac!), 'A signing key'), 'A signing key'),
      );
    });
  }

  putKey(record: KeyRecord, armoredSecretKey: Buffer): void {
    this.guard(() => {
      this.unlockedKeys();
      this.write((w) => this.writeKey(w, record, armoredSecretKey));
    });
  }

  /** The one path that writes a key record, for putKey and import alike: every field checked the same way. */
  private writeKey(w: Writer, record: KeyRecord, armoredSecretKey: Buffer): void {
    checkText(record.fingerprint, LIMITS.idChars, 'The fingerprint');
    checkText(record.keyId, LIMITS.idChars, 'The key id');
    checkText(record.algorithm, LIMITS.idChars, 'The algorithm');
    if (!Array.isArray(record.userIds)) throw new SdError('InvalidArgs', 'userIds must be a list.');
    for (const uid of record.userIds) checkText(uid, LIMITS.labelChars, 'A user id');
    const subkeys = record.subkeys ?? [];
    if (!Array.isArray(subkeys) || subkeys.length > LIMITS.subkeysPerKey) throw new SdError('InvalidArgs', `subkeys must be a list of at most ${LIMITS.subkeysPerKey}.`);
    for (const fpr of subkeys) if (typeof fpr !== 'string' || !/^[0-9A-F]{40}$/.test(fpr)) throw new SdError('InvalidArgs', 'A subkey fingerprint must be 40 upper-case hex digits.');
    checkSecret(armoredSecretKey);
    const fpMac = this.fingerprintMac(record.fingerprint);
    const meta: KeyRecord = { fingerprint: record.fingerprint, keyId: record.keyId, userIds: record.userIds, algorithm: record.algorithm, created: record.created };
    if (record.subkeys !== undefined) meta.subkeys = subkeys;
    w.remove('signing_keys', [fpMac]);
    w.insert('signing_keys', [
      fpMac,
      this.sealJson(meta, encodeParts('key', fpMac)),
      seal(this.unlockedKeys().record, armoredSecretKey, encodeParts('key-secret', fpMac)),
    ]);
  }

  getKeySecret(fingerprint: string): Buffer {
    return this.guard(() => {
      this.unlockedKeys();
      const found = this.readKeyRow(fingerprint);
      if (!found) throw new SdError('NoSuchKey', `No key with fingerprint ${JSON.stringify(String(fingerprint).slice(0, 64))}.`);
      return this.openBytes(found.row[2]!, encodeParts('key-secret', found.fpMac), 'A signing key');
    });
  }

  deleteKey(fingerprint: string): void {
    this.guard(() => {
      this.unlockedKeys();
      const found = this.readKeyRow(fingerprint);
      if (!found) throw new SdError('NoSuchKey', `No key with fingerprint ${JSON.stringify(String(fingerprint).slice(0, 64))}.`);
      this.write((w) => w.remove('signing_keys', [found.fpMac]));
    });
  }

  // ---- bundles ----------------------------------------------------------------------------

  exportBundle(bundlePassphrase: Buffer): Promise<Buffer> {
    return this.guardAsync(async () => {
      this.unlockedKeys();
      checkPassphrase(bundlePassphrase, 'The bundle passphrase');
      const blobs: Buffer[] = [];
      try {
        const contents: BundleContents = { format: 1, collections: this.listCollections(), items: [], keys: [] };
        for (const id of this.searchItems(null, {})) {
          const item = this.readItem(id)!;
          const { secret } = this.getSecret(id);
          contents.items.push({ ...this.toRecord(id, item.collectionId, item.payload), secret: blobs.push(secret) - 1 });
        }
        for (const key of this.listKeys()) contents.keys.push({ ...key, secret: blobs.push(this.getKeySecret(key.fingerprint)) - 1 });
        return await sealBundle(contents, blobs, bundlePassphrase, this.kdf);
      } finally {
        wipe(...blobs);
      }
    });
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
   * writing anything: the console shows that before the human decides. apply() writes it all in
   * one transaction; wipe() drops the decrypted contents (always call it).
   */
  openImport(bundle: Buffer, bundlePassphrase: Buffer): Promise<ImportPreview> {
    return this.guardAsync(async () => {
      this.unlockedKeys();
      if (!Buffer.isBuffer(bundle)) throw new SdError('InvalidArgs', 'The bundle must be bytes.');
      checkPassphrase(bundlePassphrase, 'The bundle passphrase');
      // Opened before anyone approved: the file may not make us allocate more than our own store would.
      const opened = await openBundle(bundle, bundlePassphrase, Math.max(LIMITS.bundleKdfKiBBeforeApproval, this.kdf.memoryKiB));
      try {
        this.unlockedKeys();
        const { contents, blobs } = opened;
        const known = new Set(contents.collections.map((c) => c.id));
        for (const item of contents.items) {
          if (!known.has(item.collectionId) && !this.getRow('collections', item.collectionId))
            throw new SdError('BadBundle', `Item ${item.id} names a collection the bundle does not hold.`);
          checkAttributes(item.attributes);
          checkSecret(blobs[item.secret]!);
        }
        for (const key of contents.keys) checkSecret(blobs[key.secret]!);
        const collections = new Map(this.listCollections().map((c) => [c.id, c]));
        const storedKeys = new Set(this.listKeys().map((k) => k.fingerprint));
        const plan: ImportPlan = {
          collections: contents.collections.map((c) => ({ id: c.id, label: c.label, replaces: collections.get(c.id)?.label ?? null })),
          items: contents.items.map((item) => {
            const existing = this.getItems([item.id])[0];
            return {
              id: item.id, collectionId: item.collectionId, label: item.label, attributes: item.attributes,
              replaces: existing ? { label: existing.label, attributes: existing.attributes } : null,
            };
          }),
          keys: contents.keys.map((k) => ({ fingerprint: k.fingerprint, userIds: k.userIds, replaces: storedKeys.has(k.fingerprint) })),
        };
        let wiped = false;
        return {
          plan,
          keySecrets: contents.keys.map((k) => blobs[k.secret]!),
          apply: (verifiedKeys?: KeyRecord[]) => this.guard(() => {
            if (wiped) throw new SdError('Internal', 'The import was already wiped.');
            this.write((w) => {
              // The bundle is what the person chose to move here: its collection labels and aliases win.
              for (const c of contents.collections) {
                w.remove('collections', [c.id]);
                this.insertCollection(w, c.id, c.label, c.aliases, c.created, c.modified);
              }
              for (const item of contents.items) {
                this.removeItem(w, item.id);
                const payload: ItemPayload = {
                  label: item.label,
                  attributes: Object.entries(item.attributes),
                  contentType: item.contentType,
                  created: item.created,
                  modified: item.modified,
                };
                this.insertItem(w, item.id, item.collectionId, payload, blobs[item.secret]!);
              }
              contents.keys.forEach((key, n) => {
                const { secret, ...record } = key;
                this.writeKey(w, verifiedKeys?.[n] ?? record, blobs[secret]!);
              });
            });
            return contents.items.length;
          }),
          wipe: () => {
            wiped = true;
            wipe(opened.plain);
          },
        };
      } catch (err) {
        wipe(opened.plain);
        throw err;
      }
    });
  }
}

function openDatabase(dbPath: string): Database.Database {
  if (!existsSync(dbPath)) closeSync(openSync(dbPath, 'wx', 0o600));
  // SQLite gives the -wal and -shm files the main file's mode, so this covers all three.
  chmodSync(dbPath, 0o600);
  const db = new Database(dbPath, { fileMustExist: true });
  try {
    db.pragma('journal_mode = WAL');
    // FULL: every commit is fsynced before it returns, so an acknowledged write survives kill -9 and power loss.
    db.pragma('synchronous = FULL');
    // Deleted cells (an old passphrase wrap) are overwritten instead of lingering in free space.
    db.pragma('secure_delete = ON');
    // better-sqlite3 builds SQLite with a 16 MiB page cache; unlock reads every row, so the whole
    // store stayed cached and idle memory grew with the store. 2 MiB keeps lookups fast (the OS
    // caches the file anyway) and cut idle RSS with 10,000 items by about 5 MiB (docs/BENCHMARKS.md).
    db.pragma('cache_size = -2048');
    if (isEmptyDatabase(db)) createSchema(db);
    verifySchema(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
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
