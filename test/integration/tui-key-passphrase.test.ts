// A signing key protected by its own passphrase is approved by typing that passphrase on the real
// console (pty), never on the desktop side: `secrets-dispatcher gpg import` only sends the armored key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg-home.js';
import { runCli } from '../helpers/gpg-flow.js';
import { KEYS, spawnPty, type PtyScreen } from '../helpers/pty-screen.js';

const GUARD_WAIT_MS = 350;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a passphrase-protected key on the console', () => {
  let h: DaemonHarness;
  let signer: GpgHome;
  let tui: PtyScreen;

  beforeAll(async () => {
    h = await startDaemonHarness({ registerConsole: false, config: { requestTimeoutSeconds: 60 } });
    signer = createGpgHome();
    tui = spawnPty(process.execPath, ['--', CLI, 'tui'], { cols: 120, rows: 40, env: h.env });
    await tui.waitForText('store unlocked | 0 pending', 20_000);
  });
  afterAll(async () => {
    await tui?.close();
    signer?.cleanup();
    await h?.stop();
  });

  async function importThroughConsole(armored: Buffer, typed: string) {
    await tui.waitForText('| 0 pending');
    const running = runCli(h, ['gpg', 'import', '-'], { input: armored });
    // The pending count, not the word KEY: an earlier decision stays listed under Recent.
    await tui.waitForText('| 1 pending', 20_000);
    await sleep(GUARD_WAIT_MS);
    tui.send('y');
    await tui.waitForText('type it to approve');
    expect(tui.text()).not.toContain(typed);
    tui.send(typed);
    await sleep(50);
    // Masked: stars, never the characters.
    expect(tui.text()).not.toContain(typed);
    tui.send(KEYS.enter);
    return running.done;
  }

  it('wrong passphrase stores nothing; the right one imports the key, typed only on the console', async () => {
    const fpr = signer.generate('Locked Key <locked@example.org>', 'ed25519', 'key passphrase 42');
    const armored = signer.exportSecret(fpr, 'key passphrase 42');

    const wrong = await importThroughConsole(armored, 'not the one');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/Wrong passphrase/);
    expect((await runCli(h, ['gpg', 'list']).done).stdout).not.toContain(fpr);

    const right = await importThroughConsole(armored, 'key passphrase 42');
    expect(right.code).toBe(0);
    expect((await runCli(h, ['gpg', 'list']).done).stdout).toContain(fpr);
  });
});
