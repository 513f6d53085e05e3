// The approval pipeline end to end: real daemon, real private system bus with our policy, the
// human played by a scripted console.
import { copyFileSync, linkSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAsUser, connectInProcess, type BusClient } from '../helpers/bus-client.js';
import { CONSOLE_INTERFACE } from '../../core/names.js';
import { ScriptedConsole, startDaemonHarness, TEST_PASSPHRASE, type DaemonHarness } from '../helpers/daemon-harness.js';

const ERR = 'net.mowaka.SecretsDispatcher1.Error.';

let h: DaemonHarness;
let desktop: BusClient;
let itemId: string;
let otherItemId: string;
let exeDir: string;
let otherNode: string;
/** Set when a test replaces the harness's console (the one that went away). */
let replacementConsole: ScriptedConsole | null = null;
const con = () => replacementConsole ?? h.console;

const createItem = async (c: BusClient, label: string, attributes: Record<string, string>, secret: string) =>
  (await c.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', label, attributes, Buffer.from(secret), 'text/plain', false, {}] }))[0] as string;

const getSecrets = (c: BusClient, ids: string[], timeoutMs = 20_000) =>
  c.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [ids, {}], timeoutMs });

/** Resolves to 'answered' or 'waiting' after `ms`: a remembered read answers without the console. */
async function answeredWithin<T>(p: Promise<T>, ms: number): Promise<'answered' | 'waiting'> {
  return Promise.race([p.then(() => 'answered' as const), new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), ms))]);
}

beforeAll(async () => {
  h = await startDaemonHarness({ config: { requestTimeoutSeconds: 3 } });
  desktop = await h.client();
  itemId = await createItem(desktop, 'GitHub token', { service: 'github', user: 'nb' }, 's3cret');
  otherItemId = await createItem(desktop, 'Mail', { service: 'mail' }, 'mailpass');
  // The same node binary under another path is "another executable" to the daemon.
  exeDir = mkdtempSync(join(tmpdir(), 'sd-exe-'));
  otherNode = join(exeDir, 'other-node');
  try {
    linkSync(process.execPath, otherNode);
  } catch {
    copyFileSync(process.execPath, otherNode);
  }
});
afterAll(async () => {
  await replacementConsole?.close();
  await h?.stop();
  if (exeDir) rmSync(exeDir, { recursive: true, force: true });
});

describe('a secret read waits for the console', () => {
  it('approve once → the secret, and the console saw who asked', async () => {
    const reading = getSecrets(desktop, [itemId]);
    const pending = await h.console.waitForPending((r) => r.items.some((i) => i.itemId === itemId));
    expect(pending.kind).toBe('secret');
    expect(pending.requester.process).toMatchObject({ pid: process.pid, exe: process.execPath, cwd: process.cwd() });
    expect(pending.requester.process!.cmdline[0]).toMatch(/node/);
    expect(pending.requester.chain[0]?.pid).toBe(process.ppid);
    expect(pending.requester.uid).toBe(process.getuid!());
    // The deadline runs on the boot clock and is shown as wall time as of the list: the two clocks
    // are read a moment apart, so allow a few milliseconds.
    expect(Math.abs(pending.deadline - pending.createdAt - 3000)).toBeLessThanOrEqual(5);
    expect(pending.items[0]).toMatchObject({ label: 'GitHub token', collectionLabel: 'Login', attributes: { service: 'github', user: 'nb' } });
    await h.console.decide(pending.id, 'once');
    const [secrets] = await reading;
    expect(secrets).toHaveLength(1);
    expect(secrets[0][0]).toBe(itemId);
    expect(Buffer.from(secrets[0][1]).toString()).toBe('s3cret');
  });

  it('deny → Denied', async () => {
    const reading = getSecrets(desktop, [itemId]);
    const pending = await h.console.waitForPending();
    await h.console.decide(pending.id, 'deny');
    await expect(reading).rejects.toMatchObject({ dbusName: `${ERR}Denied` });
  });

  it('no answer by the deadline → Timeout', async () => {
    const started = Date.now();
    await expect(getSecrets(desktop, [itemId])).rejects.toMatchObject({ dbusName: `${ERR}Timeout` });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
    expect(await h.console.listPending()).toEqual([]);
  });

  it('requester disconnects → gone from the console list within 1 s', async () => {
    const peer = await connectAsUser(h.busAddress);
    const reading = getSecrets(peer, [itemId]).catch((e) => e);
    await h.console.waitForPending((r) => r.requester.busName === peer.uniqueName);
    await peer.close();
    const closedAt = Date.now();
    for (;;) {
      if (!(await h.console.listPending()).some((r) => r.requester.busName === peer.uniqueName)) break;
      expect(Date.now() - closedAt).toBeLessThan(1000);
      await new Promise((r) => setTimeout(r, 20));
    }
    await reading;
    const rows = await h.console.history(5);
    expect(rows.some((row) => row.outcome === 'cancelled')).toBe(true);
  });

  it('store locked while waiting → StoreLocked; a locked store refuses at once', async () => {
    const reading = getSecrets(desktop, [itemId]);
    await h.console.waitForPending();
    await h.console.lock();
    await expect(reading).rejects.toMatchObject({ dbusName: `${ERR}StoreLocked` });
    await expect(getSecrets(desktop, [itemId])).rejects.toMatchObject({ dbusName: `${ERR}StoreLocked` });
    await h.console.unlock(TEST_PASSPHRASE);
  });

  it('50 pending from one requester → the 51st gets QueueFull while another requester gets through', async () => {
    const flood = await connectAsUser(h.busAddress);
    const waits = Array.from({ length: 50 }, () => getSecrets(flood, [itemId]).catch((e) => e));
    for (let i = 0; i < 100 && (await h.console.listPending()).length < 50; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await h.console.listPending()).length).toBe(50);
    const started = Date.now();
    await expect(getSecrets(flood, [itemId])).rejects.toMatchObject({ dbusName: `${ERR}QueueFull` });
    expect(Date.now() - started).toBeLessThan(1000);
    const reading = getSecrets(desktop, [itemId]);
    const mine = await h.console.waitForPending((r) => r.requester.busName === desktop.uniqueName);
    await h.console.decide(mine.id, 'once');
    expect(Buffer.from((await reading)[0][0][1]).toString()).toBe('s3cret');
    await flood.close();
    await Promise.all(waits);
  });
});

describe('change notifications', () => {
  it('Changed reaches the registered console only, never another peer', async () => {
    const bystander = await connectAsUser(h.busAddress);
    const seen: string[] = [];
    bystander.onSignal((sig) => seen.push(`${sig.interface}.${sig.member}`));
    await bystander.call({
      destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch', signature: 's',
      body: [`type='signal',interface='${CONSOLE_INTERFACE}'`],
    });
    const before = con().lastGeneration;
    const reading = getSecrets(desktop, [itemId]);
    await con().decide((await con().waitForPending()).id, 'once');
    await reading;
    await new Promise((r) => setTimeout(r, 200));
    expect(con().lastGeneration).toBeGreaterThan(before);
    expect(seen).toEqual([]);
    await bystander.close();
  });

  it('Lock on the request interface ends waiting requests with StoreLocked', async () => {
    const reading = getSecrets(desktop, [itemId]);
    await con().waitForPending();
    await desktop.call({ member: 'Lock' });
    await expect(reading).rejects.toMatchObject({ dbusName: `${ERR}StoreLocked` });
    expect((await con().status()).locked).toBe(true);
    await con().unlock(TEST_PASSPHRASE);
  });
});

describe('the console comes and goes', () => {
  it('console gone: pending requests stay for the next console; with none registered, new requests get NoConsole at once', async () => {
    const reading = getSecrets(desktop, [itemId]);
    const pending = await h.console.waitForPending();
    await h.console.close();
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await expect(getSecrets(desktop, [otherItemId])).rejects.toMatchObject({ dbusName: `${ERR}NoConsole` });
    expect(Date.now() - started).toBeLessThan(1000);
    const next = new ScriptedConsole(await connectInProcess(h.busAddress));
    await next.register();
    expect((await next.listPending()).map((r) => r.id)).toEqual([pending.id]);
    await next.decide(pending.id, 'once');
    expect(Buffer.from((await reading)[0][0][1]).toString()).toBe('s3cret');
    replacementConsole = next;
  });
});


describe('remembered decisions over the bus', () => {
  it('same executable, same item: no prompt; another item or executable waits; after Revoke it waits again', async () => {
    const app = await connectAsUser(h.busAddress);
    const first = getSecrets(app, [itemId]);
    const pending = await con().waitForPending((r) => r.requester.busName === app.uniqueName);
    expect(pending.rememberScope?.minutes).toBe(10);
    await con().decide(pending.id, 'remember', 10);
    await first;

    // A new process of the same executable: answered without the console.
    const again = await connectAsUser(h.busAddress);
    expect(await answeredWithin(getSecrets(again, [itemId]), 2000)).toBe('answered');

    const otherItem = getSecrets(again, [otherItemId]).catch((e) => e);
    const p1 = await con().waitForPending((r) => r.items.some((i) => i.itemId === otherItemId));
    await con().decide(p1.id, 'deny');
    expect((await otherItem).dbusName).toBe(`${ERR}Denied`);

    const stranger = await connectAsUser(h.busAddress, undefined, { execPath: otherNode });
    const strangerRead = getSecrets(stranger, [itemId]).catch((e) => e);
    const p2 = await con().waitForPending((r) => r.requester.busName === stranger.uniqueName);
    expect(p2.requester.process?.exe).toBe(otherNode);
    await con().decide(p2.id, 'deny');
    expect((await strangerRead).dbusName).toBe(`${ERR}Denied`);

    const [grant] = await con().listRemembered();
    expect(grant).toMatchObject({ kind: 'secret', exe: process.execPath, target: itemId });
    await con().revoke(grant!.id);
    const afterRevoke = getSecrets(again, [itemId]).catch((e) => e);
    const p3 = await con().waitForPending((r) => r.requester.busName === again.uniqueName);
    await con().decide(p3.id, 'deny');
    expect((await afterRevoke).dbusName).toBe(`${ERR}Denied`);

    const history = await con().history(50);
    expect(history.some((row) => row.outcome === 'remembered' && row.requesterExe === process.execPath)).toBe(true);
    for (const c of [app, again, stranger]) await c.close();
  });
});
