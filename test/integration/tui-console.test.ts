// The approval console through a real pty (node-pty, screen read with @xterm/headless) against the
// real daemon on a private bus with our policy; requesters are real D-Bus clients.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BusClient } from '../helpers/bus-client.js';
import { CLI, startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';
import { KEYS, spawnPty, type PtyScreen } from '../helpers/pty-screen.js';

const ERR = 'net.mowaka.SecretsDispatcher1.Error.';
const GUARD_WAIT_MS = 350;

let h: DaemonHarness;
let desktop: BusClient;
let itemId: string;
let tui: PtyScreen;

const createItem = async (label: string, attributes: Record<string, string>, secret: string) =>
  (await desktop.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', label, attributes, Buffer.from(secret), 'text/plain', false, {}] }))[0] as string;

const getSecrets = (ids: string[]) => desktop.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [ids, {}], timeoutMs: 30_000 });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startTui(cols = 120, rows = 40): PtyScreen {
  return spawnPty(process.execPath, ['--', CLI, 'tui'], { cols, rows, env: h.env });
}

/** Waits until no request is pending on the daemon (the console decided it). */
async function pendingCount(): Promise<number> {
  return (await h.console.listPending()).length;
}

beforeAll(async () => {
  h = await startDaemonHarness({ registerConsole: false, config: { requestTimeoutSeconds: 60 } });
  desktop = await h.client();
  itemId = await createItem('GitHub token', { service: 'github', user: 'nb' }, 's3cret-value');
  tui = startTui();
  await tui.waitForText('store unlocked | 0 pending', 20_000);
});

afterAll(async () => {
  await tui?.close();
  await h?.stop();
});

afterEach(async () => {
  // Leave no request behind for the next test: deny whatever is still waiting.
  for (const r of await h.console.listPending()) await h.console.decide(r.id, 'deny').catch(() => undefined);
  if (!/^y allow once/m.test(tui.text())) {
    tui.send(KEYS.escape);
    await tui.waitForText(/^y allow once/m);
  }
  await tui.waitForText('No pending requests');
});

describe('a secret request on the console', () => {
  // A latency on a shared 2-core machine is noisy: the median of five requests is held to 100 ms, and a
  // run starved by other processes is measured again (up to twice) rather than passed.
  it('appears within 100 ms (median of 5) with the item, attributes, collection and requester facts', { retry: 2 }, async () => {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const reading = getSecrets([itemId]).catch(() => undefined);
      times.push(await tui.waitForText(/^> SECRET .*GitHub token/m));
      const screen = tui.text();
      for (const field of ['GitHub token', 'service = github', 'user = nb', 'Collection  Login', `uid ${process.getuid!()}`, `pid ${process.pid}`,
        process.execPath, 'cwd', 'parents', 'a remembers']) {
        expect(screen).toContain(field);
      }
      await sleep(GUARD_WAIT_MS);
      tui.send('n');
      await reading;
      await tui.waitForText('No pending requests');
    }
    times.sort((a, b) => a - b);
    console.log(`request on screen after ${times.map((t) => t.toFixed(1)).join(', ')} ms`);
    expect(times[2]).toBeLessThan(100);
  });

  it('y gives the requester the secret', async () => {
    const reading = getSecrets([itemId]);
    await tui.waitForText(/^> SECRET .*GitHub token/m);
    await sleep(GUARD_WAIT_MS);
    tui.send('y');
    const [secrets] = await reading;
    expect(Buffer.from(secrets[0][1]).toString()).toBe('s3cret-value');
    await tui.waitForText(/allowed once +SECRET/);
  });

  it('n gives the requester Denied', async () => {
    const reading = getSecrets([itemId]);
    await tui.waitForText(/^> SECRET .*GitHub token/m);
    await sleep(GUARD_WAIT_MS);
    tui.send('n');
    await expect(reading).rejects.toMatchObject({ dbusName: `${ERR}Denied` });
    await tui.waitForText(/denied +SECRET/);
  });

  it('a allows and remembers what the screen said: the next read is answered without asking', async () => {
    const reading = getSecrets([itemId]);
    await tui.waitForText(/^> SECRET .*GitHub token/m);
    expect(tui.text()).toMatch(/a remembers +[\s\S]*?for \d+ min/);
    await sleep(GUARD_WAIT_MS);
    tui.send('a');
    await reading;
    const again = await getSecrets([itemId]);
    expect(Buffer.from(again[0][0][1]).toString()).toBe('s3cret-value');
    expect(await pendingCount()).toBe(0);
    // Revoke it from the console's remembered list so later tests are asked again.
    tui.send('r');
    await tui.waitForText(/Remembered decisions[\s\S]*SECRET/);
    tui.send('d');
    await tui.waitForText('No remembered decisions.');
  });

  it('P allows this process until it exits, the list says so, and X in the remembered view revokes everything', async () => {
    const reading = getSecrets([itemId]);
    await tui.waitForText(/^> SECRET .*GitHub token/m);
    await tui.waitForText(new RegExp(`P process +the process pid ${process.pid} \\(`));
    await sleep(GUARD_WAIT_MS);
    tui.send('P');
    await reading;
    await getSecrets([itemId]);
    expect(await pendingCount()).toBe(0);
    tui.send('r');
    await tui.waitForText(/Remembered decisions[\s\S]*SECRET[^\n]*process/);
    tui.send('X');
    await tui.waitForText('No remembered decisions.');
    const asked = getSecrets([itemId]).then(() => 'allowed', () => 'denied');
    tui.send(KEYS.escape);
    await tui.waitForText(/^> SECRET .*GitHub token/m);
    await sleep(GUARD_WAIT_MS);
    tui.send('n');
    expect(await asked).toBe('denied');
  });

  it('ignores a key pressed within the guard time after the request appeared', async () => {
    const reading = getSecrets([itemId]).then(() => 'allowed', () => 'denied');
    await tui.waitForText(/^> SECRET .*GitHub token/m);
    tui.send('y');
    await tui.waitForText('Key ignored');
    expect(await pendingCount()).toBe(1);
    await sleep(GUARD_WAIT_MS);
    tui.send('y');
    expect(await reading).toBe('allowed');
  });

  it('re-lays out on resize', async () => {
    const reading = getSecrets([itemId]).catch(() => undefined);
    await tui.waitForText(/^> SECRET .*GitHub token/m);
    tui.resize(80, 24);
    // At 80 columns the keys wrap onto the last two lines, none cut.
    await tui.waitFor((l) => l[22]!.startsWith('y allow once') && /p passphrase\s*$/.test(l[23]!) && l[0]!.includes('1 pending') && l.every((x) => x.length <= 80), 'the 80x24 layout');
    expect(tui.text()).toContain('GitHub token');
    tui.resize(120, 40);
    await tui.waitFor((l) => l[39]!.startsWith('y allow once'), 'the 120x40 layout');
    await sleep(GUARD_WAIT_MS);
    tui.send('n');
    await reading;
  });
});

describe('a signing request with a long message', () => {
  let fingerprint: string;

  beforeAll(async () => {
    const generating = desktop.call({ member: 'GenerateKey', signature: 'sssa{sv}', body: ['Test Signer', 'signer@example.org', '', {}], timeoutMs: 60_000 });
    await tui.waitForText(/^> KEY /m);
    expect(tui.text()).toContain('Key action');
    await sleep(GUARD_WAIT_MS);
    tui.send('y');
    [fingerprint] = await generating;
  });

  const commit = (message: string) => Buffer.from(
    'tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n' +
    'author Test Signer <signer@example.org> 1764000000 +0000\n' +
    'committer Test Signer <signer@example.org> 1764000000 +0000\n\n' + message);

  const sign = (message: string) =>
    desktop.call({ member: 'Sign', signature: 'aysa{sv}', body: [commit(message), fingerprint, {}], timeoutMs: 60_000 });

  it('Enter shows the full detail and scrolling reaches line 500 of the message', async () => {
    const body = Array.from({ length: 500 }, (_, i) => `body line ${i + 1}`).join('\n');
    const signing = sign(`Subject of a long commit\n\n${body}\n`);
    await tui.waitForText(/^> SIGN /m);
    expect(tui.text()).toContain('Subject of a long commit');
    expect(tui.text()).not.toContain('body line 500');
    tui.send(KEYS.enter);
    await tui.waitForText('Full detail');
    tui.send(KEYS.pageDown);
    await tui.waitForText('body line 40');
    tui.send('G');
    await tui.waitForText('body line 500');
    await sleep(GUARD_WAIT_MS);
    tui.send('y');
    const [armored] = await signing;
    expect(armored).toContain('-----BEGIN PGP SIGNATURE-----');
  });

  it('shows hostile label and message inert and truncated, and the rest of the screen unchanged', async () => {
    const hostile = 'pwn\x1b[2J\x1b[H\x1b]0;owned\x07 safe\rEVIL ab\b\bc \u202Egpj.exe\u200B';
    const tenThousand = Array.from({ length: 10_000 }, (_, i) => `spam ${i}`).join('\n');
    const evilItem = await createItem(hostile, { note: hostile }, "x");
    const reading = getSecrets([evilItem]).catch(() => undefined);
    await tui.waitForText(/^> SECRET .*pwn/m);
    const lines = tui.lines();
    expect(lines[0]).toMatch(/^ Secrets Dispatcher - approval console/);
    expect(lines[39]).toMatch(/^y allow once/);
    expect(tui.text()).toContain('pwn\\x1b[2J\\x1b[H\\x1b]0;owned\\x07 safe\\rEVIL ab\\b\\bc <U+202E>gpj.exe<U+200B>');
    await sleep(GUARD_WAIT_MS);
    tui.send('n');
    await reading;

    const signing = sign(`${hostile}\n${tenThousand}\n`).catch((e) => e);
    await tui.waitForText(/^> SIGN /m);
    tui.send(KEYS.enter);
    await tui.waitForText('Full detail');
    tui.send('G');
    await tui.waitForText(/\[… \d+ more lines not shown\]/);
    const detail = tui.lines();
    expect(detail[0]).toMatch(/^ Secrets Dispatcher - approval console/);
    expect(detail[39]).toMatch(/^y allow once/);
    expect(tui.titles).toEqual([]);
    // The raw stream never carried the requester's escape bytes.
    expect(tui.raw()).not.toContain('\x1b]0;owned');
    expect(tui.raw()).not.toContain('\u202E');
    await sleep(GUARD_WAIT_MS);
    tui.send('n');
    expect((await signing).dbusName).toBe(`${ERR}Denied`);
  });
});

describe('resilience', () => {
  it('says when the daemon restarts, reconnects, and shows the new state', async () => {
    await h.restartDaemon();
    await tui.waitForText(/Connected to the daemon again/, 20_000);
    const reading = getSecrets([itemId]);
    await tui.waitForText(/^> SECRET .*GitHub token/m);
    await sleep(GUARD_WAIT_MS);
    tui.send('y');
    await reading;
  });

  it('a console killed with -9 loses nothing: a new one shows the waiting request', async () => {
    const reading = getSecrets([itemId]);
    await tui.waitForText(/^> SECRET .*GitHub token/m);
    tui.kill('SIGKILL');
    await tui.exited;
    await sleep(200);
    expect(await pendingCount()).toBe(1);
    tui = startTui();
    await tui.waitForText(/^> SECRET .*GitHub token/m, 20_000);
    await sleep(GUARD_WAIT_MS);
    tui.send('y');
    const [secrets] = await reading;
    expect(Buffer.from(secrets[0][1]).toString()).toBe('s3cret-value');
  });
});
