// What the unlocked store's modules (collections, items, signing keys, bundles) share while the
// store is unlocked: the file, the session's keys (behind RowCrypto), its write path and the clock.
import type { KdfParams } from './kdf.js';
import type { RowCrypto } from './row-crypto.js';
import type { StoreFile } from './store-file.js';
import type { Writes } from './writer.js';

export interface Session {
  readonly file: StoreFile;
  readonly crypto: RowCrypto;
  readonly writes: Writes;
  /** Argon2id parameters for bundles sealed here (config store.argon2MemoryKiB). */
  readonly kdf: KdfParams;
  /** Milliseconds since the epoch. */
  now(): number;
}

export const nowSeconds = (session: Session): number => Math.floor(session.now() / 1000);
