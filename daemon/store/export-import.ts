// Moving a store: export every collection, item and key into a bundle (bundle.ts holds the file
// format), and import one, first as a plan the console shows, then applied in one transaction.
import { SdError } from '../../core/errors.js';
import { LIMITS } from '../../core/limits.js';
import { openBundle, sealBundle, type BundleContents, type OpenedBundle } from './bundle.js';
import type { Collections } from './collections.js';
import { insertItem, readItem, removeItem, toRecord } from './item-rows.js';
import type { Items } from './items.js';
import type { KdfParams } from './kdf.js';
import type { ItemPayload } from './records.js';
import { highestTier } from '../../core/tiers.js';
import { wipe } from './seal.js';
import type { Session } from './session.js';
import type { SigningKeys } from './signing-keys.js';
import { translateStoreError } from './sqlite-errors.js';
import type { ImportPlan, ImportPreview, KeyRecord } from './types.js';
import { checkAttributes, checkPassphrase, checkSecret } from './validate.js';

export class Bundles {
  constructor(
    private readonly s: Session,
    private readonly collections: Collections,
    private readonly items: Items,
    private readonly keys: SigningKeys,
  ) {}

  /** An encrypted bundle of everything; the decrypted copies gathered for it are wiped. */
  async export(bundlePassphrase: Buffer): Promise<Buffer> {
    checkPassphrase(bundlePassphrase, 'The bundle passphrase');
    const blobs: Buffer[] = [];
    try {
      const contents: BundleContents = { format: 1, collections: this.collections.list(), items: [], keys: [] };
      for (const id of this.items.search(null, {})) {
        const item = readItem(this.s, id)!;
        const { secret } = this.items.getSecret(id);
        contents.items.push({ ...toRecord(id, item.collectionId, item.payload), secret: blobs.push(secret) - 1 });
      }
      for (const key of this.keys.list()) contents.keys.push({ ...key, secret: blobs.push(this.keys.getSecret(key.fingerprint)) - 1 });
      return await sealBundle(contents, blobs, bundlePassphrase, this.s.kdf);
    } finally {
      wipe(...blobs);
    }
  }

  /** Checks a decrypted bundle against this store and says what importing it adds and overwrites. */
  plan(opened: OpenedBundle): ImportPlan {
    const { contents, blobs } = opened;
    const known = new Set(contents.collections.map((c) => c.id));
    for (const item of contents.items) {
      if (!known.has(item.collectionId) && !this.collections.exists(item.collectionId))
        throw new SdError('BadBundle', `Item ${item.id} names a collection the bundle does not hold.`);
      checkAttributes(item.attributes);
      checkSecret(blobs[item.secret]!);
    }
    for (const key of contents.keys) checkSecret(blobs[key.secret]!);
    const collections = new Map(this.collections.list().map((c) => [c.id, c]));
    const storedKeys = new Set(this.keys.list().map((k) => k.fingerprint));
    return {
      collections: contents.collections.map((c) => ({ id: c.id, label: c.label, replaces: collections.get(c.id)?.label ?? null })),
      items: contents.items.map((item) => {
        const existing = this.items.get([item.id])[0];
        return {
          id: item.id, collectionId: item.collectionId, label: item.label, attributes: item.attributes,
          replaces: existing ? { label: existing.label, attributes: existing.attributes } : null,
        };
      }),
      keys: contents.keys.map((k) => ({ fingerprint: k.fingerprint, userIds: k.userIds, replaces: storedKeys.has(k.fingerprint) })),
    };
  }

  /** Writes the whole bundle in one transaction; returns the number of items. */
  apply(opened: OpenedBundle, verifiedKeys?: KeyRecord[]): number {
    const { contents, blobs } = opened;
    this.s.writes.write((w) => {
      // The bundle is what the person chose to move here: its collection labels and aliases win.
      for (const c of contents.collections) this.collections.replace(w, c);
      for (const item of contents.items) {
        // A bundle may overwrite an item but never lowers its tier: only the console lowers one.
        const existing = readItem(this.s, item.id);
        removeItem(this.s, w, item.id);
        const payload: ItemPayload = {
          label: item.label,
          attributes: Object.entries(item.attributes),
          contentType: item.contentType,
          created: item.created,
          modified: item.modified,
          tier: existing ? highestTier([item.tier, existing.payload.tier]) : item.tier ?? 'normal',
        };
        insertItem(this.s, w, item.id, item.collectionId, payload, blobs[item.secret]!);
      }
      contents.keys.forEach((key, n) => {
        const { secret, ...record } = key;
        this.keys.write(w, { ...(verifiedKeys?.[n] ?? record), tier: record.tier ?? 'normal' }, blobs[secret]!);
      });
    });
    return contents.items.length;
  }
}

/** Decrypts a bundle before anyone approved: it may not make us allocate more than our own store would. */
export async function decryptForImport(bundle: Buffer, bundlePassphrase: Buffer, kdf: KdfParams): Promise<OpenedBundle> {
  if (!Buffer.isBuffer(bundle)) throw new SdError('InvalidArgs', 'The bundle must be bytes.');
  checkPassphrase(bundlePassphrase, 'The bundle passphrase');
  return openBundle(bundle, bundlePassphrase, Math.max(LIMITS.bundleKdfKiBBeforeApproval, kdf.memoryKiB));
}

/**
 * The preview the console shows. Its apply() reaches the store through `current` (the holder's
 * boundary) at the moment it runs, since the human decides later and the store may have been
 * locked meanwhile. The caller wipes the decrypted contents with wipe(), whatever happened.
 */
export function importPreview(opened: OpenedBundle, plan: ImportPlan, current: () => Bundles): ImportPreview {
  let wiped = false;
  return {
    plan,
    keySecrets: opened.contents.keys.map((k) => opened.blobs[k.secret]!),
    apply: (verifiedKeys?: KeyRecord[]) => {
      try {
        if (wiped) throw new SdError('Internal', 'The import was already wiped.');
        return current().apply(opened, verifiedKeys);
      } catch (err) {
        throw translateStoreError(err);
      }
    },
    wipe: () => {
      wiped = true;
      wipe(opened.plain);
    },
  };
}
