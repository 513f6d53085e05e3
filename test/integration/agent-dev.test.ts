// The dev sandbox with the agent: `secrets-dispatcher dev` in a real pty, then secret-tool in
// "another terminal" using only the env file, approved by pressing y on the sandbox's console.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ensureBuilt } from '../helpers/daemon-harness.js';
import { spawnPty, type PtyScreen } from '../helpers/pty-screen.js';
import { runClient, startClient } from '../helpers/agent-harness.js';

let dir: string;
let dev: PtyScreen;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'sd-agent-dev-'));
  writeFileSync(join(dir, 'pass'), 'dev passphrase\n', { mode: 0o600 });
  const envFile = join(dir, 'env');
  // Node 20 reads a later --env-file as its own option unless its options end with --.
  dev = spawnPty(process.execPath, ['--', CLI, 'dev', '--state', join(dir, 'state'), '--passphrase-file', join(dir, 'pass'), '--env-file', envFile]);
  const until = Date.now() + 60_000;
  while (!existsSync(envFile)) {
    if (Date.now() > until) throw new Error(`no env file; screen:\n${dev.text()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  env = { ...process.env };
  for (const m of readFileSync(envFile, 'utf8').matchAll(/^export ([A-Z_]+)=(.*)$/gm)) env[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1');
});

afterAll(async () => {
  await dev?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('dev sandbox with the agent', () => {
  it('the env file points clients at a session bus where secret-tool works, approved on the console', async () => {
    expect(env.DBUS_SESSION_BUS_ADDRESS).toMatch(/^unix:/);
    const stored = await runClient('secret-tool', ['store', '--label=dev item', 'dev', 'one'], env, 'dev-secret');
    expect(stored.stderr).toBe('');
    const lookup = startClient('secret-tool', ['lookup', 'dev', 'one'], env);
    // The list row leads with who asks, so the item's label is looked for in the detail pane.
    await dev.waitForText(/Item\s+dev item/, 20_000);
    await new Promise((r) => setTimeout(r, 800));
    dev.send('y');
    const r = await lookup.done;
    expect(r.stdout.toString()).toBe('dev-secret');
  });
});
