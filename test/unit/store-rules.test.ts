// The console's persisted rules in the real store file: sealed, back after a reopen, refused while
// locked, covered by the row digest, and a store from before rules opens with every item kept.
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSdError } from '../../core/errors.js';
import type { RuleRecord } from '../../daemon/store/types.js';
import { pw, StoreDir } from '../helpers/store-fixtures.js';

let dir: StoreDir;
beforeEach(() => {
  dir = new StoreDir();
});
afterEach(() => dir.cleanup());

const rule = (id: string): RuleRecord => ({
  id, scope: 'deny-always', verdict: 'deny', persisted: true, kind: 'secret', uid: 1000, exe: '/usr/bin/curl',
  holder: 'any process of uid 1000 that presents itself as /usr/bin/curl, in any session,', target: 'item-1', targetLabel: "'db password'",
  createdAt: 1_700_000_000_000, anchor: 'G\0exe\0/usr/bin/curl',
});

const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (isSdError(err)) return err.code;
    throw err;
  }
};

describe('rules in the store', () => {
  it('come back after the store is closed and unlocked again, and a deleted one stays deleted', async () => {
    const { store } = await dir.created();
    store.putRule(rule('m1'));
    store.putRule(rule('m2'));
    store.deleteRule('m1');
    store.close();
    const again = dir.open();
    await again.unlock(pw());
    expect(again.listRules()).toEqual([rule('m2')]);
  });

  it('are refused while the store is locked', async () => {
    const { store } = await dir.created();
    store.lock();
    expect(codeOf(() => store.listRules())).toBe('StoreLocked');
    expect(codeOf(() => store.putRule(rule('m1')))).toBe('StoreLocked');
  });

  it('are sealed: the file holds no holder words, and a row removed behind the store\'s back fails the digest', async () => {
    const { store } = await dir.created();
    store.putRule(rule('m1'));
    store.close();
    const db = new Database(dir.path);
    const cells = db.prepare('SELECT id, sealed FROM rules').raw(true).all() as [string, Buffer][];
    expect(cells).toHaveLength(1);
    expect(cells[0]![1].includes(Buffer.from('/usr/bin/curl'))).toBe(false);
    // Deleting a "deny always" rule would quietly allow again: the digest says the store was changed.
    db.prepare('DELETE FROM rules').run();
    db.close();
    const again = dir.open();
    await expect(again.unlock(pw())).rejects.toMatchObject({ code: 'StoreCorrupt' });
  });

  it('a version 1 store (before rules) opens, unlocks with every item, and takes rules', async () => {
    const { store } = await dir.created();
    store.createItem({ collectionId: 'login', label: 'old item', attributes: { a: 'b' }, secret: Buffer.from('old'), contentType: 'text/plain' });
    store.close();
    const db = new Database(dir.path);
    db.exec('DROP TABLE rules');
    db.pragma('user_version = 1');
    db.close();
    const again = dir.open();
    await again.unlock(pw());
    expect(again.getItems(again.searchItems(null, { a: 'b' })).map((i) => i.label)).toEqual(['old item']);
    again.putRule(rule('m1'));
    expect(again.listRules()).toHaveLength(1);
  });
});
