// The store's tables. Every table is WITHOUT ROWID and there is no secondary index: all data,
// including the attribute lookup keys, lives in table b-trees that the row digest covers, so a
// damaged index can never silently hide or invent a search result. On open, the schema text in
// sqlite_master must equal these strings exactly: a flipped byte in the schema is caught before
// any statement could run against a subtly different table.
import type Database from 'better-sqlite3';
import { SdError } from '../../core/errors.js';

/** "SDst" — marks the file as ours (PRAGMA application_id). */
export const APPLICATION_ID = 0x53447374;
export const SCHEMA_VERSION = 2;

export const TABLES = {
  meta: { columns: ['name', 'value'], key: ['name'] },
  collections: { columns: ['id', 'sealed'], key: ['id'] },
  aliases: { columns: ['alias_mac', 'collection_id', 'sealed'], key: ['alias_mac'] },
  items: { columns: ['id', 'collection_id', 'sealed_meta'], key: ['id'] },
  secrets: { columns: ['item_id', 'sealed'], key: ['item_id'] },
  attributes: { columns: ['key_mac', 'value_mac', 'item_id'], key: ['key_mac', 'value_mac', 'item_id'] },
  signing_keys: { columns: ['fingerprint_mac', 'sealed_meta', 'sealed_secret'], key: ['fingerprint_mac'] },
  /** The console's persisted decisions (always, deny always): random id, sealed rule. */
  rules: { columns: ['id', 'sealed'], key: ['id'] },
} as const;

export type TableName = keyof typeof TABLES;
/** Tables whose rows the digest covers (meta holds the digest itself and the MAC'd header). */
export const DIGESTED_TABLES: TableName[] = ['collections', 'aliases', 'items', 'secrets', 'attributes', 'signing_keys', 'rules'];

const SCHEMA: Record<TableName, string> = {
  meta: 'CREATE TABLE meta (name TEXT NOT NULL PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID',
  collections: 'CREATE TABLE collections (id TEXT NOT NULL PRIMARY KEY, sealed BLOB NOT NULL) WITHOUT ROWID',
  aliases: 'CREATE TABLE aliases (alias_mac BLOB NOT NULL PRIMARY KEY, collection_id TEXT NOT NULL, sealed BLOB NOT NULL) WITHOUT ROWID',
  items: 'CREATE TABLE items (id TEXT NOT NULL PRIMARY KEY, collection_id TEXT NOT NULL, sealed_meta BLOB NOT NULL) WITHOUT ROWID',
  secrets: 'CREATE TABLE secrets (item_id TEXT NOT NULL PRIMARY KEY, sealed BLOB NOT NULL) WITHOUT ROWID',
  attributes:
    'CREATE TABLE attributes (key_mac BLOB NOT NULL, value_mac BLOB NOT NULL, item_id TEXT NOT NULL, PRIMARY KEY (key_mac, value_mac, item_id)) WITHOUT ROWID',
  signing_keys:
    'CREATE TABLE signing_keys (fingerprint_mac BLOB NOT NULL PRIMARY KEY, sealed_meta BLOB NOT NULL, sealed_secret BLOB NOT NULL) WITHOUT ROWID',
  rules: 'CREATE TABLE rules (id TEXT NOT NULL PRIMARY KEY, sealed BLOB NOT NULL) WITHOUT ROWID',
};

/**
 * Version 1 stores (before rules) get the empty rules table. An empty table adds no row to the
 * digest, so the digest stored by version 1 still matches and the first unlock verifies it.
 */
export function migrateSchema(db: Database.Database): void {
  if (db.pragma('application_id', { simple: true }) !== APPLICATION_ID || db.pragma('user_version', { simple: true }) !== 1) return;
  db.transaction(() => {
    db.exec(SCHEMA.rules);
    db.pragma('user_version = 2');
  })();
}

export function createSchema(db: Database.Database): void {
  db.transaction(() => {
    for (const sql of Object.values(SCHEMA)) db.exec(sql);
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

/** Throws StoreCorrupt unless the file's schema is exactly ours. */
export function verifySchema(db: Database.Database): void {
  const appId = db.pragma('application_id', { simple: true });
  if (appId !== APPLICATION_ID) throw new SdError('StoreCorrupt', 'The file is not a secrets-dispatcher store (wrong application id).');
  const version = db.pragma('user_version', { simple: true });
  if (version !== SCHEMA_VERSION) throw new SdError('StoreCorrupt', `Unknown store format version ${String(version)}.`);
  const rows = db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_schema').all() as { type: string; name: string; tbl_name: string; sql: string | null }[];
  const expected = Object.entries(SCHEMA);
  const ok =
    rows.length === expected.length &&
    expected.every(([name, sql]) => rows.some((r) => r.type === 'table' && r.name === name && r.tbl_name === name && r.sql === sql));
  if (!ok) throw new SdError('StoreCorrupt', 'The database schema is not the expected one.');
}

export function isEmptyDatabase(db: Database.Database): boolean {
  return (db.prepare('SELECT count(*) AS n FROM sqlite_schema').get() as { n: number }).n === 0;
}
