// Creating, unlocking, locking and re-keying the store: what a person at the console relies on.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { isSdError } from '../../core/errors.js';
import { defaultFailureDelayMs } from '../../daemon/store/secret-store.js';
import { parseRecoveryCode } from '../../daemon/store/recovery-code.js';
import { pw, StoreDir } from '../helpers/store-fixtures.js';

let dir: StoreDir;
beforeEach(() => {
  dir = new StoreDir();
});
afterEach(() => dir.cleanup());

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (isSdError(err)) return err.code;
    throw err;
  }
  return 'ok';
}

function syncCodeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isSdError(err)) return err.code;
    throw err;
  }
  return 'ok';
}

function fileHash(path: string): string {
  return existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'absent';
}

const addItem = (store: ReturnType<StoreDir['open']>, label = 'GitHub token') =>
  store.createItem({ collectionId: 'login', label, attributes: { service: 'github', user: 'ana' }, secret: Buffer.from('ghp_secret'), contentType: 'text/plain' });

describe('create', () => {
  test('a new store is not initialized; every data call says so', () => {
    const store = dir.open();
    expect(store.initialized).toBe(false);
    expect(store.locked).toBe(true);
    expect(syncCodeOf(() => store.listCollections())).toBe('StoreNotInitialized');
    expect(syncCodeOf(() => store.searchItems(null, {}))).toBe('StoreNotInitialized');
  });

  test('create returns a typable recovery code of at least 128 bits and leaves the store unlocked with the default collection', async () => {
    const { store, recoveryCode } = await dir.created();
    expect(recoveryCode).toMatch(/^([0-9A-Z]{4}-){7}[0-9A-Z]{4}$/);
    expect(parseRecoveryCode(recoveryCode)!.length * 8).toBeGreaterThanOrEqual(128);
    expect(store.initialized).toBe(true);
    expect(store.locked).toBe(false);
    expect(store.listCollections()).toMatchObject([{ id: 'login', aliases: ['default'] }]);
    expect(store.readAlias('default')).toBe('login');
  });

  test('the smallest Argon2 memory the config allows (8 KiB) still works', async () => {
    const { store } = await dir.created({ argon2MemoryKiB: 8, argon2Iterations: 1 });
    store.lock();
    await store.unlock(pw());
    expect(store.locked).toBe(false);
  });

  test('two stores get different recovery codes', async () => {
    const a = await dir.created();
    const other = new StoreDir();
    try {
      const b = await other.created();
      expect(a.recoveryCode).not.toBe(b.recoveryCode);
    } finally {
      other.cleanup();
    }
  });

  test('create twice is refused and the first passphrase still works', async () => {
    const { store } = await dir.created();
    expect(await codeOf(store.create(pw('another')))).toBe('StoreAlreadyInitialized');
    store.lock();
    await store.unlock(pw());
  });

  test('an empty passphrase is refused', async () => {
    const store = dir.open();
    expect(await codeOf(store.create(Buffer.alloc(0)))).toBe('InvalidArgs');
    expect(store.initialized).toBe(false);
  });

  test('the database and its WAL are readable by the owner only', async () => {
    const { store } = await dir.created();
    addItem(store);
    for (const suffix of ['', '-wal', '-shm']) {
      if (existsSync(dir.path + suffix)) expect((statSync(dir.path + suffix).mode & 0o777).toString(8)).toBe('600');
    }
    expect(existsSync(dir.path + '-wal')).toBe(true);
  });

  test('a reopened store is initialized and locked', async () => {
    (await dir.created()).store.close();
    const store = dir.open();
    expect(store.initialized).toBe(true);
    expect(store.locked).toBe(true);
    expect(syncCodeOf(() => store.listCollections())).toBe('StoreLocked');
  });
});

describe('unlock and lock', () => {
  test('lock refuses data calls; unlock with the passphrase brings back the same items', async () => {
    const { store } = await dir.created();
    const item = addItem(store);
    store.lock();
    expect(store.locked).toBe(true);
    expect(syncCodeOf(() => store.getSecret(item.id))).toBe('StoreLocked');
    expect(syncCodeOf(() => store.createItem({ collectionId: 'login', label: 'x', attributes: {}, secret: Buffer.from('x'), contentType: 'text/plain' }))).toBe(
      'StoreLocked',
    );
    await store.unlock(pw());
    expect(store.getSecret(item.id).secret.toString()).toBe('ghp_secret');
  });

  test('lock overwrites the keys held in memory', async () => {
    const { store } = await dir.created();
    // Peek at the private key material (the unlocked session's): the promise is that these very Buffers are zeroed.
    const keys = Object.values((store as unknown as { open: { crypto: { keys: Record<string, Buffer> } } }).open.crypto.keys);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((k) => k.some((b) => b !== 0))).toBe(true);
    store.lock();
    expect(keys.every((k) => k.every((b) => b === 0))).toBe(true);
  });

  test('wrong passphrase → WrongPassphrase; the files are unchanged and the right passphrase still works', async () => {
    const { store } = await dir.created();
    const item = addItem(store);
    store.close();
    const reopened = dir.open();
    const before = [fileHash(dir.path), fileHash(dir.path + '-wal')];
    expect(await codeOf(reopened.unlock(pw('wrong')))).toBe('WrongPassphrase');
    expect(reopened.locked).toBe(true);
    expect(await codeOf(reopened.changePassphrase(pw('wrong'), pw('new one')))).toBe('WrongPassphrase');
    expect(await codeOf(reopened.resetPassphrase('0000-0000-0000-0000-0000-0000-0000-0000', pw('new one')))).toBe('WrongRecoveryCode');
    expect([fileHash(dir.path), fileHash(dir.path + '-wal')]).toEqual(before);
    await reopened.unlock(pw());
    expect(reopened.getSecret(item.id).secret.toString()).toBe('ghp_secret');
    expect(reopened.getItems([item.id])).toEqual([item]);
  });

  test('the delay grows with consecutive failures and starts over after a success', async () => {
    const asked: number[] = [];
    const { store } = await dir.created({ failureDelayMs: (n) => (asked.push(n), 20 * n) });
    store.lock();
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      expect(await codeOf(store.unlock(pw('wrong')))).toBe('WrongPassphrase');
      expect(Date.now() - started).toBeGreaterThanOrEqual(20 * (i + 1) - 2);
    }
    await store.unlock(pw());
    store.lock();
    expect(await codeOf(store.unlock(pw('wrong')))).toBe('WrongPassphrase');
    expect(asked).toEqual([1, 2, 3, 1]);
  });

  test('while a failure delay runs, further attempts (even the right one) get TooManyAttempts', async () => {
    const { store } = await dir.created({ failureDelayMs: () => 300 });
    store.lock();
    const first = codeOf(store.unlock(pw('wrong')));
    await new Promise((r) => setTimeout(r, 100));
    expect(await codeOf(store.unlock(pw()))).toBe('TooManyAttempts');
    expect(await first).toBe('WrongPassphrase');
    await store.unlock(pw());
    expect(store.locked).toBe(false);
  });

  test('a lock() while an unlock is still deriving its key wins: the store stays locked', async () => {
    const { store } = await dir.created();
    store.lock();
    const unlocking = store.unlock(pw());
    store.lock();
    expect(await codeOf(unlocking)).toBe('StoreLocked');
    expect(store.locked).toBe(true);
    await store.unlock(pw());
    expect(store.locked).toBe(false);
  });

  test('unlock while already unlocked tolerates a write landing while the key is derived', async () => {
    const { store } = await dir.created({ argon2MemoryKiB: 16 * 1024, argon2Iterations: 2 });
    const unlocking = store.unlock(pw());
    await new Promise((r) => setTimeout(r, 5));
    const item = addItem(store, 'written during unlock');
    await unlocking;
    store.lock();
    await store.unlock(pw());
    expect(store.getItems([item.id])[0]!.label).toBe('written during unlock');
  });

  test('a closed store refuses calls with a clear error instead of crashing', async () => {
    const { store } = await dir.created();
    store.close();
    expect(store.locked).toBe(true);
    expect(await codeOf(store.unlock(pw()))).toBe('Internal');
    expect(syncCodeOf(() => store.listCollections())).toBe('Internal');
  });

  test('default delay: 0, 1, 2, 4, 8 … seconds, capped at 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(defaultFailureDelayMs)).toEqual([0, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  });
});

describe('passphrase change and recovery', () => {
  test('change passphrase: the new one unlocks, the old one does not, items are intact', async () => {
    const { store } = await dir.created();
    const item = addItem(store);
    await store.changePassphrase(pw(), pw('new passphrase'));
    expect(store.locked).toBe(false);
    store.close();
    const reopened = dir.open();
    expect(await codeOf(reopened.unlock(pw()))).toBe('WrongPassphrase');
    await reopened.unlock(pw('new passphrase'));
    expect(reopened.getSecret(item.id).secret.toString()).toBe('ghp_secret');
  });

  test('change passphrase re-wraps the key only: item rows are byte-identical afterwards', async () => {
    const { store } = await dir.created();
    addItem(store);
    const db = (store as unknown as { db: { prepare(sql: string): { raw(): { all(): unknown[] } } } }).db;
    const rows = () => JSON.stringify(db.prepare('SELECT * FROM items').raw().all());
    const before = rows();
    await store.changePassphrase(pw(), pw('new passphrase'));
    expect(rows()).toBe(before);
  });

  test('recovery code resets a forgotten passphrase; it returns a new code and the old code stops working', async () => {
    const { store, recoveryCode } = await dir.created();
    const item = addItem(store);
    store.close();
    const reopened = dir.open();
    // Typed by a human: lower case, spaces instead of dashes, look-alike letters.
    const typed = recoveryCode.toLowerCase().replace(/-/g, ' ').replace(/0/g, 'o').replace(/1/g, 'l');
    const newCode = await reopened.resetPassphrase(typed, pw('fresh passphrase'));
    expect(newCode).not.toBe(recoveryCode);
    expect(reopened.locked).toBe(true);
    expect(await codeOf(reopened.unlock(pw()))).toBe('WrongPassphrase');
    await reopened.unlock(pw('fresh passphrase'));
    expect(reopened.getSecret(item.id).secret.toString()).toBe('ghp_secret');
    expect(await codeOf(reopened.resetPassphrase(recoveryCode, pw('attacker')))).toBe('WrongRecoveryCode');
    await reopened.resetPassphrase(newCode, pw('third passphrase'));
    reopened.lock();
    await reopened.unlock(pw('third passphrase'));
  });

  test('after a passphrase change the old wrap is gone from the files', async () => {
    const { store } = await dir.created();
    const db = (store as unknown as { db: { prepare(sql: string): { pluck(): { get(...a: unknown[]): Buffer } } } }).db;
    const oldHeader = db.prepare('SELECT value FROM meta WHERE name = ?').pluck().get('header');
    const oldWrap = Buffer.from(JSON.parse(oldHeader.toString()).passphraseWrap as string, 'base64');
    await store.changePassphrase(pw(), pw('new passphrase'));
    const files = Buffer.concat([readFileSync(dir.path), existsSync(dir.path + '-wal') ? readFileSync(dir.path + '-wal') : Buffer.alloc(0)]);
    expect(files.includes(oldWrap)).toBe(false);
    expect(files.includes(Buffer.from(oldWrap.toString('base64')))).toBe(false);
  });
});
