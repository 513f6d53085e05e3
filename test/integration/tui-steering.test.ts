// Issue #11's console findings, reproduced against the real daemon on a private bus with the
// console in a real pty: requests too large for one bus message, a process that names itself like
// git-credential, a focused request that vanishes just before `y`, requester text that imitates
// our markers or hides behind blank-looking characters, and emoji that used to corrupt the screen.
import { spawn } from 'node:child_process';
import dbus from 'dbus-next';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../core/limits.js';
import type { BusClient } from '../helpers/bus-client.js';
import { CLI, startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';
import { KEYS, spawnPty, type PtyScreen } from '../helpers/pty-screen.js';

const ERR = 'net.mowaka.SecretsDispatcher1.Error.';
const GUARD_WAIT_MS = 350;
/** The marker style's background (screen.ts: green), which no requester text is drawn with. */
const MARKER_BG = 2;
const COLS = 120;
const ROWS = 40;

let h: DaemonHarness;
let desktop: BusClient;
let itemId: string;
let fingerprint: string;
let tui: PtyScreen;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const createItem = async (label: string, attributes: Record<string, string>, secret: string) =>
  (await desktop.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', label, attributes, Buffer.from(secret), 'text/plain', false, {}] }))[0] as string;

const getSecrets = (client: BusClient, ids: string[], context: Record<string, unknown> = {}) =>
  client.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [ids, Object.fromEntries(Object.entries(context).map(([k, v]) => [k, new dbus.Variant('s', v)]))], timeoutMs: 60_000 });

const secretOf = (reply: any[]) => Buffer.from(reply[0][0][1]).toString();

function commit(message: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from(
    'tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n' +
    'author Test Signer <signer@example.org> 1764000000 +0000\n' +
    'committer Test Signer <signer@example.org> 1764000000 +0000\n\n'), Buffer.isBuffer(message) ? message : Buffer.from(message)]);
}

const sign = (payload: Buffer) =>
  desktop.call({ member: 'Sign', signature: 'aysa{sv}', body: [payload, fingerprint, {}], timeoutMs: 60_000 });

/** The daemon is the same process, still on the bus, its store still unlocked. */
async function daemonUnharmed(pid: number): Promise<void> {
  const status = await h.console.status();
  expect(status.locked).toBe(false);
  expect(h.daemonPid).toBe(pid);
  expect(h.daemonLog()).not.toMatch(/disconnected|ECONNRESET/i);
}

/** The lines a row of the screen shows, as the person reads them. */
const line = (match: RegExp | string) => tui.lines().find((l) => (typeof match === 'string' ? l.includes(match) : match.test(l)));

beforeAll(async () => {
  h = await startDaemonHarness({ registerConsole: false, config: { requestTimeoutSeconds: 120 } });
  desktop = await h.client();
  itemId = await createItem('GitHub token', { service: 'github' }, 's3cret-value');
  tui = spawnPty(process.execPath, ['--', CLI, 'tui'], { cols: COLS, rows: ROWS, env: h.env });
  await tui.waitForText('store unlocked | 0 pending', 20_000);
  const generating = desktop.call({ member: 'GenerateKey', signature: 'sssa{sv}', body: ['Test Signer', 'signer@example.org', '', {}], timeoutMs: 60_000 });
  await tui.waitForText(/^> KEY /m);
  await sleep(GUARD_WAIT_MS);
  tui.send('y');
  [fingerprint] = await generating;
});

afterAll(async () => {
  await tui?.close();
  await h?.stop();
});

afterEach(async () => {
  for (const r of (await h.console.listSummaries()).requests) await h.console.decide(r.id, 'deny').catch(() => undefined);
  await tui.waitForText('No pending requests');
});

describe('requests too large for one bus message', () => {
  it('an 8 MiB Sign payload: the daemon stays on the bus, unlocked, another caller\'s request intact and decidable; the console shows it cut visibly', async () => {
    const pid = h.daemonPid;
    const other = await h.client();
    const reading = getSecrets(other, [itemId]);
    await tui.waitForText(/^> SECRET .*GitHub token/m);
    const header = commit('').length;
    const payload = commit(Buffer.alloc(LIMITS.signPayloadBytes - header, 1));
    expect(payload.length).toBe(LIMITS.signPayloadBytes);
    const sent = performance.now();
    const signing = sign(payload).catch((e) => e);
    await tui.waitForText(/^ {2}SIGN .*Sign commit/m, 30_000);
    const listedAfter = performance.now() - sent;

    await daemonUnharmed(pid);
    const listed = await h.console.listSummaries();
    expect(listed.total).toBe(2);
    // The whole list and the big request's detail each fit in a small reply.
    const detail = await h.console.getRequest(listed.requests[1]!.id);
    expect(Buffer.byteLength(JSON.stringify(detail))).toBeLessThan(LIMITS.shownDetailBytes);

    tui.send('j');
    const detailIn = await tui.waitForText(`commit, ${LIMITS.signPayloadBytes} bytes`);
    console.log(`8 MiB Sign: listed ${listedAfter.toFixed(0)} ms after the call, its detail on screen ${detailIn.toFixed(0)} ms after j`);
    const message = line(/^Message {5}\\x01/)!;
    expect(message.endsWith('…')).toBe(true);
    // The requester's bytes are plain; the cut after them is ours, drawn in the marker style.
    const end = message.slice(-6);
    expect(tui.styleOf(end, 0)?.bg).toBe(-1);
    expect(tui.styleOf(end, 5)?.bg).toBe(MARKER_BG);

    // The other caller's request is still there and `y` gives it its secret.
    tui.send('k');
    await tui.waitForText(/^> SECRET .*GitHub token/m);
    await sleep(GUARD_WAIT_MS);
    tui.send('y');
    expect(secretOf(await reading)).toBe('s3cret-value');
    await tui.waitForText(/^> SIGN /m);
    await sleep(GUARD_WAIT_MS);
    tui.send('n');
    expect((await signing).dbusName).toBe(`${ERR}Denied`);
    await daemonUnharmed(pid);
  });

  it('six GetSecrets with 64 x 16 KiB claims: the daemon stays, the other caller is decidable, the claims are shown cut', async () => {
    const pid = h.daemonPid;
    const other = await h.client();
    const reading = getSecrets(other, [itemId]);
    await tui.waitForText(/^> SECRET .*GitHub token/m);
    const claims = Object.fromEntries(Array.from({ length: LIMITS.contextEntries }, (_, i) => [`claim.${i}`, '\x01'.repeat(LIMITS.contextValueChars)]));
    const flooders = await Promise.all(Array.from({ length: 6 }, () => h.client()));
    const flooding = flooders.map((c) => getSecrets(c, [itemId], claims).catch((e) => e));
    await tui.waitForText('store unlocked | 7 pending');

    await daemonUnharmed(pid);
    expect((await h.console.listSummaries()).total).toBe(7);
    tui.send('j');
    await tui.waitForText(/^> SECRET /m);
    tui.send(KEYS.enter);
    await tui.waitForText('Full detail');
    tui.send('G');
    await tui.waitForText(`[… ${LIMITS.contextEntries - LIMITS.shownClaims} more claims not shown]`);
    expect(tui.styleOf(`[… ${LIMITS.contextEntries - LIMITS.shownClaims} more claims`)?.bg).toBe(MARKER_BG);
    const lastClaim = line(new RegExp(`claims +claim\\.${LIMITS.shownClaims - 1}: \\\\x01`))!;
    expect(lastClaim.endsWith('… (claimed)')).toBe(true);
    tui.send(KEYS.escape);
    // Esc and a key sent at once read as Alt+key: wait for the list first.
    await tui.waitForText('j/k move');
    tui.send('k');
    await tui.waitForText(/^> SECRET .*GitHub token/m);
    await sleep(GUARD_WAIT_MS);
    tui.send('y');
    expect(secretOf(await reading)).toBe('s3cret-value');
    for (const r of (await h.console.listSummaries()).requests) await h.console.decide(r.id, 'deny');
    for (const result of await Promise.all(flooding)) expect(result.dbusName).toBe(`${ERR}Denied`);
    await daemonUnharmed(pid);
  });
});

describe('who is asking', () => {
  it('a process that names itself git-credential is listed by its uid and real executable', async () => {
    const script = `
import ctypes, os, sys
ctypes.CDLL(None).prctl(15, os.environ['FAKE_COMM'].encode(), 0, 0, 0)
from jeepney import DBusAddress, new_method_call
from jeepney.io.blocking import open_dbus_connection
conn = open_dbus_connection(bus=os.environ['DBUS_SYSTEM_BUS_ADDRESS'])
addr = DBusAddress('/net/mowaka/SecretsDispatcher1', bus_name='net.mowaka.SecretsDispatcher1', interface='net.mowaka.SecretsDispatcher1')
reply = conn.send_and_get_reply(new_method_call(addr, 'GetSecrets', 'asa{sv}', ([sys.argv[1]], {})), timeout=60)
print('reply:', reply.header.message_type.name)
`;
    // The name travels in the environment: on the command line the screen would show it, rightly.
    const child = spawn('/usr/bin/python3', ['-c', script, itemId], { env: { ...h.env, FAKE_COMM: 'git-credential' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const done = new Promise((r) => child.once('exit', r));
    await tui.waitForText(/^> SECRET /m, 20_000);
    const row = line(/^> SECRET /)!;
    // The kernel's comm is what the process chose; the row leads with what it cannot choose.
    expect(row).toMatch(new RegExp(`^> SECRET +\\d+:\\d\\d +uid ${process.getuid!()} /usr/bin/python3[.\\d]*\\[${child.pid}\\]`));
    expect(tui.text()).not.toContain('git-credential');
    await sleep(GUARD_WAIT_MS);
    tui.send('n');
    await done;
    expect(out.trim()).toBe('reply: error');
  });
});

describe('a console that cannot be steered', () => {
  it('a focused request withdrawn just before y: nothing is decided until a navigation key', async () => {
    const leaving = await h.client();
    const staying = await h.client();
    void getSecrets(leaving, [itemId]).catch(() => undefined);
    await tui.waitForText(/^> SECRET /m);
    let settled = false;
    const reading = getSecrets(staying, [itemId]).finally(() => { settled = true; });
    await tui.waitForText('store unlocked | 2 pending');
    await sleep(GUARD_WAIT_MS);
    await leaving.close();
    await tui.waitForText('Decision keys do nothing until you pick a request');
    tui.send('y');
    await tui.waitForText('Nothing decided: the request you were looking at is gone');
    await sleep(GUARD_WAIT_MS);
    tui.send('y');
    tui.send('a');
    await sleep(200);
    const left = await h.console.listSummaries();
    expect(left.requests.map((r) => r.requester.busName)).toEqual([staying.uniqueName]);
    expect(settled).toBe(false);
    expect(line(/^> /)).toBeUndefined();

    tui.send('j');
    await tui.waitForText(/^> SECRET /m);
    await sleep(GUARD_WAIT_MS);
    tui.send('y');
    expect(secretOf(await reading)).toBe('s3cret-value');
  });

  it('a fake omitted-lines marker in a message and blank-looking characters in a label are told apart from ours', async () => {
    const fake = '[… 3 more lines not shown]';
    const body = Array.from({ length: 10 }, (_, i) => `line ${i}`).join('\n');
    const signing = sign(commit(`Subject\n${fake}\n${body}\n`)).catch((e) => e);
    await tui.waitForText(/^> SIGN /m);
    await tui.waitForText(/\[… \d+ more lines not shown\]/);
    const ours = tui.lines().find((l) => /\[… \d+ more lines not shown\]/.test(l) && !l.includes(fake))!;
    expect(ours).toBeDefined();
    expect(tui.styleOf(fake)?.bg).toBe(-1);
    expect(tui.styleOf(ours.trim())?.bg).toBe(MARKER_BG);
    await sleep(GUARD_WAIT_MS);
    tui.send('n');
    await signing;

    const lookalike = await createItem('git\u3164credential\u2800token\u00A0x', { service: 'github\u115F' }, 'x');
    const reading = getSecrets(desktop, [lookalike]).catch(() => undefined);
    await tui.waitForText('git<U+3164>credential<U+2800>token<U+00A0>x');
    expect(tui.text()).toContain('github<U+115F>');
    await sleep(GUARD_WAIT_MS);
    tui.send('n');
    await reading;
  });

  it('an emoji label stays inside its field, leaves nothing behind after the decision, and Ctrl+L repaints', async () => {
    const emoji = await createItem('emoji only 🔑🔐 here', { note: '東京🔑' }, 'x');
    const reading = getSecrets(desktop, [emoji]).catch(() => undefined);
    await tui.waitForText(/^> SECRET .*emoji only/m);
    const screen = tui.lines();
    expect(screen.find((l) => l.startsWith('Item '))).toBe(`Item        emoji only 🔑🔐 here`);
    expect(screen.find((l) => l.startsWith('Collection '))).toBe('Collection  Login');
    expect(screen.find((l) => l.startsWith('  attribute '))).toBe('  attribute note = 東京🔑');
    expect(screen.find((l) => l.startsWith('Request '))).toMatch(/^Request {5}SECRET {2}expires in \d:\d\d {2}id r[0-9a-f]+$/);
    expect(screen[ROWS - 1]).toMatch(/^y allow once/);
    await sleep(GUARD_WAIT_MS);
    tui.send('n');
    await reading;
    await tui.waitForText('No pending requests');
    const after = tui.lines();
    // What a full repaint draws is what was there: the diff-painting left nothing behind.
    tui.send(KEYS.ctrlL);
    await sleep(200);
    await tui.waitFor((l) => l.every((x, i) => x === after[i] || i === 0), 'the repainted screen');
    expect(after.filter((l) => l.includes('🔑')).every((l) => /denied +SECRET/.test(l))).toBe(true);

    // Ctrl+L itself: scribbling over the terminal behind the console's back, then Ctrl+L.
    await tui.scribble('\x1b[5;1HGARBAGE written by someone else\x1b[20;30HMORE');
    expect(tui.text()).toContain('GARBAGE');
    tui.send(KEYS.ctrlL);
    await tui.waitFor((l) => !l.join('\n').includes('GARBAGE') && !l.join('\n').includes('MORE'), 'Ctrl+L to repaint');
    expect(tui.lines().slice(1)).toEqual(after.slice(1));
  });
});
