// An item is three kinds of row: its sealed metadata (items), its sealed secret (secrets) and one
// lookup row per attribute (attributes). These are the only functions that read or write them
// together, for items, for deleting a collection and for an import alike.
import { SdError } from '../../core/errors.js';
import { LIMITS } from '../../core/limits.js';
import { asItem, type ItemPayload } from './records.js';
import { SEALED } from './row-labels.js';
import type { Session } from './session.js';
import type { ItemRecord } from './types.js';
import type { Writer } from './writer.js';

export interface StoredItem {
  collectionId: string;
  payload: ItemPayload;
}

export function readItem(s: Session, id: string): StoredItem | null {
  const row = s.file.getRow('items', id);
  if (!row) return null;
  const collectionId = row[1] as string;
  const what = `Item ${id}`;
  return { collectionId, payload: asItem(s.crypto.openJson(row[2]!, SEALED.item(id, collectionId), what), what) };
}

export function requireItem(s: Session, id: string): StoredItem {
  const item = typeof id === 'string' && id.length <= LIMITS.idChars ? readItem(s, id) : null;
  if (!item) throw new SdError('NotFound', `No item ${JSON.stringify(String(id).slice(0, 64))}.`);
  return item;
}

export function toRecord(id: string, collectionId: string, p: ItemPayload): ItemRecord {
  return {
    id,
    collectionId,
    label: p.label,
    attributes: Object.fromEntries(p.attributes),
    contentType: p.contentType,
    created: p.created,
    modified: p.modified,
    tier: p.tier ?? 'normal',
  };
}

export function sealItemMeta(s: Session, id: string, collectionId: string, payload: ItemPayload): Buffer {
  return s.crypto.sealJson(payload, SEALED.item(id, collectionId));
}

export function sealItemSecret(s: Session, id: string, secret: Buffer): Buffer {
  return s.crypto.sealBytes(secret, SEALED.secret(id));
}

export function insertItem(s: Session, w: Writer, id: string, collectionId: string, payload: ItemPayload, secret: Buffer): void {
  w.insert('items', [id, collectionId, sealItemMeta(s, id, collectionId, payload)]);
  w.insert('secrets', [id, sealItemSecret(s, id, secret)]);
  for (const [k, v] of payload.attributes) w.insert('attributes', [...s.crypto.attributeMacs(k, v), id]);
}

export function removeItem(s: Session, w: Writer, id: string): boolean {
  const item = readItem(s, id);
  if (!item) return false;
  for (const [k, v] of item.payload.attributes) w.remove('attributes', [...s.crypto.attributeMacs(k, v), id]);
  w.remove('secrets', [id]);
  w.remove('items', [id]);
  return true;
}
