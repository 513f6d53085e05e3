// Collections, aliases, items, search and signing keys as the daemon uses them.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { isSdError } from '../../core/errors.js';
import type { SecretStoreApi } from '../../daemon/store/types.js';
import { StoreDir } from '../helpers/store-fixtures.js';

let dir: StoreDir;
let store: SecretStoreApi;
beforeEach(async () => {
  dir = new StoreDir();
  store = (await dir.created({ now: () => 1_700_000_000_000 })).store;
});
afterEach(() => dir.cleanup());

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isSdError(err)) return err.code;
    throw err;
  }
  return 'ok';
}

const item = (collectionId: string, label: string, attributes: Record<string, string>, secret: Buffer | string = label, contentType = 'text/plain') =>
  store.createItem({ collectionId, label, attributes, secret: Buffer.isBuffer(secret) ? secret : Buffer.from(secret), contentType });

const sorted = (ids: string[]) => [...ids].sort();

describe('collections and aliases', () => {
  test('create, relabel, list and delete a collection', () => {
    const work = store.createCollection('Work', 'work');
    expect(work).toMatchObject({ label: 'Work', aliases: ['work'], created: 1_700_000_000, modified: 1_700_000_000 });
    expect(work.id).toMatch(/^[A-Za-z0-9_]+$/);
    store.setCollectionLabel(work.id, 'Work (old laptop)');
    expect(store.listCollections().find((c) => c.id === work.id)).toMatchObject({ label: 'Work (old laptop)', aliases: ['work'] });
    const inside = item(work.id, 'VPN', { host: 'vpn' });
    store.deleteCollection(work.id);
    expect(store.listCollections().map((c) => c.id)).toEqual(['login']);
    expect(store.readAlias('work')).toBeNull();
    expect(store.getItems([inside.id])).toEqual([]);
    expect(store.searchItems(null, { host: 'vpn' })).toEqual([]);
  });

  test('aliases move, clear, and cannot point at a missing collection', () => {
    const other = store.createCollection('Other');
    expect(other.aliases).toEqual([]);
    store.setAlias('default', other.id);
    expect(store.readAlias('default')).toBe(other.id);
    store.setAlias('session', other.id);
    expect(store.listCollections().find((c) => c.id === other.id)!.aliases).toEqual(['default', 'session']);
    expect(store.listCollections().find((c) => c.id === 'login')!.aliases).toEqual([]);
    store.setAlias('default', null);
    expect(store.readAlias('default')).toBeNull();
    expect(codeOf(() => store.setAlias('default', 'nope'))).toBe('NotFound');
    expect(store.readAlias('never-set')).toBeNull();
  });

  test('unknown collections are NotFound', () => {
    expect(codeOf(() => store.setCollectionLabel('nope', 'x'))).toBe('NotFound');
    expect(codeOf(() => store.deleteCollection('nope'))).toBe('NotFound');
    expect(codeOf(() => item('nope', 'x', {}))).toBe('NotFound');
  });
});

describe('items', () => {
  test('create, read, update, set secret, delete', () => {
    const created = item('login', 'GitHub', { service: 'github', user: 'ana' }, 'ghp_1', 'text/plain; charset=utf8');
    expect(created).toMatchObject({ collectionId: 'login', label: 'GitHub', attributes: { service: 'github', user: 'ana' }, contentType: 'text/plain; charset=utf8' });
    expect(store.getItems([created.id, 'unknown'])).toEqual([created]);
    expect(store.getSecret(created.id)).toEqual({ secret: Buffer.from('ghp_1'), contentType: 'text/plain; charset=utf8' });

    store.updateItem(created.id, { label: 'GitHub (work)' });
    expect(store.getItems([created.id])[0]).toMatchObject({ label: 'GitHub (work)', attributes: { service: 'github', user: 'ana' } });
    store.updateItem(created.id, { attributes: { service: 'github', user: 'bea' } });
    expect(store.searchItems(null, { user: 'ana' })).toEqual([]);
    expect(store.searchItems(null, { user: 'bea' })).toEqual([created.id]);

    store.setSecret(created.id, Buffer.from([0, 1, 2, 255]), 'application/octet-stream');
    expect(store.getSecret(created.id)).toEqual({ secret: Buffer.from([0, 1, 2, 255]), contentType: 'application/octet-stream' });
    expect(store.getItems([created.id])[0]!.contentType).toBe('application/octet-stream');

    store.deleteItem(created.id);
    expect(store.getItems([created.id])).toEqual([]);
    expect(codeOf(() => store.getSecret(created.id))).toBe('NotFound');
    expect(codeOf(() => store.deleteItem(created.id))).toBe('NotFound');
    expect(store.searchItems(null, { service: 'github' })).toEqual([]);
  });

  test('binary secrets up to 1 MiB come back byte for byte, and the returned Buffer is the caller’s own copy', () => {
    const big = randomBytes(1024 * 1024);
    const empty = Buffer.alloc(0);
    const a = item('login', 'big', { kind: 'big' }, big, 'application/octet-stream');
    const b = item('login', 'empty', { kind: 'empty' }, empty);
    const first = store.getSecret(a.id).secret;
    expect(first.equals(big)).toBe(true);
    first.fill(0);
    expect(store.getSecret(a.id).secret.equals(big)).toBe(true);
    expect(store.getSecret(b.id).secret.length).toBe(0);
  });

  test('oversized values are refused with TooLarge and nothing is written', () => {
    expect(codeOf(() => item('login', 'x', {}, Buffer.alloc(3 * 1024 * 1024)))).toBe('TooLarge');
    expect(codeOf(() => item('login', 'x'.repeat(10_000), {}))).toBe('TooLarge');
    const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, 'v']));
    expect(codeOf(() => item('login', 'x', many))).toBe('TooLarge');
    expect(store.searchItems(null, {})).toEqual([]);
  });

  test('attributes with awkward names are stored as given', () => {
    const text = '{"__proto__":"p","constructor":"c","":"empty name","\u00fc\\u0000x":"nul inside","xdg":""}';
    const attrs = JSON.parse(text) as Record<string, string>;
    expect(Object.keys(attrs)).toHaveLength(5);
    const created = item('login', 'odd', attrs);
    expect(JSON.stringify(store.getItems([created.id])[0]!.attributes)).toBe(JSON.stringify(attrs));
    expect(store.searchItems(null, JSON.parse('{"__proto__":"p"}') as Record<string, string>)).toEqual([created.id]);
    expect(store.searchItems(null, { 'ü\u0000x': 'nul inside' })).toEqual([created.id]);
  });
});

describe('search', () => {
  test('all-of semantics, per collection and across collections', () => {
    const work = store.createCollection('Work');
    const a = item('login', 'a', { service: 'mail', user: 'ana' });
    const b = item('login', 'b', { service: 'mail', user: 'bea' });
    const c = item(work.id, 'c', { service: 'mail', user: 'ana', host: 'imap' });
    item(work.id, 'd', { service: 'vpn', user: 'ana' });

    expect(sorted(store.searchItems(null, { service: 'mail' }))).toEqual(sorted([a.id, b.id, c.id]));
    expect(sorted(store.searchItems(null, { service: 'mail', user: 'ana' }))).toEqual(sorted([a.id, c.id]));
    expect(store.searchItems('login', { service: 'mail', user: 'ana' })).toEqual([a.id]);
    expect(store.searchItems(work.id, { service: 'mail', user: 'ana' })).toEqual([c.id]);
    expect(store.searchItems(null, { service: 'mail', user: 'ana', host: 'imap' })).toEqual([c.id]);
    expect(store.searchItems(null, { service: 'mail', user: 'cid' })).toEqual([]);
    // A value that matches under another attribute name is not a match.
    expect(store.searchItems(null, { user: 'mail' })).toEqual([]);
    expect(sorted(store.searchItems('login', {}))).toEqual(sorted([a.id, b.id]));
    expect(store.searchItems(null, {}).length).toBe(4);
    expect(store.searchItems('nope', { service: 'mail' })).toEqual([]);
  });

  test('findExact matches the exact attribute set only (create-with-replace)', () => {
    const a = item('login', 'a', { service: 'mail', user: 'ana' });
    const bare = item('login', 'bare', {});
    item('login', 'b', { service: 'mail', user: 'ana', extra: '1' });
    expect(store.findExact('login', { service: 'mail', user: 'ana' })).toBe(a.id);
    expect(store.findExact('login', { service: 'mail' })).toBeNull();
    expect(store.findExact('login', {})).toBe(bare.id);
    const work = store.createCollection('Work');
    expect(store.findExact(work.id, { service: 'mail', user: 'ana' })).toBeNull();
  });
});

describe('signing keys', () => {
  const record = { fingerprint: 'ABCDEF0123456789ABCDEF0123456789ABCDEF01', keyId: '89ABCDEF01', userIds: ['Ana <ana@example.org>'], algorithm: 'ed25519', created: 1_700_000_000 };
  const armored = Buffer.from('-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxyz\n-----END PGP PRIVATE KEY BLOCK-----\n');

  test('put, list, get (any letter case), replace and delete', () => {
    expect(store.listKeys()).toEqual([]);
    store.putKey(record, armored);
    expect(store.listKeys()).toEqual([record]);
    expect(store.getKeySecret(record.fingerprint.toLowerCase()).equals(armored)).toBe(true);
    store.putKey({ ...record, userIds: ['Ana <new@example.org>'] }, Buffer.from('replaced'));
    expect(store.listKeys()).toEqual([{ ...record, userIds: ['Ana <new@example.org>'] }]);
    expect(store.getKeySecret(record.fingerprint).toString()).toBe('replaced');
    store.deleteKey(record.fingerprint);
    expect(store.listKeys()).toEqual([]);
    expect(codeOf(() => store.getKeySecret(record.fingerprint))).toBe('NoSuchKey');
    expect(codeOf(() => store.deleteKey(record.fingerprint))).toBe('NoSuchKey');
  });

  test('subkey fingerprints are kept with the key, and bounded', () => {
    const withSubkeys = { ...record, subkeys: ['1111222233334444555566667777888899990000', 'AAAABBBBCCCCDDDDEEEEFFFF0000111122223333'] };
    store.putKey(withSubkeys, armored);
    expect(store.listKeys()).toEqual([withSubkeys]);
    expect(codeOf(() => store.putKey({ ...record, subkeys: Array(65).fill('A') }, armored))).toBe('InvalidArgs');
    expect(codeOf(() => store.putKey({ ...record, subkeys: ['\x1b[2J'] }, armored))).toBe('InvalidArgs');
    expect(store.listKeys()).toEqual([withSubkeys]);
  });

  test('keys and items survive lock and reopen', async () => {
    store.putKey(record, armored);
    const it = item('login', 'kept', { k: 'v' }, 'kept secret');
    store.close();
    const reopened = dir.open();
    await reopened.unlock(Buffer.from('correct horse battery staple'));
    expect(reopened.listKeys()).toEqual([record]);
    expect(reopened.getKeySecret(record.fingerprint).equals(armored)).toBe(true);
    expect(reopened.getItems([it.id])).toEqual([it]);
    expect(reopened.searchItems('login', { k: 'v' })).toEqual([it.id]);
  });
});
