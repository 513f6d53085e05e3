// Hostile or broken input, a missing companion, notifications and name ownership. Clients here are
// raw D-Bus connections (to send what no library would) and real secret-tool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dbus from 'dbus-next';
import { spawn } from 'node:child_process';
import { connectBus, disconnectBus, NAME_FLAG, requestName, Variant, type MessageBus } from '../../core/dbus/bus.js';
import { connectInProcess, type BusClient, type BusCallError } from '../helpers/bus-client.js';
import { CLI } from '../helpers/daemon-harness.js';
import { runClient, startAgentHarness, startClient, type AgentHarness } from '../helpers/agent-harness.js';

const SS = { destination: 'org.freedesktop.secrets', path: '/org/freedesktop/secrets', interface: 'org.freedesktop.Secret.Service' };
const DH = 'dh-ietf1024-sha256-aes128-cbc-pkcs7';

let h: AgentHarness;
let client: BusClient;
let other: BusClient;

interface Notification { replacesId: number; summary: string; body: string; actions: string[]; id: number }
const notifications: Notification[] = [];
const closed: number[] = [];
let notifyBus: MessageBus;

/** A notification daemon on the private session bus that records what it is asked to show. */
async function startNotificationServer(address: string): Promise<MessageBus> {
  const bus = await connectBus('session', address);
  let next = 1;
  bus.addMethodHandler((msg: dbus.Message) => {
    if (msg.path !== '/org/freedesktop/Notifications') return false;
    if (msg.member === 'Notify') {
      const [, replacesId, , summary, body, actions] = msg.body as [string, number, string, string, string, string[]];
      const id = replacesId || next++;
      notifications.push({ replacesId, summary, body, actions, id });
      bus.send(dbus.Message.newMethodReturn(msg, 'u', [id]));
    } else if (msg.member === 'CloseNotification') {
      closed.push(msg.body[0]);
      bus.send(dbus.Message.newMethodReturn(msg, '', []));
    } else {
      bus.send(dbus.Message.newMethodReturn(msg, '', []));
    }
    return true;
  });
  await requestName(bus, 'org.freedesktop.Notifications', NAME_FLAG.doNotQueue);
  return bus;
}

beforeAll(async () => {
  h = await startAgentHarness();
  notifyBus = await startNotificationServer(h.session.address);
  client = await connectInProcess(h.session.address);
  other = await connectInProcess(h.session.address);
});

afterAll(async () => {
  await client?.close();
  await other?.close();
  if (notifyBus) disconnectBus(notifyBus);
  await h?.stop();
});

async function errorName(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as BusCallError).dbusName;
  }
  return 'no error';
}

const openPlain = async (c: BusClient) => (await c.call({ ...SS, member: 'OpenSession', signature: 'sv', body: ['plain', new Variant('s', '')] }))[1] as string;
const stillServing = async () => {
  const [, path] = await client.call({ ...SS, member: 'OpenSession', signature: 'sv', body: ['plain', new Variant('s', '')] });
  expect(path).toMatch(/^\/org\/freedesktop\/secrets\/session\/\d+$/);
};

describe('bad input gets an error and the agent keeps serving', () => {
  it('malformed OpenSession arguments are InvalidArgs', async () => {
    expect(await errorName(client.call({ ...SS, member: 'OpenSession', signature: 's', body: ['plain'] }))).toBe('org.freedesktop.DBus.Error.InvalidArgs');
    expect(await errorName(client.call({ ...SS, member: 'OpenSession', signature: 'sv', body: [DH, new Variant('s', 'not bytes')] }))).toBe('org.freedesktop.DBus.Error.InvalidArgs');
    expect(await errorName(client.call({ ...SS, member: 'OpenSession', signature: 'sv', body: [DH, new Variant('ay', Buffer.from([1]))] }))).toBe('org.freedesktop.DBus.Error.InvalidArgs');
    expect(await errorName(client.call({ ...SS, member: 'OpenSession', signature: 'sv', body: [DH, new Variant('ay', Buffer.alloc(4096, 7))] }))).toBe('org.freedesktop.DBus.Error.InvalidArgs');
    await stillServing();
  });

  it('an unknown algorithm is NotSupported', async () => {
    expect(await errorName(client.call({ ...SS, member: 'OpenSession', signature: 'sv', body: ['dh-ietf2048-sha512-aes256', new Variant('ay', Buffer.alloc(8))] }))).toBe('org.freedesktop.DBus.Error.NotSupported');
    await stillServing();
  });

  it('a foreign or closed session path is NoSession', async () => {
    await runClient('secret-tool', ['store', '--label=sess', 'test', 'session'], h.env, 'sess-secret');
    const [, locked] = await client.call({ ...SS, member: 'SearchItems', signature: 'a{ss}', body: [{ test: 'session' }] });
    const [, lockedAgain] = await client.call({ ...SS, member: 'SearchItems', signature: 'a{ss}', body: [{ test: 'session' }] });
    const items = [...locked, ...lockedAgain];
    expect(items.length).toBeGreaterThan(0);
    const foreign = await openPlain(other);
    expect(await errorName(client.call({ ...SS, member: 'GetSecrets', signature: 'aoo', body: [items, foreign] }))).toBe('org.freedesktop.Secret.Error.NoSession');
    const mine = await openPlain(client);
    await client.call({ destination: SS.destination, path: mine, interface: 'org.freedesktop.Secret.Session', member: 'Close' });
    expect(await errorName(client.call({ ...SS, member: 'GetSecrets', signature: 'aoo', body: [items, mine] }))).toBe('org.freedesktop.Secret.Error.NoSession');
    expect(await errorName(client.call({ ...SS, member: 'GetSecrets', signature: 'aoo', body: [items, '/org/freedesktop/secrets/session/99999'] }))).toBe('org.freedesktop.Secret.Error.NoSession');
    // The item was never read: nothing reached the console.
    expect(await h.daemon.console.listPending()).toEqual([]);
    await stillServing();
  });

  it('10,000 attributes and a 10 MiB label are refused as too large', async () => {
    const attrs: Record<string, string> = {};
    for (let i = 0; i < 10_000; i++) attrs[`k${i}`] = `v${i}`;
    expect(await errorName(client.call({ ...SS, member: 'SearchItems', signature: 'a{ss}', body: [attrs] }))).toBe('net.mowaka.SecretsDispatcher1.Error.TooLarge');
    const session = await openPlain(client);
    const collection = '/org/freedesktop/secrets/aliases/default';
    const create = (props: Record<string, InstanceType<typeof Variant>>) => client.call({
      destination: SS.destination, path: collection, interface: 'org.freedesktop.Secret.Collection', member: 'CreateItem',
      signature: 'a{sv}(oayays)b', body: [props, [session, Buffer.alloc(0), Buffer.from('x'), 'text/plain'], false], timeoutMs: 60_000,
    });
    expect(await errorName(create({ 'org.freedesktop.Secret.Item.Attributes': new Variant('a{ss}', attrs) }))).toBe('net.mowaka.SecretsDispatcher1.Error.TooLarge');
    expect(await errorName(create({ 'org.freedesktop.Secret.Item.Label': new Variant('s', 'L'.repeat(10 * 1024 * 1024)) }))).toBe('net.mowaka.SecretsDispatcher1.Error.TooLarge');
    expect(await errorName(create({ 'org.freedesktop.Secret.Item.Label': new Variant('u', 5) }))).toBe('org.freedesktop.DBus.Error.InvalidArgs');
    await stillServing();
  });

  it('unknown objects are NoSuchObject, not a crash', async () => {
    const bogus = ['/org/freedesktop/secrets/collection/nope', '/org/freedesktop/secrets/collection/login/_zz', '/org/freedesktop/secrets/aliases/none'];
    for (const path of bogus) {
      const name = await errorName(client.call({ destination: SS.destination, path, interface: 'org.freedesktop.DBus.Properties', member: 'GetAll', signature: 's', body: ['org.freedesktop.Secret.Collection'] }));
      expect(name).toBe('org.freedesktop.Secret.Error.NoSuchObject');
    }
    await stillServing();
  });
});

describe('notifications', () => {
  it('a waiting request shows who asks and where to approve, without buttons; a burst is one notification', async () => {
    notifications.length = 0;
    await runClient('secret-tool', ['store', '--label=notify', 'test', 'notify'], h.env, 'n');
    const lookups = [0, 1, 2].map(() => startClient('secret-tool', ['lookup', 'test', 'notify'], h.env));
    for (let i = 0; i < 3; i++) {
      const req = await h.daemon.console.waitForPending(() => true, 20_000);
      if (i === 2) await new Promise((r) => setTimeout(r, 1000));
      await h.daemon.console.decide(req.id, 'once');
    }
    for (const l of lookups) expect((await l.done).stdout.toString()).toBe('n');
    await new Promise((r) => setTimeout(r, 300));
    expect(notifications.length).toBeGreaterThan(0);
    const first = notifications[0]!;
    expect(first.summary).toMatch(/^Secret requested by secret-tool \(pid \d+\) — approve on VT8 \(Ctrl\+Alt\+F8\)$/);
    expect(notifications.every((n) => n.actions.length === 0)).toBe(true);
    // One notification on screen: every later one replaces the first.
    expect(new Set(notifications.map((n) => n.id)).size).toBe(1);
    expect(notifications.slice(1).every((n) => n.replacesId === first.id)).toBe(true);
    expect(closed).toContain(first.id);
  });
});

describe('companion not available', () => {
  it('store locked: the client gets StoreLocked at once and the user an actionable notification', async () => {
    notifications.length = 0;
    await runClient('secret-tool', ['store', '--label=locked', 'test', 'locked'], h.env, 'l');
    await h.daemon.console.lock();
    try {
      const started = Date.now();
      const r = await runClient('secret-tool', ['lookup', 'test', 'locked'], h.env);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(r.stdout.length).toBe(0);
      expect(r.stderr).toMatch(/store is locked/i);
      await new Promise((res) => setTimeout(res, 300));
      expect(notifications.some((n) => /store is locked/i.test(n.body))).toBe(true);
    } finally {
      await h.daemon.console.unlock('correct horse battery staple');
    }
  });

  it('daemon gone: clear error at once, the agent keeps running, and recovers when the daemon is back', async () => {
    await runClient('secret-tool', ['store', '--label=recover', 'test', 'recover'], h.env, 'back');
    notifications.length = 0;
    process.kill(h.daemon.daemonPid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    const r = await runClient('secret-tool', ['lookup', 'test', 'recover'], h.env, undefined, 30_000);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toMatch(/not reachable/);
    await new Promise((res) => setTimeout(res, 300));
    expect(notifications.some((n) => /sd-provision --check/.test(n.body))).toBe(true);
    expect(await errorName(client.call({ ...SS, member: 'SearchItems', signature: 'a{ss}', body: [{ test: 'recover' }] }))).toBe('net.mowaka.SecretsDispatcher1.Error.Unavailable');
    await h.daemon.restartDaemon();
    const lookup = startClient('secret-tool', ['lookup', 'test', 'recover'], h.env);
    const req = await h.daemon.console.waitForPending(() => true, 20_000);
    await h.daemon.console.decide(req.id, 'once');
    expect((await lookup.done).stdout.toString()).toBe('back');
  });
});

describe('name ownership', () => {
  it('a second agent without --replace says what to do; with --replace it takes over and the first leaves', async () => {
    const second = await runClient(process.execPath, [CLI, 'agent'], h.env, undefined, 20_000);
    expect(second.code).toBe(75);
    expect(second.stderr).toMatch(/--replace/);
    expect(second.stderr).toMatch(/gnome-keyring/);
    const firstPid = h.agentPid();
    const replacement = spawn(process.execPath, [CLI, 'agent', '--replace'], { env: h.env, stdio: 'ignore' });
    try {
      // Generous: on a loaded 2-core machine a node process can take many seconds to start.
      const until = Date.now() + 45_000;
      while (Date.now() < until) {
        try {
          process.kill(firstPid, 0);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(() => process.kill(firstPid, 0)).toThrow();
      const [, path] = await client.call({ ...SS, member: 'OpenSession', signature: 'sv', body: ['plain', new Variant('s', '')] });
      expect(path).toMatch(/session/);
    } finally {
      replacement.kill('SIGTERM');
      await new Promise((r) => replacement.once('exit', r));
      await h.startAgent();
    }
  }, 90_000);
});

describe('signals and per-client locking', () => {
  it('collection and item changes are signalled, with PropertiesChanged for Collections and Items', async () => {
    const seen: string[] = [];
    client.onSignal((s) => seen.push(`${s.interface.split('.').pop()}.${s.member}`));
    await client.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch', signature: 's', body: ["type='signal',sender='org.freedesktop.secrets'"] });
    let approving = true;
    const approver = (async () => {
      while (approving) {
        const req = await h.daemon.console.waitForPending(() => true, 300).catch(() => null);
        if (req) await h.daemon.console.decide(req.id, 'once');
      }
    })();
    const r = await runClient('/usr/bin/python3', ['-c', `
import secretstorage
bus = secretstorage.dbus_init()
col = secretstorage.create_collection(bus, 'Signals', alias='')
item = col.create_item('s', {'sig': '1'}, b'x')
item.delete()
col.delete()
`], h.env);
    approving = false;
    await approver;
    expect(r.stderr).toBe('');
    await new Promise((res) => setTimeout(res, 300));
    for (const s of ['Service.CollectionCreated', 'Properties.PropertiesChanged', 'Collection.ItemCreated', 'Collection.ItemDeleted', 'Service.CollectionDeleted']) {
      expect(seen).toContain(s);
    }
  });

  it('Lock makes an approved item locked again for that client only', async () => {
    await runClient('secret-tool', ['store', '--label=lockme', 'test', 'lock'], h.env, 'l');
    const session = await openPlain(client);
    const [, locked] = await client.call({ ...SS, member: 'SearchItems', signature: 'a{ss}', body: [{ test: 'lock' }] });
    const item = locked[0] as string;
    const [, prompt] = await client.call({ ...SS, member: 'Unlock', signature: 'ao', body: [[item]] });
    await client.call({ destination: SS.destination, path: prompt, interface: 'org.freedesktop.Secret.Prompt', member: 'Prompt', signature: 's', body: [''] });
    const req = await h.daemon.console.waitForPending(() => true, 20_000);
    await h.daemon.console.decide(req.id, 'once');
    const until = Date.now() + 10_000;
    let unlocked: string[] = [];
    while (Date.now() < until && !unlocked.includes(item)) {
      [unlocked] = await client.call({ ...SS, member: 'SearchItems', signature: 'a{ss}', body: [{ test: 'lock' }] });
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(unlocked).toContain(item);
    await openPlain(other);
    const [otherUnlocked] = await other.call({ ...SS, member: 'SearchItems', signature: 'a{ss}', body: [{ test: 'lock' }] });
    expect(otherUnlocked).not.toContain(item);
    await client.call({ ...SS, member: 'Lock', signature: 'ao', body: [[item]] });
    const [afterLock] = await client.call({ ...SS, member: 'SearchItems', signature: 'a{ss}', body: [{ test: 'lock' }] });
    expect(afterLock).not.toContain(item);
    expect(session).toMatch(/session/);
  });
});

describe('one client cannot flood the console', () => {
  it('beyond 16 waiting requests a client gets QueueFull at once; its requests go when it leaves', async () => {
    await runClient('secret-tool', ['store', '--label=flood', 'test', 'flood'], h.env, 'f');
    const flood = await connectInProcess(h.session.address);
    const session = await openPlain(flood);
    const [unlocked, locked] = await flood.call({ ...SS, member: 'SearchItems', signature: 'a{ss}', body: [{ test: 'flood' }] });
    const item = [...unlocked, ...locked][0] as string;
    // Left unanswered on purpose: the client goes away while they wait.
    for (let i = 0; i < 16; i++) {
      void flood.call({ destination: SS.destination, path: item, interface: 'org.freedesktop.Secret.Item', member: 'GetSecret', signature: 'o', body: [session], timeoutMs: 30_000 }).catch(() => undefined);
    }
    const until = Date.now() + 20_000;
    while ((await h.daemon.console.listPending()).length < 16) {
      if (Date.now() > until) throw new Error('the reads did not all reach the console');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await errorName(flood.call({ destination: SS.destination, path: item, interface: 'org.freedesktop.Secret.Item', member: 'GetSecret', signature: 'o', body: [session] }))).toBe('net.mowaka.SecretsDispatcher1.Error.QueueFull');
    await flood.close();
    const gone = Date.now() + 10_000;
    while ((await h.daemon.console.listPending()).length > 0) {
      if (Date.now() > gone) throw new Error('requests stayed pending after their client left');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});
