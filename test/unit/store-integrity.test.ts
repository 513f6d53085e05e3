// What someone holding the file learns (nothing readable), and what damage does (a clear
// StoreCorrupt, never wrong data).
import Database from 'better-sqlite3';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isSdError } from '../../core/errors.js';
import type { SecretStoreApi } from '../../daemon/store/types.js';
import { pw, StoreDir } from '../helpers/store-fixtures.js';

const MARKERS = {
  label: 'PlaintextLabelMarker',
  attrName: 'AttrNameMarker',
  attrValue: 'AttrValueMarker',
  secret: 'SecretValueMarker',
  collection: 'CollectionLabelMarker',
  alias: 'AliasNameMarker',
  contentType: 'application/x-contenttypemarker',
  keyUser: 'KeyUserIdMarker',
  keyArmor: 'KeyArmorMarker',
  fingerprint: 'FEEDFACE0123456789ABCDEF0123456789ABCDEF',
};

/** Everything a caller can read back, in a stable order. */
function snapshot(store: SecretStoreApi): unknown {
  const collections = store.listCollections().sort((a, b) => a.id.localeCompare(b.id));
  const ids = store.searchItems(null, {}).sort();
  const items = store.getItems(ids);
  const secrets = ids.map((id) => {
    const { secret, contentType } = store.getSecret(id);
    return [id, secret.toString('base64'), contentType];
  });
  const searches = items.map((it) => [
    it.id,
    store.searchItems(null, it.attributes).sort(),
    store.searchItems(it.collectionId, it.attributes).sort(),
    store.findExact(it.collectionId, it.attributes),
  ]);
  const perCollection = collections.map((c) => store.searchItems(c.id, {}).sort());
  const aliases = ['default', MARKERS.alias, 'missing'].map((a) => store.readAlias(a));
  const keys = store.listKeys().map((k) => [k, store.getKeySecret(k.fingerprint).toString('base64')]);
  return { collections, items, secrets, searches, perCollection, aliases, keys };
}

async function populate(store: SecretStoreApi): Promise<void> {
  const marked = store.createCollection(MARKERS.collection, MARKERS.alias);
  store.createItem({
    collectionId: marked.id,
    label: MARKERS.label,
    attributes: { [MARKERS.attrName]: MARKERS.attrValue },
    secret: Buffer.from(MARKERS.secret),
    contentType: MARKERS.contentType,
  });
  store.putKey({ fingerprint: MARKERS.fingerprint, keyId: '0123456789ABCDEF', userIds: [MARKERS.keyUser], algorithm: 'ed25519', created: 1 }, Buffer.from(MARKERS.keyArmor));
  // Enough rows that tables span interior b-tree pages and overflow pages.
  for (let i = 0; i < 240; i++) {
    store.createItem({
      collectionId: i % 3 === 0 ? marked.id : 'login',
      label: `item ${i}`,
      attributes: { service: `svc${i % 7}`, user: `user${i}`, ...(i % 5 === 0 ? { shared: 'yes' } : {}) },
      secret: i % 60 === 0 ? Buffer.alloc(9000 + i, i % 251) : Buffer.from(`secret number ${i}`),
      contentType: 'text/plain',
    });
  }
}

describe('nothing readable without the passphrase', () => {
  test('the raw database and WAL contain no label, attribute, secret, collection label, alias, content type or key', async () => {
    const dir = new StoreDir();
    try {
      const { store } = await dir.created();
      await populate(store);
      const check = () => {
        const raw = Buffer.concat([readFileSync(dir.path), existsSync(dir.path + '-wal') ? readFileSync(dir.path + '-wal') : Buffer.alloc(0)]);
        for (const [what, marker] of Object.entries(MARKERS)) {
          for (const form of [marker, marker.toLowerCase(), Buffer.from(marker).toString('base64').slice(0, 16)])
            expect(raw.includes(Buffer.from(form)), `${what} readable as ${form}`).toBe(false);
        }
        return raw.length;
      };
      expect(check()).toBeGreaterThan(100_000);
      store.close();
      check();
    } finally {
      dir.cleanup();
    }
  });
});

describe('damage is detected', () => {
  const dir = new StoreDir();
  let original: Buffer;
  let expected: unknown;

  beforeAll(async () => {
    const { store } = await dir.created();
    await populate(store);
    expected = snapshot(store);
    store.close();
    expect(existsSync(dir.path + '-wal')).toBe(false);
    original = readFileSync(dir.path);
  });
  afterAll(() => dir.cleanup());

  /** 'corrupt' when the store said so at any step, 'same' when everything read back identical. */
  async function outcomeAfter(mutate: (bytes: Buffer) => void, name: string): Promise<'corrupt' | 'same'> {
    const path = join(dir.dir, `${name}.db`);
    const bytes = Buffer.from(original);
    mutate(bytes);
    writeFileSync(path, bytes, { mode: 0o600 });
    let store: SecretStoreApi | null = null;
    try {
      store = dir.open({}, path);
      await store.unlock(pw());
      const seen = snapshot(store);
      expect(seen, `damage (${name}) gave different data without an error`).toEqual(expected);
      return 'same';
    } catch (err) {
      if (isSdError(err, 'StoreCorrupt')) {
        expect(err.message).toMatch(/integrity|damaged|malformed|not a|schema|Restore/i);
        return 'corrupt';
      }
      throw new Error(`damage (${name}) gave ${String(err)} instead of StoreCorrupt`, { cause: err });
    } finally {
      store?.close();
    }
  }

  test('a flipped byte anywhere → StoreCorrupt, or (in unused space) identical data; never wrong data', async () => {
    const pageSize = original.readUInt16BE(16);
    const pages = original.length / pageSize;
    expect(pages).toBeGreaterThan(20);
    // Every byte of the 100-byte file header, then a spread of offsets through every page:
    // page headers, cell pointers, cell contents, overflow pages and free space.
    const offsets = new Set<number>();
    for (let i = 0; i < 100; i++) offsets.add(i);
    let seed = 12345;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let p = 0; p < pages; p++) {
      const base = p * pageSize;
      for (const within of [p === 0 ? 100 : 0, p === 0 ? 101 : 3, p === 0 ? 105 : 8, 12, rand(pageSize), rand(pageSize), pageSize - 1 - rand(64)]) offsets.add(base + within);
    }
    const results = { corrupt: 0, same: 0 };
    for (const offset of [...offsets].sort((a, b) => a - b)) {
      results[await outcomeAfter((b) => (b[offset] = b[offset]! ^ 0xff), `flip-${offset}`)]++;
    }
    // Damage in used space must have been noticed many times over, not just tolerated.
    expect(results.corrupt).toBeGreaterThan(offsets.size / 3);
  }, 120_000);

  test('two rows swapped wholesale (same table, same size) → StoreCorrupt', async () => {
    // Find two equal-length sealed secrets and exchange them in the file: each is valid
    // ciphertext under the store's key, but bound to its own row.
    const store = dir.open();
    await store.unlock(pw());
    const db = (store as unknown as { db: { prepare(sql: string): { raw(): { all(): [string, Buffer][] } } } }).db;
    const rows = db.prepare('SELECT item_id, sealed FROM secrets').raw().all();
    store.close();
    const bySize = new Map<number, Buffer[]>();
    for (const [, sealed] of rows) bySize.set(sealed.length, [...(bySize.get(sealed.length) ?? []), sealed]);
    const pair = [...bySize.values()].find((list) => list.length >= 2)!;
    const [a, b] = [pair[0]!, pair[1]!];
    const outcome = await outcomeAfter((bytes) => {
      const ia = bytes.indexOf(a);
      const ib = bytes.indexOf(b);
      expect(ia).toBeGreaterThan(0);
      expect(ib).toBeGreaterThan(0);
      a.copy(bytes, ib);
      b.copy(bytes, ia);
    }, 'swap');
    expect(outcome).toBe('corrupt');
  });

  test('a lookup row removed cleanly with SQL (the file stays a valid database) → StoreCorrupt at unlock', async () => {
    const path = join(dir.dir, 'edited.db');
    writeFileSync(path, original, { mode: 0o600 });
    const raw = new Database(path);
    const row = raw.prepare('SELECT key_mac, value_mac, item_id FROM attributes').raw(true).get() as [Buffer, Buffer, string];
    raw.prepare('DELETE FROM attributes WHERE key_mac = ? AND value_mac = ? AND item_id = ?').run(...row);
    raw.close();
    // Without the row digest this item would silently drop out of searches.
    const store = dir.open({}, path);
    let code = 'ok';
    try {
      await store.unlock(pw());
    } catch (err) {
      code = isSdError(err) ? err.code : String(err);
    }
    expect(code).toBe('StoreCorrupt');
    expect(store.locked).toBe(true);
  });

  test('a file that is not a store at all → StoreCorrupt at open', async () => {
    const path = join(dir.dir, 'garbage.db');
    writeFileSync(path, Buffer.alloc(8192, 0x41));
    let code = 'ok';
    try {
      dir.open({}, path);
    } catch (err) {
      code = isSdError(err) ? err.code : String(err);
    }
    expect(code).toBe('StoreCorrupt');
  });

  test('an unchanged copy opens and reads back identical (the harness itself is sound)', async () => {
    expect(await outcomeAfter(() => undefined, 'unchanged')).toBe('same');
  });
});
