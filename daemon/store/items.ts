// Items while the store is unlocked: search, read, create, change, delete.
import { SdError } from '../../core/errors.js';
import { LIMITS } from '../../core/limits.js';
import { newId, type Collections } from './collections.js';
import { insertItem, readItem, removeItem, requireItem, sealItemMeta, sealItemSecret, toRecord } from './item-rows.js';
import type { ItemPayload } from './records.js';
import { SEALED } from './row-labels.js';
import { nowSeconds, type Session } from './session.js';
import { CORRUPT_ADVICE } from './sqlite-errors.js';
import type { ItemRecord, NewItem } from './types.js';
import { checkAttributes, checkSecret, checkText, checkTier } from './validate.js';
import type { Tier } from '../../core/wire.js';

export class Items {
  constructor(
    private readonly s: Session,
    private readonly collections: Collections,
  ) {}

  search(collectionId: string | null, attributes: Record<string, string>): string[] {
    const entries = checkAttributes(attributes);
    const file = this.s.file;
    if (entries.length === 0) {
      return (collectionId === null ? file.statement('itemIds').pluck(true).all() : file.statement('itemIdsIn').pluck(true).all(collectionId)) as string[];
    }
    const params: Record<string, unknown> = {};
    entries.forEach(([k, v], i) => {
      [params[`k${i}`], params[`v${i}`]] = this.s.crypto.attributeMacs(k, v);
    });
    if (collectionId !== null) params.c = collectionId;
    return file.searchStatement(entries.length, collectionId !== null).all(params) as string[];
  }

  get(ids: string[]): ItemRecord[] {
    const out: ItemRecord[] = [];
    for (const id of ids) {
      if (typeof id !== 'string' || id.length > LIMITS.idChars) continue;
      const item = readItem(this.s, id);
      if (item) out.push(toRecord(id, item.collectionId, item.payload));
    }
    return out;
  }

  findExact(collectionId: string, attributes: Record<string, string>): string | null {
    const entries = checkAttributes(attributes);
    for (const id of this.search(collectionId, attributes)) {
      const item = readItem(this.s, id);
      if (item && item.payload.attributes.length === entries.length) return id;
    }
    return null;
  }

  create(item: NewItem): ItemRecord {
    const attributes = checkAttributes(item.attributes);
    checkText(item.label, LIMITS.labelChars, 'The label');
    checkText(item.contentType, LIMITS.contentTypeChars, 'The content type');
    checkSecret(item.secret);
    const tier = checkTier(item.tier ?? 'normal');
    this.collections.require(item.collectionId);
    let id = newId();
    while (this.s.file.getRow('items', id)) id = newId();
    const now = nowSeconds(this.s);
    const payload: ItemPayload = { label: item.label, attributes, contentType: item.contentType, created: now, modified: now, tier };
    this.s.writes.write((w) => insertItem(this.s, w, id, item.collectionId, payload, item.secret));
    return toRecord(id, item.collectionId, payload);
  }

  getSecret(id: string): { secret: Buffer; contentType: string } {
    const item = requireItem(this.s, id);
    const row = this.s.file.getRow('secrets', id);
    if (!row) throw new SdError('StoreCorrupt', `The secret of item ${id} is missing. ${CORRUPT_ADVICE}`);
    return { secret: this.s.crypto.openBytes(row[1]!, SEALED.secret(id), `The secret of item ${id}`), contentType: item.payload.contentType };
  }

  setSecret(id: string, secret: Buffer, contentType: string): void {
    checkSecret(secret);
    checkText(contentType, LIMITS.contentTypeChars, 'The content type');
    const item = requireItem(this.s, id);
    const payload: ItemPayload = { ...item.payload, contentType, modified: nowSeconds(this.s) };
    this.s.writes.write((w) => {
      w.remove('items', [id]);
      w.remove('secrets', [id]);
      w.insert('items', [id, item.collectionId, sealItemMeta(this.s, id, item.collectionId, payload)]);
      w.insert('secrets', [id, sealItemSecret(this.s, id, secret)]);
    });
  }

  update(id: string, changes: { label?: string; attributes?: Record<string, string> }): void {
    if (changes.label !== undefined) checkText(changes.label, LIMITS.labelChars, 'The label');
    const attributes = changes.attributes === undefined ? undefined : checkAttributes(changes.attributes);
    const item = requireItem(this.s, id);
    const old = item.payload;
    const payload: ItemPayload = { ...old, label: changes.label ?? old.label, attributes: attributes ?? old.attributes, modified: nowSeconds(this.s) };
    this.s.writes.write((w) => {
      if (attributes) {
        for (const [k, v] of old.attributes) w.remove('attributes', [...this.s.crypto.attributeMacs(k, v), id]);
        for (const [k, v] of attributes) w.insert('attributes', [...this.s.crypto.attributeMacs(k, v), id]);
      }
      w.remove('items', [id]);
      w.insert('items', [id, item.collectionId, sealItemMeta(this.s, id, item.collectionId, payload)]);
    });
  }

  /** Re-seals the metadata with the new tier; the secret and the attribute lookups stay as they are. */
  setTier(id: string, tier: Tier): void {
    checkTier(tier);
    const item = requireItem(this.s, id);
    const payload: ItemPayload = { ...item.payload, tier, modified: nowSeconds(this.s) };
    this.s.writes.write((w) => {
      w.remove('items', [id]);
      w.insert('items', [id, item.collectionId, sealItemMeta(this.s, id, item.collectionId, payload)]);
    });
  }

  delete(id: string): void {
    requireItem(this.s, id);
    this.s.writes.write((w) => removeItem(this.s, w, id));
  }
}
