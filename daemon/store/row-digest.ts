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
  // Cells come from the file and may be of any SQLite type after damage (a NULL, an integer where
  // text was written): each type gets its own tag so such a row only ever fails to match.
  for (const cell of cells as unknown[]) {
    let tag = 0;
    let bytes: Buffer = Buffer.alloc(0);
    if (typeof cell === 'string') [tag, bytes] = [1, Buffer.from(cell, 'utf8')];
    else if (typeof cell === 'number' || typeof cell === 'bigint') [tag, bytes] = [2, Buffer.from(String(cell))];
    else if (Buffer.isBuffer(cell)) [tag, bytes] = [3, cell];
    head[0] = tag;
    head.writeUInt32BE(bytes.length, 1);
    h.update(head).update(bytes);
  }
  return h.digest();
}

export function xorInto(target: Buffer, value: Buffer): void {
  for (let i = 0; i < DIGEST_BYTES; i++) target[i] = target[i]! ^ value[i]!;
}
