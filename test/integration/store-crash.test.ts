// kill -9 during a burst of 1,000 writes: after reopening and unlocking, every write the child
// had acknowledged is there with the right secret, and the store passes its integrity check.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { pw, StoreDir } from '../helpers/store-fixtures.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let buildDir: string;
let writerJs: string;

beforeAll(() => {
  // Compile just the store and the writer (a few seconds), independent of the rest of the tree.
  // Inside the repository, so the compiled files find node_modules and "type": "module".
  mkdirSync(join(REPO, '.cache'), { recursive: true }); // absent in a fresh clone
  buildDir = mkdtempSync(join(REPO, '.cache', 'store-crash-'));
  const tsc = spawnSync(
    process.execPath,
    [
      join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'),
      ...['--target', 'ES2022', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--strict', '--esModuleInterop', '--skipLibCheck'],
      ...['--types', 'node', '--rootDir', REPO, '--outDir', buildDir],
      join(REPO, 'test', 'helpers', 'store-writer.ts'),
    ],
    { encoding: 'utf8' },
  );
  expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
  writerJs = join(buildDir, 'test', 'helpers', 'store-writer.js');
}, 60_000);

afterAll(() => {
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
});

/** Runs the writer and SIGKILLs it after `killAfter` acknowledged writes; returns n → id acknowledged. */
function burst(dbPath: string, first: number, count: number, killAfter: number): Promise<{ acked: Map<number, string>; finished: boolean }> {
  return new Promise((resolveBurst, reject) => {
    const child = spawn(process.execPath, [writerJs, dbPath, String(first), String(count)], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end(pw());
    const acked = new Map<number, string>();
    let buffered = '';
    let stderr = '';
    let finished = false;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line === 'done') finished = true;
        const m = /^(\d+) ([0-9a-f]+)$/.exec(line);
        if (m) acked.set(Number(m[1]), m[2]!);
      }
      if (acked.size >= killAfter && child.exitCode === null) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL' && code !== 0) reject(new Error(`writer failed (${code}): ${stderr}`));
      else resolveBurst({ acked, finished });
    });
  });
}

test('every acknowledged write survives kill -9 mid-burst, and the store stays consistent', async () => {
  const dir = new StoreDir();
  try {
    (await dir.created()).store.close();
    const acknowledged = new Map<number, string>();
    // Three bursts of 1,000 writes on the same store, killed at different points.
    for (const [round, killAfter] of [[0, 137], [1, 512], [2, 901]] as const) {
      const { acked, finished } = await burst(dir.path, round * 1000, 1000, killAfter);
      expect(finished, 'the writer was killed before the end of its burst').toBe(false);
      expect(acked.size).toBeGreaterThanOrEqual(killAfter);
      for (const [n, id] of acked) acknowledged.set(n, id);

      const store = dir.open();
      await store.unlock(pw()); // recomputes the digest over every row: StoreCorrupt if torn
      for (const [n, id] of acknowledged) {
        const [record] = store.getItems([id]);
        expect(record, `acknowledged item ${n} is missing`).toMatchObject({ label: `burst item ${n}`, attributes: { burst: String(n), parity: String(n % 2) } });
        expect(store.getSecret(id).secret.toString()).toBe(`secret of item ${n} `.repeat(1 + (n % 40)));
      }
      // At most the one write in flight at the kill may be there unacknowledged, and it is whole.
      const all = store.searchItems(null, {});
      expect(all.length - acknowledged.size).toBeGreaterThanOrEqual(0);
      expect(all.length - acknowledged.size).toBeLessThanOrEqual(round + 1);
      for (const record of store.getItems(all)) {
        const n = Number(record.attributes.burst);
        expect(record.label).toBe(`burst item ${n}`);
        expect(store.getSecret(record.id).secret.toString()).toBe(`secret of item ${n} `.repeat(1 + (n % 40)));
        expect(store.searchItems('login', { burst: String(n) })).toEqual([record.id]);
      }
      store.close();
    }
  } finally {
    dir.cleanup();
  }
});
