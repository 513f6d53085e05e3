// Moving a store to another machine: export → import gives the same collections, items, secrets
// and keys; a damaged bundle or a wrong bundle passphrase is refused with BadBundle.
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { isSdError } from '../../core/errors.js';
import type { SecretStoreApi } from '../../daemon/store/types.js';
import { pw, StoreDir } from '../helpers/store-fixtures.js';

let source: StoreDir;
let target: StoreDir;
beforeEach(() => {
  source = new StoreDir();
  target = new StoreDir();
});
afterEach(() => {
  source.cleanup();
  target.cleanup();
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (isSdError(err)) return err.code;
    throw err;
  }
  return 'ok';
}

const KEY = { fingerprint: '0123456789ABCDEF0123456789ABCDEF01234567', keyId: '89ABCDEF01234567', userIds: ['Ana <ana@example.org>'], algorithm: 'ed25519', created: 1_650_000_000 };
const BIG = randomBytes(1024 * 1024);

async function filledSource(): Promise<SecretStoreApi> {
  let clock = 1_600_000_000_000;
  const { store } = await source.created({ now: () => (clock += 1000) });
  const work = store.createCollection('Work', 'work');
  store.setCollectionLabel('login', 'Login keyring');
  store.createItem({ collectionId: 'login', label: 'GitHub', attributes: { service: 'github', user: 'ana' }, secret: Buffer.from('ghp_abc'), contentType: 'text/plain' });
  store.createItem({ collectionId: work.id, label: 'VPN cert', attributes: { service: 'vpn' }, secret: BIG, contentType: 'application/octet-stream' });
  store.createItem({ collectionId: work.id, label: 'No attributes', attributes: {}, secret: Buffer.alloc(0), contentType: 'text/plain' });
  store.putKey(KEY, Buffer.from('-----BEGIN PGP PRIVATE KEY BLOCK-----\nabc\n-----END PGP PRIVATE KEY BLOCK-----\n'));
  return store;
}

function view(store: SecretStoreApi) {
  const items = store.getItems(store.searchItems(null, {})).sort((a, b) => a.id.localeCompare(b.id));
  return {
    collections: store.listCollections().sort((a, b) => a.id.localeCompare(b.id)),
    items,
    secrets: items.map((it) => {
      const { secret, contentType } = store.getSecret(it.id);
      return [createHash('sha256').update(secret).digest('hex'), secret.length, contentType];
    }),
    keys: store.listKeys(),
    keySecrets: store.listKeys().map((k) => store.getKeySecret(k.fingerprint).toString('base64')),
    searches: items.map((it) => store.searchItems(it.collectionId, it.attributes)),
  };
}

describe('export → import', () => {
  test('a fresh store on another machine ends up with the same collections, items, secrets and keys', async () => {
    const from = await filledSource();
    const bundle = await from.exportBundle(pw('bundle passphrase'));
    const { store: to } = await target.created();
    expect(await to.importBundle(bundle, pw('bundle passphrase'))).toBe(3);
    expect(view(to)).toEqual(view(from));
    // And it stays that way across a lock (the digest was kept up to date by the import).
    to.close();
    const reopened = target.open();
    await reopened.unlock(pw());
    expect(view(reopened)).toEqual(view(from));
  });

  test('importing the same bundle twice does not duplicate anything', async () => {
    const from = await filledSource();
    const bundle = await from.exportBundle(pw('b'));
    const { store: to } = await target.created();
    await to.importBundle(bundle, pw('b'));
    await to.importBundle(bundle, pw('b'));
    expect(view(to)).toEqual(view(from));
  });

  test('the bundle does not contain any label, attribute or secret in the clear', async () => {
    const from = await filledSource();
    const bundle = await from.exportBundle(pw('b'));
    for (const text of ['GitHub', 'ghp_abc', 'github', 'VPN cert', 'BEGIN PGP', 'Ana <ana'])
      expect(bundle.includes(Buffer.from(text)), text).toBe(false);
    expect(bundle.includes(BIG.subarray(0, 64))).toBe(false);
  });

  test('import needs an unlocked store', async () => {
    const from = await filledSource();
    const bundle = await from.exportBundle(pw('b'));
    const { store: to } = await target.created();
    to.lock();
    expect(await codeOf(to.importBundle(bundle, pw('b')))).toBe('StoreLocked');
  });
});

describe('bad bundles', () => {
  let bundle: Buffer;
  let to: SecretStoreApi;
  beforeEach(async () => {
    bundle = await (await filledSource()).exportBundle(pw('right'));
    to = (await target.created()).store;
  });
  const itemCount = () => to.searchItems(null, {}).length;

  test('wrong bundle passphrase → BadBundle, nothing imported', async () => {
    expect(await codeOf(to.importBundle(bundle, pw('wrong')))).toBe('BadBundle');
    expect(itemCount()).toBe(0);
  });

  test('any flipped byte (header, body, tag, checksum) → BadBundle, nothing imported', async () => {
    for (const offset of [0, 7, 9, 12, 20, 30, 45, 100, Math.floor(bundle.length / 2), bundle.length - 40, bundle.length - 1]) {
      const damaged = Buffer.from(bundle);
      damaged[offset] = damaged[offset]! ^ 0x20;
      expect(await codeOf(to.importBundle(damaged, pw('right'))), `offset ${offset}`).toBe('BadBundle');
    }
    expect(itemCount()).toBe(0);
  });

  test('truncated, empty or foreign files → BadBundle', async () => {
    for (const damaged of [bundle.subarray(0, bundle.length - 1), bundle.subarray(0, 60), Buffer.alloc(0), Buffer.from('SDBUNDLE but not really'), randomBytes(4096)])
      expect(await codeOf(to.importBundle(damaged, pw('right')))).toBe('BadBundle');
    expect(itemCount()).toBe(0);
  });
});
