// Writing rows while unlocked: every change goes through one transaction whose Writer keeps the
// keyed row digest (row-digest.ts) in step, and the new digest is committed with the rows.
import type { Row, StoreFile } from './store-file.js';
import { keyedSum, rowHash, xorInto } from './row-digest.js';
import type { RowCrypto } from './row-crypto.js';
import type { TableName } from './schema.js';

/** One write transaction's row changes. */
export class Writer {
  constructor(
    private readonly file: StoreFile,
    private readonly digest: Buffer,
    private readonly rowKey: Buffer,
  ) {}

  insert(table: TableName, cells: Row): void {
    this.file.statement(`insert:${table}`).run(...cells);
    xorInto(this.digest, keyedSum(this.rowKey, rowHash(table, cells)));
  }

  /** Removes the row with this primary key; false when there is none. */
  remove(table: TableName, key: Row): boolean {
    const row = this.file.getRow(table, ...key);
    if (!row) return false;
    this.file.statement(`delete:${table}`).run(...key);
    xorInto(this.digest, keyedSum(this.rowKey, rowHash(table, row)));
    return true;
  }
}

/** The write path of one unlocked session: it holds the digest as of the last commit. */
export class Writes {
  constructor(
    private readonly file: StoreFile,
    private readonly crypto: RowCrypto,
    private digest: Buffer,
  ) {}

  write<T>(fn: (w: Writer) => T): T {
    const next = Buffer.from(this.digest);
    const writer = new Writer(this.file, next, this.crypto.held().row);
    const result = this.file.db.transaction(() => {
      const r = fn(writer);
      this.file.statement('putMeta').run('digest', next);
      return r;
    })();
    this.digest = next;
    this.file.commits += 1;
    return result;
  }
}
