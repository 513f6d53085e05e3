// Hostile input on every exported method: wrong signatures, 10 MiB strings, 100,000 attributes,
// invalid object paths, control characters. Each gets an error with our D-Bus name (or the
// standard UnknownMethod/InvalidArgs where the call never reached a method), never a JS stack, and
// the daemon keeps serving other callers.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIntrospection, type MethodSpec } from '../../core/dbus/introspection.js';
import { CONSOLE_INTERFACE, DISPATCHER_OBJECT_PATH, REQUEST_INTERFACE } from '../../core/names.js';
import dbus from 'dbus-next';
import type { BusClient } from '../helpers/bus-client.js';
import { REPO_ROOT, startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';

const OURS = 'net.mowaka.SecretsDispatcher1.Error.';
const STANDARD = ['org.freedesktop.DBus.Error.UnknownMethod', 'org.freedesktop.DBus.Error.InvalidArgs', 'org.freedesktop.DBus.Error.UnknownObject', 'org.freedesktop.DBus.Error.UnknownInterface'];
const STACK = /\n\s+at |\.(?:js|ts|mjs):\d+|node:internal/;

function specs(file: string, iface: string): MethodSpec[] {
  return [...parseIntrospection(readFileSync(join(REPO_ROOT, 'daemon/introspection', file), 'utf8')).get(iface)!.methods.values()];
}
const REQUEST_METHODS = specs('net.mowaka.SecretsDispatcher1.xml', REQUEST_INTERFACE);
const CONSOLE_METHODS = specs('net.mowaka.SecretsDispatcher1.Console.xml', CONSOLE_INTERFACE);
const ALL = [...REQUEST_METHODS.map((m) => ({ iface: REQUEST_INTERFACE, m })), ...CONSOLE_METHODS.map((m) => ({ iface: CONSOLE_INTERFACE, m }))];

function defaultFor(type: string): unknown {
  switch (type) {
    case 's': return 'x';
    case 'ay': return Buffer.from('x');
    case 'as': return [];
    case 'a{ss}': return {};
    case 'a{sv}': return {};
    case 'b': return false;
    case 'u': return 0;
    default: throw new Error(`no default for ${type}`);
  }
}

let h: DaemonHarness;
let desktop: BusClient;

async function expectCleanError(p: Promise<unknown>, allowed: (name: string) => boolean = (n) => n.startsWith(OURS) || STANDARD.includes(n)): Promise<string> {
  const err = await p.then(() => null, (e) => e as { dbusName: string; message: string });
  expect(err, 'the call should have failed').not.toBeNull();
  expect(allowed(err!.dbusName), `unexpected error name ${err!.dbusName}: ${err!.message}`).toBe(true);
  expect(err!.message).not.toMatch(STACK);
  return err!.dbusName;
}

const clientFor = (iface: string) => (iface === CONSOLE_INTERFACE ? h.console.peer : desktop);

beforeAll(async () => {
  h = await startDaemonHarness({ config: { requestTimeoutSeconds: 20 } });
  desktop = await h.client();
});
afterAll(async () => {
  await h?.stop();
});

describe('bad input', () => {
  it('every method called with a wrong signature → InvalidArgs with our name', async () => {
    for (const { iface, m } of ALL) {
      const [signature, body] = m.inSignature === 's' ? ['u', [7]] : ['s', ['x']];
      const name = await expectCleanError(clientFor(iface).call({ interface: iface, member: m.name, signature, body }));
      expect(name, m.name).toBe(`${OURS}InvalidArgs`);
    }
    // Too few arguments, too many arguments.
    await expectCleanError(desktop.call({ member: 'GetSecrets', signature: 'as', body: [[]] }));
    await expectCleanError(desktop.call({ member: 'Ping', signature: 'ss', body: ['a', 'b'] }));
  });

  it('a 10 MiB string in each string argument is refused quickly, before anything waits on the console', async () => {
    const huge = 'A'.repeat(10 * 1024 * 1024);
    for (const { iface, m } of ALL) {
      const firstString = m.inArgs.findIndex((a) => a.type === 's');
      if (firstString < 0) continue;
      const body = m.inArgs.map((a, i) => (i === firstString ? huge : defaultFor(a.type)));
      const started = Date.now();
      await expectCleanError(clientFor(iface).call({ interface: iface, member: m.name, signature: m.inSignature, body, timeoutMs: 15_000 }));
      expect(Date.now() - started, m.name).toBeLessThan(5000);
    }
    expect(await h.console.listPending()).toEqual([]);
  });

  it('100,000 attributes are refused with TooLarge', async () => {
    const flood = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, 'v']));
    for (const [member, signature, body] of [
      ['SearchItems', 'sa{ss}', ['', flood]],
      ['CreateItem', 'ssa{ss}aysba{sv}', ['login', 'l', flood, Buffer.from('s'), '', false, {}]],
      ['UpdateItem', 'ssa{ss}a{sv}', ['x', 'l', flood, {}]],
    ] as const) {
      expect(await expectCleanError(desktop.call({ member, signature, body: [...body], timeoutMs: 20_000 }))).toBe(`${OURS}TooLarge`);
    }
  });

  it('invalid object paths and interfaces → the standard errors, no stack', async () => {
    await expectCleanError(desktop.call({ path: `${DISPATCHER_OBJECT_PATH}/nope`, member: 'Ping' }));
    await expectCleanError(desktop.call({ path: '/', member: 'Ping' }));
    await expectCleanError(desktop.call({ member: 'NoSuchMethod' }));
    await expectCleanError(desktop.call({ interface: 'org.freedesktop.DBus.Peer', member: 'GetMachineId' }));
  });

  it('control characters and path syntax in ids, names and context keys → InvalidArgs', async () => {
    const cases: Array<[string, string, unknown[]]> = [
      ['GetItems', 'as', [['ab\x1b[2J']]],
      ['GetSecrets', 'asa{sv}', [['../../etc'], {}]],
      ['DeleteItem', 'sa{sv}', ['id\n', {}]],
      ['SetSecret', 'saysa{sv}', ['x', Buffer.from('s'), 'text/plain\r\n', {}]],
      ['ReadAlias', 's', ['default\x07']],
      ['SetAlias', 'ss', ['ok', 'a/b']],
      ['SearchItems', 'sa{ss}', ['', { 'serv\x1bice': 'x' }]],
      ['CreateItem', 'ssa{ss}aysba{sv}', ['login', 'l', {}, Buffer.from('s'), '', false, { 'bad key\n': new dbus.Variant('s', 'x') }]],
      ['CreateItem', 'ssa{ss}aysba{sv}', ['login', 'l', {}, Buffer.from('s'), '', false, { list: new dbus.Variant('as', ['a']) }]],
    ];
    for (const [member, signature, body] of cases) {
      expect(await expectCleanError(desktop.call({ member, signature, body })), member).toBe(`${OURS}InvalidArgs`);
    }
    for (const [member, signature, body] of [
      ['Decide', 'ssu', ['r\x1b', 'once', 0]],
      ['Decide', 'ssu', ['r1', 'yes\n', 0]],
      ['Revoke', 's', ['m\u202e1']],
    ] as const) {
      expect(await expectCleanError(h.console.call({ member, signature, body: [...body] })), member).toBe(`${OURS}InvalidArgs`);
    }
  });

  it('labels keep requester text as it was sent (the console shows it inert)', async () => {
    const label = 'evil\x1b[2J\u202elabel\n';
    const [id] = await desktop.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', label, { k: 'v\x1b' }, Buffer.from('s'), '', false, {}] });
    const [[item]] = await desktop.call({ member: 'GetItems', signature: 'as', body: [[id]] });
    expect(item[2]).toBe(label);
    expect(item[3]).toEqual({ k: 'v\x1b' });
  });

  it('the daemon keeps serving another caller afterwards', async () => {
    const fresh = await h.client();
    expect(await fresh.call({ member: 'Ping' })).toEqual(['pong']);
    const [id] = await fresh.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', 'after', { after: '1' }, Buffer.from('still here'), '', false, {}] });
    const reading = fresh.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [[id], {}] });
    const pending = await h.console.waitForPending();
    await h.console.decide(pending.id, 'once');
    expect(Buffer.from((await reading)[0][0][1]).toString()).toBe('still here');
    expect(h.daemonLog()).not.toMatch(/\n\s+at /);
  });
});
