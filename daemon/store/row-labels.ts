// What every sealed cell and every lookup MAC is bound to, defined once so that the code writing
// a row and the code reading it can never disagree. A sealed cell's associated data names its row
// (and, for items and aliases, the collection the row says it is in), so a ciphertext copied into
// another row, or a row moved to another collection, fails to open.
import type { Cell } from './row-digest.js';
import { encodeParts } from './seal.js';

/** Associated data of each sealed column. */
export const SEALED = {
  collection: (id: Cell) => encodeParts('collection', id),
  alias: (aliasMac: Cell, collectionId: Cell) => encodeParts('alias', aliasMac, collectionId),
  item: (id: Cell, collectionId: Cell) => encodeParts('item', id, collectionId),
  secret: (itemId: Cell) => encodeParts('secret', itemId),
  keyMeta: (fingerprintMac: Cell) => encodeParts('key', fingerprintMac),
  keySecret: (fingerprintMac: Cell) => encodeParts('key-secret', fingerprintMac),
  rule: (id: Cell) => encodeParts('rule', id),
} as const;

/** What the lookup MACs (the primary keys of aliases, attributes and signing_keys) are taken over. */
export const LOOKUP = {
  alias: (alias: string) => encodeParts('alias', alias),
  fingerprint: (fingerprint: string) => encodeParts('fingerprint', fingerprint.toUpperCase()),
  attributeName: (name: string) => Buffer.from(name, 'utf8'),
  attributeValue: (name: string, value: string) => encodeParts(name, value),
} as const;
