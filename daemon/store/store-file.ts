// The store's SQLite file: opened so that an acknowledged write survives kill -9 (WAL,
// synchronous=FULL, mode 0600), its prepared statements, and the count of commits. Nothing here
// holds a key: the locked store reads the header through it, the unlocked store reads and writes
// the rows through it.
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { DIGEST_BYTES, rowHash, type Cell } from './row-digest.js';
import { createSchema, DIGESTED_TABLES, isEmptyDatabase, migrateSchema, TABLES, verifySchema, type TableName } from './schema.js';

export type Row = Cell[];

/** SHA-256 of every digested row, packed, and the commit count they were read at. */
export interface RowHashes {
  hashes: Buffer;
  commits: number;
}

export class StoreFile {
  private readonly statements = new Map<string, Database.Statement>();
  /** Committed writes so far, so unlock knows whether rows hashed before the key was ready are still current. */
  commits = 0;

  constructor(readonly db: Database.Database) {
    for (const [table, { columns, key }] of Object.entries(TABLES)) {
      const where = key.map((k) => `${k} = ?`).join(' AND ');
      this.statements.set(`insert:${table}`, db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`));
      this.statements.set(`get:${table}`, db.prepare(`SELECT ${columns.join(', ')} FROM ${table} WHERE ${where}`));
      this.statements.set(`delete:${table}`, db.prepare(`DELETE FROM ${table} WHERE ${where}`));
      this.statements.set(`scan:${table}`, db.prepare(`SELECT ${columns.join(', ')} FROM ${table}`));
    }
    this.statements.set('putMeta', db.prepare('INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)'));
    this.statements.set('itemIds', db.prepare('SELECT id FROM items'));
    this.statements.set('itemIdsIn', db.prepare('SELECT id FROM items WHERE collection_id = ?'));
    this.statements.set('aliasesOf', db.prepare('SELECT alias_mac FROM aliases WHERE collection_id = ?'));
  }

  statement(name: string): Database.Statement {
    const stmt = this.statements.get(name);
    if (!stmt) throw new Error(`no statement ${name}`);
    return stmt;
  }

  /** Items having all of n attributes: the first pair walks the lookup table, the rest are point lookups. */
  searchStatement(n: number, inCollection: boolean): Database.Statement {
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

  getRow(table: TableName, ...key: Cell[]): Row | undefined {
    return this.statement(`get:${table}`).raw(true).get(...key) as Row | undefined;
  }

  metaValue(name: string): Buffer | null {
    const row = this.getRow('meta', name);
    return row ? (row[1] as Buffer) : null;
  }

  /** SHA-256 of every row, packed; needs no key, so it can run while Argon2 does. */
  hashAllRows(): RowHashes {
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
    return { hashes: hashes.subarray(0, used), commits: this.commits };
  }
}

export function openDatabase(dbPath: string): Database.Database {
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
    migrateSchema(db);
    verifySchema(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
