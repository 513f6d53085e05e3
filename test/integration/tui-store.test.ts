// Creating, locking and unlocking the store from the console, through a pty against the real daemon:
// masked entry, typed twice on first run, the recovery code shown once, a wrong passphrase refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';
import { KEYS, spawnPty, type PtyScreen } from '../helpers/pty-screen.js';

const PASSPHRASE = 'typed on the console';
let h: DaemonHarness;
let tui: PtyScreen;

beforeAll(async () => {
  h = await startDaemonHarness({ registerConsole: false, createStore: false });
  tui = spawnPty(process.execPath, ['--', CLI, 'tui'], { env: h.env });
});

afterAll(async () => {
  await tui?.close();
  await h?.stop();
});

describe('the store from the console', () => {
  it('first run: asks twice, masks what is typed, creates the store and shows the recovery code once', async () => {
    await tui.waitForText('First run: choose a passphrase for the new store:', 20_000);
    tui.send('wrong one');
    await tui.waitForText(/new store: \*{9}$/m);
    tui.send(KEYS.ctrlU);
    await tui.waitForText(/new store:$/m);
    tui.send(`${PASSPHRASE}\r`);
    await tui.waitForText('Type the new passphrase again:');
    expect(tui.text()).not.toContain(PASSPHRASE);
    tui.send(`${PASSPHRASE}\r`);
    await tui.waitForText('Recovery code (shown only this once');
    const code = tui.lines().find((l) => /^ {4}\S/.test(l))!.trim();
    expect(code.length).toBeGreaterThan(10);
    tui.send('y');
    expect(tui.text()).toContain(code);
    tui.send(KEYS.enter);
    // The title already said "store unlocked" while the code was shown: wait for the list itself.
    await tui.waitForText('No pending requests');
    expect(tui.text()).not.toContain(code);
    expect(await h.console.status()).toMatchObject({ initialized: true, locked: false });
  });

  it('l locks; a wrong passphrase is refused with a message; the right one unlocks', async () => {
    tui.send('l');
    await tui.waitForText('The store is locked. Passphrase:');
    expect(await h.console.status()).toMatchObject({ locked: true });
    tui.send('not it\r');
    await tui.waitForText(/Wrong passphrase/, 20_000);
    expect(await h.console.status()).toMatchObject({ locked: true });
    tui.send(`${PASSPHRASE}\r`);
    await tui.waitForText('store unlocked', 20_000);
    expect(await h.console.status()).toMatchObject({ locked: false });
  });

  it('h shows the history of store events', async () => {
    tui.send('h');
    await tui.waitForText('History (newest first)');
    await tui.waitForText(/STORE +console +.*unlock/);
    tui.send(KEYS.escape);
    await tui.waitForText(/^y allow once/m);
  });
});
