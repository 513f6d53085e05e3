// Creating, locking and unlocking the store from the console, through a pty against the real daemon:
// masked entry, typed twice on first run, the recovery code shown once, a wrong passphrase refused;
// changing the passphrase (p) and resetting a forgotten one with the recovery code (Ctrl+R).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';
import { KEYS, spawnPty, type PtyScreen } from '../helpers/pty-screen.js';

const PASSPHRASE = 'typed on the console';
const CHANGED = 'changed on the console';
const RESET = 'set with the recovery code';
const CTRL_R = '\x12';
let h: DaemonHarness;
let tui: PtyScreen;
/** The recovery code the console showed when it created the store. */
let createdCode = '';

/** The code line of the recovery-code screen (indented by four spaces). */
function shownCode(): string {
  return tui.lines().find((l) => /^ {4}\S/.test(l))!.trim();
}

/** Lock with l, type `passphrase` at the unlock prompt; resolves once the daemon says unlocked or the screen says wrong. */
async function lockAndTry(passphrase: string): Promise<void> {
  tui.send('l');
  await tui.waitForText('The store is locked. Passphrase:');
  tui.send(`${passphrase}\r`);
  await tui.waitForText(/store unlocked|Wrong passphrase/, 20_000);
}

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
    const code = shownCode();
    expect(code.length).toBeGreaterThan(10);
    createdCode = code;
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

  it('p then Esc at any step changes nothing', async () => {
    for (const steps of [[], [PASSPHRASE], [PASSPHRASE, CHANGED], [PASSPHRASE, CHANGED, 'half']]) {
      tui.send('p');
      await tui.waitForText('Current passphrase:');
      expect(tui.text()).toContain('Esc cancel');
      const [current, fresh, again] = steps;
      if (current !== undefined) {
        tui.send(`${current}\r`);
        await tui.waitForText('Choose the new passphrase:');
      }
      if (fresh !== undefined) {
        tui.send(`${fresh}\r`);
        await tui.waitForText('Type the new passphrase again:');
      }
      if (again !== undefined) {
        tui.send(again);
        await tui.waitForText(/again: \*{4}$/m);
      }
      tui.send(KEYS.escape);
      await tui.waitForText('Cancelled: the passphrase was not changed.');
      await tui.waitForText(/^y allow once/m);
    }
    expect(await h.console.status()).toMatchObject({ locked: false });
    await lockAndTry(PASSPHRASE);
    expect(await h.console.status()).toMatchObject({ locked: false });
  });

  it('a wrong current passphrase is refused on screen; the store stays unlocked and the old passphrase still works', async () => {
    tui.send('p');
    await tui.waitForText('Current passphrase:');
    tui.send('not the passphrase\r');
    await tui.waitForText('Choose the new passphrase:');
    tui.send(`${CHANGED}\r`);
    await tui.waitForText('Type the new passphrase again:');
    tui.send(`${CHANGED}\r`);
    await tui.waitForText('Wrong current passphrase: nothing was changed', 20_000);
    expect(await h.console.status()).toMatchObject({ locked: false });
    expect(tui.text()).toContain('store unlocked');
    await lockAndTry(CHANGED);
    expect(tui.text()).toContain('Wrong passphrase');
    tui.send(`${PASSPHRASE}\r`);
    await tui.waitForText('store unlocked', 20_000);
    expect(await h.console.status()).toMatchObject({ locked: false });
  });

  it('p changes the passphrase: masked, typed twice; after locking only the new one unlocks', async () => {
    tui.send('p');
    await tui.waitForText('Current passphrase:');
    tui.send(PASSPHRASE);
    await tui.waitForText(new RegExp(`Current passphrase: \\*{${PASSPHRASE.length}}$`, 'm'));
    tui.send('\r');
    await tui.waitForText('Choose the new passphrase:');
    tui.send(`${CHANGED}\r`);
    await tui.waitForText('Type the new passphrase again:');
    tui.send(`${CHANGED}\r`);
    await tui.waitForText('Passphrase changed', 20_000);
    expect(tui.text()).not.toMatch(new RegExp(`${PASSPHRASE}|${CHANGED}`));
    expect(await h.console.status()).toMatchObject({ locked: false });
    await lockAndTry(PASSPHRASE);
    expect(tui.text()).toContain('Wrong passphrase');
    expect(await h.console.status()).toMatchObject({ locked: true });
    tui.send(`${CHANGED}\r`);
    await tui.waitForText('store unlocked', 20_000);
    expect(await h.console.status()).toMatchObject({ locked: false });
  });

  it('Ctrl+R at the unlock prompt: Esc goes back; a wrong recovery code is refused and changes nothing', async () => {
    tui.send('l');
    await tui.waitForText('Forgot it? Ctrl+R: reset with the recovery code.');
    tui.send(CTRL_R);
    await tui.waitForText('Recovery code (as written down):');
    tui.send(KEYS.escape);
    await tui.waitForText('The store is locked. Passphrase:');
    // A typo in one group of the real code.
    const typo = `${createdCode[0] === 'A' ? 'B' : 'A'}${createdCode.slice(1)}`;
    tui.send(CTRL_R);
    await tui.waitForText('Recovery code (as written down):');
    tui.send(typo);
    await tui.waitForText(`(as written down): ${typo}`);
    tui.send('\r');
    await tui.waitForText('Choose a new passphrase for the store:');
    expect(tui.text()).not.toContain(typo);
    tui.send(`${RESET}\r`);
    await tui.waitForText('Type the new passphrase again:');
    tui.send(`${RESET}\r`);
    await tui.waitForText('Wrong recovery code: nothing was changed', 20_000);
    expect(tui.text()).toContain('The store is locked. Passphrase:');
    expect(await h.console.status()).toMatchObject({ locked: true });
    tui.send(`${CHANGED}\r`);
    await tui.waitForText('store unlocked', 20_000);
  });

  it('Ctrl+R with the code from store creation: a new code is shown once, the store unlocks, only the new passphrase works', async () => {
    tui.send('l');
    await tui.waitForText('The store is locked. Passphrase:');
    tui.send(CTRL_R);
    await tui.waitForText('Recovery code (as written down):');
    tui.send(`${createdCode}\r`);
    await tui.waitForText('Choose a new passphrase for the store:');
    tui.send(`${RESET}\r`);
    await tui.waitForText('Type the new passphrase again:');
    tui.send(`${RESET}\r`);
    await tui.waitForText('Recovery code (shown only this once', 20_000);
    expect(tui.text()).toContain('The passphrase is reset. The old recovery code no longer works');
    const fresh = shownCode();
    expect(fresh).toMatch(/^([0-9A-Z]{4}-){7}[0-9A-Z]{4}$/);
    expect(fresh).not.toBe(createdCode);
    // The daemon leaves the store locked after a reset; the console unlocks it with the new passphrase.
    await expect.poll(async () => (await h.console.status()).locked, { timeout: 20_000 }).toBe(false);
    tui.send('y');
    tui.send(KEYS.escape);
    // Give the keys time to land: only Enter may take the code away.
    await new Promise((r) => setTimeout(r, 300));
    expect(shownCode()).toBe(fresh);
    tui.send(KEYS.enter);
    await tui.waitForText('No pending requests');
    expect(tui.text()).not.toContain(fresh);
    expect(tui.text()).toContain('store unlocked');
    await lockAndTry(CHANGED);
    expect(tui.text()).toContain('Wrong passphrase');
    tui.send(`${RESET}\r`);
    await tui.waitForText('store unlocked', 20_000);
    expect(await h.console.status()).toMatchObject({ locked: false });
    // Neither the codes nor the passphrases reached the daemon's log.
    const log = h.daemonLog();
    for (const secret of [createdCode, fresh, PASSPHRASE, CHANGED, RESET]) expect(log).not.toContain(secret);
  });
});
