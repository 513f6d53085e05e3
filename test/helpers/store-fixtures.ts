// Shared by the store tests: a fresh store in a temporary directory with cheap Argon2 parameters
// (the reference 64 MiB / t=3 is exercised by bench/store-bench.ts, not by tests).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSecretStore, type StoreOptions } from '../../daemon/store/secret-store.js';
import type { SecretStoreApi } from '../../daemon/store/types.js';

export const TEST_KDF = { argon2MemoryKiB: 1024, argon2Iterations: 1 } as const;
export const PASSPHRASE = 'correct horse battery staple';

export const pw = (text: string = PASSPHRASE): Buffer => Buffer.from(text, 'utf8');

export class StoreDir {
  readonly dir = mkdtempSync(join(tmpdir(), 'sd-store-test-'));
  readonly path = join(this.dir, 'store.db');
  private readonly opened: SecretStoreApi[] = [];

  open(options: Partial<StoreOptions> = {}, path = this.path): SecretStoreApi {
    const store = openSecretStore(path, { ...TEST_KDF, failureDelayMs: () => 0, ...options });
    this.opened.push(store);
    return store;
  }

  async created(options: Partial<StoreOptions> = {}): Promise<{ store: SecretStoreApi; recoveryCode: string }> {
    const store = this.open(options);
    const recoveryCode = await store.create(pw());
    return { store, recoveryCode };
  }

  cleanup(): void {
    for (const s of this.opened.splice(0)) s.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
