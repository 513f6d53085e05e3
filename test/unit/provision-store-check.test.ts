// `sd-provision --check`'s store line must recognise a freshly created store while the daemon still
// holds it open: in WAL mode the page with the application id may exist only in the -wal file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { storeHeader } from '../../provision/check.js';
import { readRoot } from '../../provision/state.js';
import { STORE_APPLICATION_ID } from '../../provision/layout.js';
import { openSecretStore } from '../../daemon/store/secret-store.js';
import type { SecretStoreApi } from '../../daemon/store/types.js';

describe('the store check reads page 1 as SQLite sees it', () => {
  let dir: string;
  let store: SecretStoreApi | undefined;
  afterEach(() => {
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the application id of a new store whose header is still in the WAL', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sd-check-store-'));
    const path = join(dir, 'store.db');
    store = openSecretStore(path, { argon2MemoryKiB: 1024, argon2Iterations: 1 });
    await store.create(Buffer.from('a passphrase'));
    const view = readRoot('/');
    // What the old check read: the main file alone does not have it yet.
    const mainOnly = view.readBytes(path, 100);
    expect(mainOnly && mainOnly.length >= 72 ? mainOnly.readUInt32BE(68) : 0).not.toBe(STORE_APPLICATION_ID);
    expect(storeHeader(view, path)!.readUInt32BE(68)).toBe(STORE_APPLICATION_ID);
    store.close();
    store = undefined;
    // After close SQLite checkpoints into the main file; the check still agrees.
    expect(storeHeader(view, path)!.readUInt32BE(68)).toBe(STORE_APPLICATION_ID);
  });

  it('a missing store has no header', () => {
    dir = mkdtempSync(join(tmpdir(), 'sd-check-store-'));
    expect(storeHeader(readRoot('/'), join(dir, 'store.db'))).toBeNull();
  });
});
