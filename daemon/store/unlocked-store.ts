// The store while unlocked: collections, items, signing keys and bundles, all working under the
// keys of this one session. Only LockedStore makes one (create, unlock); lock() wipes the keys and
// hands back the LockedStore, which offers nothing that reads or writes a row.
import type { UnlockedKeys } from './data-keys.js';
import { Collections } from './collections.js';
import { Bundles } from './export-import.js';
import { Items } from './items.js';
import type { KdfParams } from './kdf.js';
import type { LockedStore } from './locked-store.js';
import { RowCrypto } from './row-crypto.js';
import { Rules } from './rules.js';
import type { Session } from './session.js';
import { SigningKeys } from './signing-keys.js';
import type { StoreFile } from './store-file.js';
import { Writes } from './writer.js';

export class UnlockedStore {
  readonly collections: Collections;
  readonly items: Items;
  readonly signingKeys: SigningKeys;
  readonly rules: Rules;
  readonly bundles: Bundles;
  private readonly crypto: RowCrypto;

  /** `digest`: the row digest just verified (or, for a new store, that of no rows). */
  constructor(
    private readonly locked: LockedStore,
    file: StoreFile,
    keys: UnlockedKeys,
    digest: Buffer,
    settings: { kdf: KdfParams; now: () => number },
  ) {
    this.crypto = new RowCrypto(keys);
    const session: Session = { file, crypto: this.crypto, writes: new Writes(file, this.crypto, digest), kdf: settings.kdf, now: settings.now };
    this.collections = new Collections(session);
    this.items = new Items(session, this.collections);
    this.signingKeys = new SigningKeys(session);
    this.rules = new Rules(session);
    this.bundles = new Bundles(session, this.collections, this.items, this.signingKeys);
  }

  /** Overwrites this session's keys with zeroes; the modules above refuse from then on. */
  lock(): LockedStore {
    this.crypto.wipe();
    return this.locked;
  }
}
