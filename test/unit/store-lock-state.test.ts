// The store's two shapes: a LockedStore can only be created, unlocked or re-keyed, and an
// UnlockedStore that has been locked is dead, whoever still holds it.
import { afterEach, beforeEach, describe, expect, expectTypeOf, test } from 'vitest';
import { LockedStore } from '../../daemon/store/locked-store.js';
import { openDatabase, StoreFile } from '../../daemon/store/store-file.js';
import type { UnlockedStore } from '../../daemon/store/unlocked-store.js';
import { pw, StoreDir } from '../helpers/store-fixtures.js';

let dir: StoreDir;
let file: StoreFile;
beforeEach(() => {
  dir = new StoreDir();
  file = new StoreFile(openDatabase(dir.path));
});
afterEach(() => {
  file.db.close();
  dir.cleanup();
});

const settings = { kdf: { memoryKiB: 1024, iterations: 1, parallelism: 4 }, failureDelayMs: () => 0, now: Date.now };
const newItem = (label: string) => ({ collectionId: 'login', label, attributes: { service: label }, secret: Buffer.from(`secret of ${label}`), contentType: 'text/plain' });

const storeLocked = expect.objectContaining({ code: 'StoreLocked' });

describe('split by lock state', () => {
  test('a locked store has no way to reach items, collections, keys or bundles (checked by npm run typecheck)', () => {
    for (const module of ['items', 'collections', 'signingKeys', 'bundles'] as const) {
      expectTypeOf<UnlockedStore>().toHaveProperty(module);
    }
    expectTypeOf<LockedStore>().not.toHaveProperty('items');
    expectTypeOf<LockedStore>().not.toHaveProperty('collections');
    expectTypeOf<LockedStore>().not.toHaveProperty('signingKeys');
    expectTypeOf<LockedStore>().not.toHaveProperty('bundles');
    expectTypeOf<LockedStore['unlock']>().returns.resolves.toEqualTypeOf<UnlockedStore>();
    expectTypeOf<UnlockedStore['lock']>().returns.toEqualTypeOf<LockedStore>();
  });

  test('lock() hands back the locked store; a session kept after that refuses to read or write, and nothing it tried was written', async () => {
    const locked = new LockedStore(file, settings);
    const { store: session } = await locked.create(pw());
    const kept = session.items.create(newItem('kept'));
    session.signingKeys.put({ fingerprint: '0123456789ABCDEF0123456789ABCDEF01234567', keyId: '89ABCDEF01234567', userIds: ['Ana'], algorithm: 'ed25519', created: 1 }, Buffer.from('armored'));
    expect(session.lock()).toBe(locked);

    expect(() => session.items.create(newItem('written after lock'))).toThrow(storeLocked);
    expect(() => session.items.get([kept.id])).toThrow(storeLocked);
    expect(() => session.items.getSecret(kept.id)).toThrow(storeLocked);
    expect(() => session.collections.list()).toThrow(storeLocked);
    expect(() => session.signingKeys.list()).toThrow(storeLocked);
    expect(() => session.signingKeys.delete('0123456789ABCDEF0123456789ABCDEF01234567')).toThrow(storeLocked);

    const fresh = await locked.unlock(pw(), () => true);
    expect(fresh.items.get(fresh.items.search(null, {})).map((i) => i.label)).toEqual(['kept']);
    expect(fresh.items.getSecret(kept.id).secret.toString()).toBe('secret of kept');
    expect(fresh.signingKeys.list().map((k) => k.userIds)).toEqual([['Ana']]);
  });
});
