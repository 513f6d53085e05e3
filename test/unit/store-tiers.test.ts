// Sensitivity tiers: their order, and how the store keeps them — sealed with the item or key, not
// an attribute anyone can edit; kept across reopen, bundles and re-imports; a store written before
// tiers existed opens with every item and key intact, all normal.
import { copyFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { highestTier, lowers, tierRank } from '../../core/tiers.js';
import type { SecretStoreApi } from '../../daemon/store/types.js';
import { pw, StoreDir } from '../helpers/store-fixtures.js';

const FIXTURE = new URL('../fixtures/store-before-tiers.db', import.meta.url).pathname;
const KEY_ARMOR = Buffer.from('-----BEGIN PGP PRIVATE KEY BLOCK-----\nfake\n');
const key = (tier?: 'low' | 'normal' | 'high') => ({ fingerprint: 'B'.repeat(40), keyId: 'B'.repeat(16), userIds: ['K <k@example.org>'], algorithm: 'ed25519', created: 1, ...(tier ? { tier } : {}) });

describe('tier order', () => {
  test('low < normal < high; the highest of a request wins; none given is normal', () => {
    expect([tierRank('low'), tierRank('normal'), tierRank('high')]).toEqual([0, 1, 2]);
    expect(highestTier(['low', 'high', 'normal'])).toBe('high');
    expect(highestTier(['low', 'low'])).toBe('low');
    expect(highestTier(['low', undefined])).toBe('normal');
    expect(highestTier([])).toBe('normal');
    expect(lowers('high', 'normal')).toBe(true);
    expect(lowers('normal', 'high')).toBe(false);
    expect(lowers('low', 'low')).toBe(false);
  });
});

describe('tiers in the store', () => {
  let dir: StoreDir;
  let store: SecretStoreApi;
  beforeEach(async () => {
    dir = new StoreDir();
    store = (await dir.created()).store;
  });
  afterEach(() => dir.cleanup());

  const reopen = async () => {
    store.close();
    store = dir.open();
    await store.unlock(pw());
  };

  test('an item keeps the tier it was created with across a reopen; the default is normal', async () => {
    const high = store.createItem({ collectionId: 'login', label: 'prod db', attributes: { service: 'db' }, secret: Buffer.from('s'), contentType: 'text/plain', tier: 'high' });
    const plain = store.createItem({ collectionId: 'login', label: 'test token', attributes: { service: 't' }, secret: Buffer.from('t'), contentType: 'text/plain' });
    await reopen();
    expect(store.getItems([high.id, plain.id]).map((i) => i.tier)).toEqual(['high', 'normal']);
  });

  test('the tier is not an attribute: editing attributes, the secret or the label leaves it alone', async () => {
    const item = store.createItem({ collectionId: 'login', label: 'prod db', attributes: { service: 'db' }, secret: Buffer.from('s'), contentType: 'text/plain', tier: 'high' });
    store.updateItem(item.id, { label: 'renamed', attributes: { service: 'db', 'sd:tier': 'low' } });
    store.setSecret(item.id, Buffer.from('new'), 'text/plain');
    await reopen();
    const [after] = store.getItems([item.id]);
    expect(after).toMatchObject({ label: 'renamed', tier: 'high', attributes: { service: 'db', 'sd:tier': 'low' } });
  });

  test('setItemTier raises and lowers, keeps the secret, and refuses a value that is not a tier', async () => {
    const item = store.createItem({ collectionId: 'login', label: 'x', attributes: { a: '1' }, secret: Buffer.from('kept'), contentType: 'text/plain' });
    store.setItemTier(item.id, 'high');
    store.setItemTier(item.id, 'low');
    expect(() => store.setItemTier(item.id, 'secret' as never)).toThrow(/tier must be/);
    expect(() => store.setItemTier('nope', 'high')).toThrow(/No item/);
    await reopen();
    expect(store.getItems([item.id])[0]!.tier).toBe('low');
    expect(store.getSecret(item.id).secret.toString()).toBe('kept');
    expect(store.searchItems(null, { a: '1' })).toEqual([item.id]);
  });

  test('a key keeps its tier; putting the same key again never lowers it; setKeyTier does', async () => {
    store.putKey(key('high'), KEY_ARMOR);
    store.putKey(key('low'), KEY_ARMOR);
    expect(store.listKeys()[0]!.tier).toBe('high');
    await reopen();
    expect(store.listKeys()[0]!.tier).toBe('high');
    store.setKeyTier('B'.repeat(40), 'normal');
    expect(store.listKeys()[0]!.tier ?? 'normal').toBe('normal');
    expect(store.getKeySecret('B'.repeat(40)).equals(KEY_ARMOR)).toBe(true);
  });

  test('a bundle carries tiers, and importing it over an item never lowers that item\'s tier', async () => {
    const item = store.createItem({ collectionId: 'login', label: 'x', attributes: { a: '1' }, secret: Buffer.from('s'), contentType: 'text/plain', tier: 'low' });
    store.putKey(key('high'), KEY_ARMOR);
    const bundle = await store.exportBundle(pw('bundle'));
    const other = new StoreDir();
    try {
      const { store: to } = await other.created();
      await to.importBundle(bundle, pw('bundle'));
      expect(to.getItems([item.id])[0]!.tier).toBe('low');
      expect(to.listKeys()[0]!.tier).toBe('high');
      // Here the item was raised meanwhile: the older bundle does not bring it back down.
      store.setItemTier(item.id, 'high');
      await store.importBundle(bundle, pw('bundle'));
      expect(store.getItems([item.id])[0]!.tier).toBe('high');
    } finally {
      other.cleanup();
    }
  });
});

describe('a store written before tiers', () => {
  let dir: StoreDir;
  afterEach(() => dir.cleanup());

  test('opens with every item and key, all normal; an old sd:tier attribute stays an attribute', async () => {
    dir = new StoreDir();
    copyFileSync(FIXTURE, dir.path);
    const store = dir.open();
    await store.unlock(pw());
    const items = store.getItems(store.searchItems(null, {}));
    expect(items.map((i) => [i.label, i.tier]).sort()).toEqual([['old item', 'normal'], ['second old item', 'normal']]);
    expect(items.find((i) => i.label === 'second old item')!.attributes).toEqual({ service: 'old2', 'sd:tier': 'low' });
    expect(store.getSecret(items.find((i) => i.label === 'old item')!.id).secret.toString()).toBe('old secret');
    expect(store.listKeys().map((k) => [k.userIds[0], k.tier ?? 'normal'])).toEqual([['Old Key <old@example.org>', 'normal']]);
    // It can be raised like any other, and the file still passes its integrity check afterwards.
    store.setItemTier(items[0]!.id, 'high');
    store.close();
    const again = dir.open();
    await again.unlock(pw());
    expect(again.getItems([items[0]!.id])[0]!.tier).toBe('high');
  });
});
