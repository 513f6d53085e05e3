// An order-independent keyed digest of every row, so a damaged, deleted, duplicated or moved row
// anywhere is noticed even where no ciphertext would be opened (the attribute lookup rows, a row
// that a lookup no longer finds).
//
// Each row contributes AES-256-ECB_rowKey(SHA-256(table, typed cells)) — a keyed PRF of the row —
// and the digest is the XOR of all contributions. It is updated inside each write transaction
// (old row out, new row in) and recomputed in full at unlock. The unkeyed half (SHA-256 of every
// row, the expensive part) needs no key, so unlock computes it while Argon2 runs; the keyed half
// is then one cipher pass over 32 bytes per row.
import { createCipheriv, createHash } from 'node:crypto';
import type { TableName } from './schema.js';

export type Cell = string | Buffer | number;

export const DIGEST_BYTES = 32;

/** The cell as (type tag, bytes). Cells come from the file and may be of any SQLite type after
 * damage (a NULL, an integer where text was written): each type gets its own tag, so such a row
 * only ever fails to match. */
function cellBytes(cell: unknown): [number, Buffer] {
  if (typeof cell === 'string') return [1, Buffer.from(cell, 'utf8')];
  if (typeof cell === 'number' || typeof cell === 'bigint') return [2, Buffer.from(String(cell))];
  if (Buffer.isBuffer(cell)) return [3, cell];
  return [0, Buffer.alloc(0)];
}

const SCRATCH_BYTES = 64 * 1024;
const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);

/** SHA-256 over: table, 0, then per cell: tag, u32 length, bytes. */
export function rowHash(table: TableName, cells: readonly Cell[]): Buffer {
  // Unlock hashes every row, so the common small row is written straight into one buffer and
  // hashed in one call; a row with a large cell (a big secret) is streamed instead. Both hash the
  // same bytes.
  let size = table.length + 1;
  for (const cell of cells as unknown[]) {
    size += 5 + (typeof cell === 'string' ? Buffer.byteLength(cell, 'utf8') : Buffer.isBuffer(cell) ? cell.length : typeof cell === 'number' || typeof cell === 'bigint' ? String(cell).length : 0);
  }
  if (size <= SCRATCH_BYTES) {
    let at = scratch.write(table, 0, 'latin1');
    scratch[at++] = 0;
    for (const cell of cells as unknown[]) {
      if (typeof cell === 'string') {
        scratch[at] = 1;
        const n = scratch.write(cell, at + 5, 'utf8');
        scratch.writeUInt32BE(n, at + 1);
        at += 5 + n;
      } else {
        const [tag, bytes] = cellBytes(cell);
        scratch[at] = tag;
        scratch.writeUInt32BE(bytes.length, at + 1);
        bytes.copy(scratch, at + 5);
        at += 5 + bytes.length;
      }
    }
    return createHash('sha256').update(scratch.subarray(0, at)).digest();
  }
  const h = createHash('sha256').update(table, 'latin1').update(Buffer.of(0));
  const head = Buffer.alloc(5);
  for (const cell of cells as unknown[]) {
    const [tag, bytes] = cellBytes(cell);
    head[0] = tag;
    head.writeUInt32BE(bytes.length, 1);
    h.update(head).update(bytes);
  }
  return h.digest();
}

/** XOR of the keyed contributions of the row hashes packed in `hashes` (32 bytes each). */
export function keyedSum(rowKey: Buffer, hashes: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-ecb', rowKey, null);
  cipher.setAutoPadding(false);
  const mixed = Buffer.concat([cipher.update(hashes), cipher.final()]);
  const sum = Buffer.alloc(DIGEST_BYTES);
  for (let at = 0; at < mixed.length; at += DIGEST_BYTES) xorInto(sum, mixed.subarray(at, at + DIGEST_BYTES));
  return sum;
}

export function xorInto(target: Buffer, value: Buffer): void {
  for (let i = 0; i < DIGEST_BYTES; i++) target[i] = target[i]! ^ value[i]!;
}
