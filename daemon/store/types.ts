// What the rest of the daemon needs from the encrypted store. The implementation lives in
// daemon/store/ (SQLite + AES-256-GCM under an Argon2id key); this file is the seam between the
// approval pipeline and storage, so either side can change inside without the other.
//
// Every method that reads or writes collections, items or keys throws SdError('StoreLocked')
// while locked and SdError('StoreNotInitialized') before create(). Secrets go in and out as
// Buffers; callers wipe the Buffers they receive (fill(0)) when done.

import type { RememberedDecision, Tier } from '../../core/wire.js';

export interface CollectionRecord {
  id: string;
  label: string;
  aliases: string[];
  /** Seconds since the epoch. */
  created: number;
  modified: number;
}

export interface ItemRecord {
  id: string;
  collectionId: string;
  label: string;
  attributes: Record<string, string>;
  contentType: string;
  created: number;
  modified: number;
  /** How much attention a release needs (core/tiers.ts); normal for items stored before tiers. */
  tier: Tier;
}

export interface NewItem {
  collectionId: string;
  label: string;
  attributes: Record<string, string>;
  secret: Buffer;
  contentType: string;
  /** Default normal. */
  tier?: Tier;
}

export interface KeyRecord {
  fingerprint: string;
  keyId: string;
  userIds: string[];
  algorithm: string;
  created: number;
  /** The subkeys' fingerprints, so `-u SUBKEYID` finds the key (absent in records stored before). */
  subkeys?: string[];
  /** Absent: normal. putKey never lowers the tier of a key it overwrites; only setKeyTier does. */
  tier?: Tier;
}

/**
 * A decision the console made to keep (always, deny always): who (the subject's anchor and the
 * words the human read), what (kind, target) and which way. Sealed in the store like an item.
 */
export type RuleRecord = Omit<RememberedDecision, 'expiresAt'> & {
  /** The subject it covers (approvals/grant-scope.ts), matched exactly. */
  anchor: string;
};

export interface SecretStoreApi {
  readonly initialized: boolean;
  readonly locked: boolean;

  /** First run: derive the key, create the default collection ("login", alias "default"); returns the one-time recovery code. */
  create(passphrase: Buffer): Promise<string>;
  /** Wrong passphrase → WrongPassphrase after a delay that grows with repeated failures; TooManyAttempts while a delay is pending. */
  unlock(passphrase: Buffer): Promise<void>;
  /** Wipes the key and any cached decrypted material. */
  lock(): void;
  /** Called after every lock(): whoever holds material derived from the store's keys wipes it. */
  onLock(listener: () => void): void;
  /** Re-wraps the key only (no item is re-encrypted); the locked/unlocked state stays as it was. */
  changePassphrase(oldPassphrase: Buffer, newPassphrase: Buffer): Promise<void>;
  /** Returns a fresh recovery code; the old one stops working. The locked/unlocked state stays as it was. */
  resetPassphrase(recoveryCode: string, newPassphrase: Buffer): Promise<string>;

  listCollections(): CollectionRecord[];
  createCollection(label: string, alias?: string): CollectionRecord;
  setCollectionLabel(id: string, label: string): void;
  deleteCollection(id: string): void;
  readAlias(alias: string): string | null;
  setAlias(alias: string, collectionId: string | null): void;

  /** collectionId null = all collections. Matches items having all the given attributes. */
  searchItems(collectionId: string | null, attributes: Record<string, string>): string[];
  /** Unknown ids are skipped. */
  getItems(ids: string[]): ItemRecord[];
  /** The item in that collection whose attributes are exactly these, if any (for create-with-replace). */
  findExact(collectionId: string, attributes: Record<string, string>): string | null;
  createItem(item: NewItem): ItemRecord;
  getSecret(id: string): { secret: Buffer; contentType: string };
  setSecret(id: string, secret: Buffer, contentType: string): void;
  updateItem(id: string, changes: { label?: string; attributes?: Record<string, string> }): void;
  deleteItem(id: string): void;
  /**
   * Sets the item's tier exactly, raising or lowering: whether the caller may lower it is the
   * caller's to check (the request interface refuses, the console may). Changes nothing else.
   */
  setItemTier(id: string, tier: Tier): void;

  listKeys(): KeyRecord[];
  putKey(record: KeyRecord, armoredSecretKey: Buffer): void;
  /** The armored secret key; the caller wipes it. */
  getKeySecret(fingerprint: string): Buffer;
  deleteKey(fingerprint: string): void;
  /** As setItemTier, for a signing key (by primary fingerprint). */
  setKeyTier(fingerprint: string, tier: Tier): void;

  /** The console's persisted rules (StoreLocked while locked). */
  listRules(): RuleRecord[];
  putRule(rule: RuleRecord): void;
  deleteRule(id: string): void;

  /** An encrypted, checksummed bundle of every collection, item and key. */
  exportBundle(bundlePassphrase: Buffer): Promise<Buffer>;
  /** Adds the bundle's contents; returns the number of items imported. BadBundle on damage or wrong passphrase. */
  importBundle(bundle: Buffer, bundlePassphrase: Buffer): Promise<number>;
  /** Decrypts and checks a bundle and says what it would add and overwrite; writes nothing until apply(). */
  openImport(bundle: Buffer, bundlePassphrase: Buffer): Promise<ImportPreview>;

  close(): void;
}

/** What importing a bundle would do, from its decrypted contents; `replaces` is what it overwrites. */
export interface ImportPlan {
  collections: Array<{ id: string; label: string; replaces: string | null }>;
  items: Array<{ id: string; collectionId: string; label: string; attributes: Record<string, string>; replaces: { label: string; attributes: Record<string, string> } | null }>;
  keys: Array<{ fingerprint: string; userIds: string[]; replaces: boolean }>;
}

export interface ImportPreview {
  plan: ImportPlan;
  /** The keys' armored secrets in plan order (views into the decrypted bundle), to check before apply. */
  keySecrets: Buffer[];
  /**
   * Writes everything in one transaction; returns the number of items. `verifiedKeys` (plan
   * order) replace the bundle's own key records, e.g. facts read from the key material itself.
   */
  apply(verifiedKeys?: KeyRecord[]): number;
  /** Drops the decrypted contents; call it whatever happened. */
  wipe(): void;
}

