// An order-independent digest of every row: XOR of HMAC(table, columns) over all rows. It is
// updated inside each write transaction (old row out, new row in) and recomputed in full at
// unlock, so a damaged, deleted, duplicated or moved row anywhere is noticed even where no
// ciphertext would be opened (the attribute lookup rows, a row that a lookup no longer finds).
import { createHmac } from 'node:crypto';
import type { TableName } from './schema.js';

export type Cell = string | Buffer | number;

export const DIGEST_BYTES = 32;

export function rowMac(key: Buffer, table: TableName, cells: readonly Cell[]): Buffer {
  const h = createHmac('sha256', key);
  const head = Buffer.alloc(5);
  h.update(table).update(Buffer.of(0));
  for (const cell of cells) {
    const bytes = typeof cell === 'string' ? Buffer.from(cell, 'utf8') : typeof cell === 'number' ? Buffer.from(String(cell)) : cell;
    head[0] = typeof cell === 'string' ? 1 : typeof cell === 'number' ? 2 : 3;
    head.writeUInt32BE(bytes.length, 1);
    h.update(head).update(bytes);
  }
  return h.digest();
}

export function xorInto(target: Buffer, value: Buffer): void {
  for (let i = 0; i < DIGEST_BYTES; i++) target[i] = target[i]! ^ value[i]!;
}
