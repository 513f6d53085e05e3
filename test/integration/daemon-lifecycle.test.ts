// The daemon under a service manager: READY=1 once the name is owned, WATCHDOG=1 heartbeats when
// WATCHDOG_USEC is set, and SIGTERM → store locked, name released, exit 0. The notify socket is a
// real AF_UNIX datagram socket read by python3 (node has none), as systemd would provide.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, disconnectBus, nameHasOwner, type MessageBus } from '../../core/dbus/bus.js';
import { DISPATCHER_BUS_NAME } from '../../core/names.js';
import { CLI, ensureBuilt } from '../helpers/daemon-harness.js';
import { currentUserName, startPrivateBus, type PrivateBus } from '../helpers/private-bus.js';

const LISTENER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    print(s.recv(4096).decode().replace("\\n", " ").strip(), flush=True)
`;

let bus: PrivateBus;
let dir: string;
let watcher: MessageBus;
const children: ChildProcess[] = [];

beforeAll(async () => {
  ensureBuilt();
  bus = await startPrivateBus();
  dir = mkdtempSync(join(tmpdir(), 'sd-life-'));
  watcher = await connectBus('session', bus.address);
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  disconnectBus(watcher);
  await bus?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('service manager integration', () => {
  it('READY=1 after the name is owned, WATCHDOG=1 heartbeats, SIGTERM → exit 0 and the name released', async () => {
    const socketPath = join(dir, 'notify.sock');
    const listener = spawn('/usr/bin/python3', ['-c', LISTENER, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(listener);
    const messages: string[] = [];
    await new Promise<void>((resolve) => listener.stdout!.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n').filter(Boolean)) {
        if (line === 'listening') resolve();
        else messages.push(line);
      }
    }));
    const me = currentUserName();
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ desktopUser: me, companionUser: me, stateDir: join(dir, 'state'), store: { argon2MemoryKiB: 1024, argon2Iterations: 1 } }));
    const daemon = spawn(process.execPath, [CLI, 'daemon', '--config', config], {
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: bus.address, NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '1000000' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(daemon);
    let log = '';
    daemon.stderr!.on('data', (d: Buffer) => { log += d.toString(); });

    const until = Date.now() + 20_000;
    while (!messages.some((m) => m.includes('READY=1')) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    expect(messages.some((m) => m.includes('READY=1')), log).toBe(true);
    // READY is sent only once the name is ours.
    expect(await nameHasOwner(watcher, DISPATCHER_BUS_NAME)).toBe(true);
    const readyAt = messages.length;
    await new Promise((r) => setTimeout(r, 1600));
    expect(messages.slice(readyAt).filter((m) => m.includes('WATCHDOG=1')).length).toBeGreaterThanOrEqual(2);

    const exited = new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(await nameHasOwner(watcher, DISPATCHER_BUS_NAME)).toBe(false);
    expect(log).toMatch(/stopping signal=SIGTERM/);
    expect(messages.some((m) => m.includes('STOPPING=1'))).toBe(true);
  });

  it('a missing --config file is a config error; flags alone run it without systemd, and SIGINT stops it cleanly', async () => {
    const me = currentUserName();
    const daemon = spawn(process.execPath, [CLI, 'daemon', '--desktop-user', me, '--companion-user', me, '--state-dir', join(dir, 'state2'), '--config', join(dir, 'absent-ok.json')], {
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: bus.address, NOTIFY_SOCKET: '' }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(daemon);
    let log = '';
    daemon.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    const exited = new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
    const code = await exited.then((c) => c);
    // --config naming a missing file is a config error (exit 78): a typo must not be ignored.
    expect(code, log).toBe(78);

    const flagsOnly = spawn(process.execPath, [CLI, 'daemon', '--desktop-user', me, '--companion-user', me, '--state-dir', join(dir, 'state2')], {
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: bus.address, NOTIFY_SOCKET: '' }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(flagsOnly);
    let log2 = '';
    flagsOnly.stderr!.on('data', (d: Buffer) => { log2 += d.toString(); });
    const until = Date.now() + 20_000;
    while (!(await nameHasOwner(watcher, DISPATCHER_BUS_NAME)) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    expect(await nameHasOwner(watcher, DISPATCHER_BUS_NAME), log2).toBe(true);
    const done = new Promise<number | null>((resolve) => flagsOnly.once('exit', (c) => resolve(c)));
    flagsOnly.kill('SIGINT');
    expect(await done).toBe(0);
  });
});
