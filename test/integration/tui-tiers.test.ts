// Sensitivity tiers end to end: the real daemon on a private bus, the real console in a pty, the
// desktop as a plain D-Bus client. A high-tier item is asked for every time and approved only by
// typing the word the console shows; the desktop may raise a tier but never lower it; the console
// can. Whoever calls Decide on a high-tier request without the word is refused by the daemon.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Variant } from '../../core/dbus/bus.js';
import type { BusClient } from '../helpers/bus-client.js';
import { CLI, startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';
import { KEYS, spawnPty, type PtyScreen } from '../helpers/pty-screen.js';

const ERR = 'net.mowaka.SecretsDispatcher1.Error.';
/** The console's guard time (keys ignored right after a request appears), as tui-console.test.ts waits it out. */
const GUARD_WAIT_MS = 350;

let h: DaemonHarness;
let desktop: BusClient;
let tui: PtyScreen;

const tierContext = (tier: string | number) => ({ tier: typeof tier === 'number' ? new Variant('u', tier) : new Variant('s', tier) });

const createItem = async (label: string, attributes: Record<string, string>, secret: string, context: Record<string, unknown> = {}, replace = false) =>
  (await desktop.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', label, attributes, Buffer.from(secret), 'text/plain', replace, context], timeoutMs: 30_000 }))[0] as string;

const getSecrets = (ids: string[]) => desktop.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [ids, {}], timeoutMs: 30_000 });
const secretText = (reply: any[]) => Buffer.from(reply[0][0][1]).toString();

const tierOf = async (id: string): Promise<string> => {
  const [[row]] = await desktop.call({ member: 'GetItems', signature: 'as', body: [[id]] });
  return row[7];
};

const updateItem = (id: string, label: string, attributes: Record<string, string>, context: Record<string, unknown>) =>
  desktop.call({ member: 'UpdateItem', signature: 'ssa{ss}a{sv}', body: [id, label, attributes, context], timeoutMs: 30_000 });

const errorName = (p: Promise<unknown>) => p.then(() => 'ok', (err: { dbusName?: string }) => err.dbusName ?? String(err));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Type a word into the console's prompt and press Enter. */
function type(text: string): void {
  tui.send(`${text}\r`);
}

beforeAll(async () => {
  h = await startDaemonHarness({ registerConsole: false, config: { requestTimeoutSeconds: 60 } });
  desktop = await h.client();
  tui = spawnPty(process.execPath, ['--', CLI, 'tui'], { cols: 120, rows: 40, env: h.env });
  await tui.waitForText('store unlocked | 0 pending', 20_000);
});

afterAll(async () => {
  await tui?.close();
  await h?.stop();
});

afterEach(async () => {
  for (const r of await h.console.listPending()) await h.console.decide(r.id, 'deny').catch(() => undefined);
  if (!/^y allow once/m.test(tui.text())) {
    tui.send(KEYS.escape);
    await tui.waitForText(/^y allow once/m);
  }
  await tui.waitForText('No pending requests');
});

describe('a high-tier item', () => {
  it('is asked for every time, even right after a; y alone does not approve it, the word does', async () => {
    const id = await createItem('Prod DB', { service: 'prod-db' }, 'prod-secret', tierContext('high'));
    expect(await tierOf(id)).toBe('high');

    const reading = getSecrets([id]);
    await tui.waitForText(/^> SECRET HIGH.*Prod DB/m);
    const { confirmWord, rememberScope } = await h.console.waitForPending((r) => r.items[0]?.itemId === id);
    expect(rememberScope).toBeNull();
    expect(confirmWord).toMatch(/^[a-z]{4}$/);
    await tui.waitForText(`HIGH   asked every time, never remembered: y, then type the word ${confirmWord}`);
    expect(tui.text()).toMatch(/a remembers +nothing: tier high is never remembered/);

    await sleep(GUARD_WAIT_MS);
    tui.send('a');
    await tui.waitForText('Tier high is never remembered');
    tui.send('y');
    await tui.waitForText(`Type the word ${confirmWord} to approve once`);
    type('zzzz');
    await tui.waitForText('That is not the word');
    expect(await h.console.listPending()).toHaveLength(1);
    type(confirmWord!.toUpperCase());
    expect(secretText(await reading)).toBe('prod-secret');

    // Asked again at once: nothing was remembered.
    const again = getSecrets([id]).then(secretText, () => 'refused');
    const second = await h.console.waitForPending((r) => r.items[0]?.itemId === id);
    expect(second.confirmWord).toMatch(/^[a-z]{4}$/);
    await tui.waitForText(/^> SECRET HIGH.*Prod DB/m);
    await sleep(GUARD_WAIT_MS);
    tui.send('n');
    expect(await again).toBe('refused');
    expect(await h.console.listRemembered()).toEqual([]);
  });

  it('a remembered decision stops covering an item once it is raised to high', async () => {
    const id = await createItem('CI token', { service: 'ci' }, 'ci-secret');
    const first = getSecrets([id]);
    await tui.waitForText(/^> SECRET .*CI token/m);
    await sleep(GUARD_WAIT_MS);
    tui.send('a');
    await first;
    expect(secretText(await getSecrets([id]))).toBe('ci-secret');

    // The desktop raises it: a change to the item, approved like any other at its tier then (normal).
    const raising = updateItem(id, 'CI token', { service: 'ci' }, tierContext('high'));
    const write = await h.console.waitForPending((r) => r.kind === 'write');
    expect(write.summary).toContain('and raise its tier to high');
    await h.console.decide(write.id, 'once');
    await raising;
    expect(await tierOf(id)).toBe('high');
    expect((await h.console.history()).find((e) => e.detail === 'tier normal -> high')).toMatchObject({ kind: 'write', outcome: 'done' });

    const reading = getSecrets([id]).then(secretText, () => 'refused');
    const asked = await h.console.waitForPending((r) => r.kind === 'secret');
    expect(asked.tier).toBe('high');
    await h.console.call({ member: 'DecideConfirmed', signature: 'ss', body: [asked.id, asked.confirmWord] });
    expect(await reading).toBe('ci-secret');
    expect((await h.console.history()).find((e) => e.id === asked.id && e.outcome === 'approved')?.scope).toBe('once, confirmed (tier high)');
    for (const g of await h.console.listRemembered()) await h.console.revoke(g.id);
  });
});

describe('who may change a tier', () => {
  it('the desktop cannot lower one (CannotLowerTier, nobody asked); the console can, with t', async () => {
    const id = await createItem('Signing secret', { service: 'lower-me' }, 'v1', tierContext('high'));
    expect(await errorName(updateItem(id, 'Signing secret', { service: 'lower-me' }, tierContext('low')))).toBe(`${ERR}CannotLowerTier`);
    expect(await errorName(createItem('Signing secret', { service: 'lower-me' }, 'v2', tierContext('normal'), true))).toBe(`${ERR}CannotLowerTier`);
    // An attribute named like the tier is only an attribute.
    const updating = updateItem(id, 'Signing secret', { service: 'lower-me', 'sd:tier': 'low' }, {});
    const write = await h.console.waitForPending((r) => r.kind === 'write');
    expect(write.tier).toBe('high');
    await h.console.call({ member: 'DecideConfirmed', signature: 'ss', body: [write.id, write.confirmWord] });
    await updating;
    expect(await tierOf(id)).toBe('high');
    expect(await h.console.listPending()).toHaveLength(0);

    const reading = getSecrets([id]).then(secretText, () => 'refused');
    // The write was decided over the bus: if the console had it in focus, it says the request is
    // gone and waits for j/k before anything else takes focus (tui/keys.ts).
    await tui.waitForText(/^[> ] SECRET HIGH.*Signing/m);
    if (!/^> SECRET HIGH/m.test(tui.text())) tui.send('j');
    await tui.waitForText(/^> SECRET HIGH.*Signing/m);
    tui.send(KEYS.enter);
    await tui.waitForText('t tier');
    tui.send('t');
    await tui.waitForText('Set the tier of the item of this request: low, normal or high');
    type('normal');
    await tui.waitForText('Tier of the item set to normal');
    expect(await tierOf(id)).toBe('normal');
    await sleep(GUARD_WAIT_MS);
    tui.send('n');
    expect(await reading).toBe('refused');

    // Now a normal item: y approves it and a remembers it, as before.
    const next = getSecrets([id]);
    await tui.waitForText(/^> SECRET .*Signing/m);
    expect(tui.text()).not.toMatch(/^> SECRET HIGH/m);
    expect(tui.text()).toMatch(/a remembers +[\s\S]*?for \d+ min/);
    await sleep(GUARD_WAIT_MS);
    tui.send('y');
    expect(secretText(await next)).toBe('v1');
  });

  it('hostile tier values from the desktop are refused with InvalidArgs and the daemon stays up', async () => {
    for (const bad of ['HIGH', 'high\x1b[2J', 'x'.repeat(100_000), '', 2]) {
      expect(await errorName(createItem('hostile', { hostile: '1' }, 's', tierContext(bad)))).toBe(`${ERR}InvalidArgs`);
    }
    const [ids] = await desktop.call({ member: 'SearchItems', signature: 'sa{ss}', body: ['', { hostile: '1' }] });
    expect(ids).toEqual([]);
    const [pong] = await desktop.call({ member: 'Ping' });
    expect(pong).toBe('pong');
  });
});

describe('the daemon enforces the second step', () => {
  it('Decide once or remember on a high-tier request is refused; wrong words end it after three tries', async () => {
    const id = await createItem('Root CA key', { service: 'ca' }, 'ca-secret', tierContext('high'));
    const reading = getSecrets([id]).then(secretText, (err: { dbusName: string }) => err.dbusName);
    const request = await h.console.waitForPending((r) => r.items[0]?.itemId === id);
    for (const verb of ['once', 'remember'] as const) {
      const refused = await h.console.decide(request.id, verb).then(() => null, (err: Error & { dbusName: string }) => err);
      expect(refused?.dbusName).toBe(`${ERR}InvalidArgs`);
      expect(refused?.message).toContain('needs the second step');
    }
    const confirm = (word: string) => errorName(h.console.call({ member: 'DecideConfirmed', signature: 'ss', body: [request.id, word] }));
    expect(await confirm('x'.repeat(10_000))).toBe(`${ERR}InvalidArgs`);
    expect(await confirm('\x1b[2J')).toBe(`${ERR}InvalidArgs`);
    expect(await h.console.listPending()).toHaveLength(1);
    const wrong = request.confirmWord === 'zuzu' ? 'bobo' : 'zuzu';
    expect(await confirm(wrong)).toBe(`${ERR}InvalidArgs`);
    expect(await confirm(wrong)).toBe(`${ERR}InvalidArgs`);
    expect(await confirm(wrong)).toBe(`${ERR}Denied`);
    expect(await reading).toBe(`${ERR}Denied`);
    // The console's SetTier checks its arguments too.
    expect(await errorName(h.console.call({ member: 'SetTier', signature: 'sss', body: ['item', id, 'secret'] }))).toBe(`${ERR}InvalidArgs`);
    expect(await errorName(h.console.call({ member: 'SetTier', signature: 'sss', body: ['collection', id, 'low'] }))).toBe(`${ERR}InvalidArgs`);
  });
});

describe('a high-tier signing key', () => {
  const commit = Buffer.from(
    'tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n' +
    'author Test Signer <signer@example.org> 1764000000 +0000\n' +
    'committer Test Signer <signer@example.org> 1764000000 +0000\n\nRelease 1.0\n');

  it('every signature needs the word until the console lowers the key\'s tier', async () => {
    const generating = desktop.call({ member: 'GenerateKey', signature: 'sssa{sv}', body: ['Test Signer', 'signer@example.org', '', tierContext('high')], timeoutMs: 60_000 });
    const keyRequest = await h.console.waitForPending((r) => r.kind === 'key');
    expect(keyRequest.tier).toBe('normal');
    await h.console.decide(keyRequest.id, 'once');
    const [fingerprint] = await generating;
    const sign = () => desktop.call({ member: 'Sign', signature: 'aysa{sv}', body: [commit, fingerprint, {}], timeoutMs: 60_000 });

    const signing = sign();
    const request = await h.console.waitForPending((r) => r.kind === 'sign');
    expect(request).toMatchObject({ tier: 'high', rememberScope: null });
    await tui.waitForText(/^> SIGN +HIGH/m);
    expect(await errorName(h.console.decide(request.id, 'once'))).toBe(`${ERR}InvalidArgs`);
    await h.console.call({ member: 'DecideConfirmed', signature: 'ss', body: [request.id, request.confirmWord] });
    expect((await signing)[0]).toContain('-----BEGIN PGP SIGNATURE-----');

    await h.console.call({ member: 'SetTier', signature: 'sss', body: ['key', fingerprint, 'normal'] });
    const again = sign();
    const plain = await h.console.waitForPending((r) => r.kind === 'sign');
    expect(plain.tier).toBe('normal');
    expect(plain.confirmWord).toBeUndefined();
    await h.console.decide(plain.id, 'once');
    expect((await again)[0]).toContain('-----BEGIN PGP SIGNATURE-----');
  });
});
