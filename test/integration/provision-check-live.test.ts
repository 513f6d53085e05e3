// The live half of `sd-provision --check`: who owns the daemon's name on a (private) system bus,
// who owns org.freedesktop.secrets on a user's session bus at /run/user/UID/bus, and what runs
// on a VT. Real dbus-daemons with our policy, real processes as another UID.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { chmodSync, chownSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { startPrivateBus, type PrivateBus } from '../helpers/private-bus.js';
import { isRoot, createThrowawayUser, type ThrowawayUser } from '../helpers/root.js';
import { connectBus, disconnectBus, requestName, NAME_FLAG, type MessageBus } from '../../core/dbus/bus.js';
import { DISPATCHER_BUS_NAME, SECRET_SERVICE_BUS_NAME } from '../../core/names.js';
import { createLiveProbes } from '../../provision/probes.js';
import { runChecks } from '../../provision/check.js';
import { readRoot } from '../../provision/state.js';
import { planInstall } from '../../provision/plan.js';
import { execute } from '../../provision/execute.js';
import { resolveInputs } from '../../provision/inputs.js';
import { findPackageRoot } from '../../provision/render.js';
import { makeTestRoot, type TestRoot } from '../helpers/provision-root.js';

const probes = createLiveProbes();

function waitForLine(child: ChildProcess, pattern: RegExp, ms = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} in ${ms} ms: ${out}`)), ms);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = pattern.exec(out);
      if (m) { clearTimeout(timer); resolve(m[0]); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  });
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  return gone;
}

describe('system bus: who owns the daemon name', () => {
  let bus: PrivateBus;
  let client: MessageBus | undefined;
  const saved = process.env.DBUS_SYSTEM_BUS_ADDRESS;
  beforeAll(async () => {
    const me = process.env.USER ?? (isRoot ? 'root' : 'nobody');
    bus = await startPrivateBus({ users: { companionUser: me, desktopUser: 'nobody' } });
    process.env.DBUS_SYSTEM_BUS_ADDRESS = bus.address;
  });
  afterAll(async () => {
    if (client) disconnectBus(client);
    if (saved === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
    else process.env.DBUS_SYSTEM_BUS_ADDRESS = saved;
    await bus?.stop();
  });

  it('nobody, then our UID once a process holds the name; no bus → unknown with the reason', async () => {
    expect(await probes.systemBusOwnerUid(DISPATCHER_BUS_NAME)).toEqual({ known: true, value: null });
    client = await connectBus('system', bus.address);
    expect(await requestName(client, DISPATCHER_BUS_NAME, NAME_FLAG.doNotQueue)).toBe(1);
    expect(await probes.systemBusOwnerUid(DISPATCHER_BUS_NAME)).toEqual({ known: true, value: process.getuid!() });
    process.env.DBUS_SYSTEM_BUS_ADDRESS = 'unix:path=/nonexistent/system_bus_socket';
    expect(await probes.systemBusOwnerUid(DISPATCHER_BUS_NAME)).toEqual({ known: false, why: 'no system bus here (/nonexistent/system_bus_socket does not exist)' });
    process.env.DBUS_SYSTEM_BUS_ADDRESS = bus.address;
  });

  it.skipIf(!isRoot)('--check on the live system: the name held by the wrong UID FAILs, naming the owner', async () => {
    const root: TestRoot = makeTestRoot();
    try {
      const view = readRoot(root.dir);
      const inputs = resolveInputs(view, { user: 'alice', packageRoot: findPackageRoot() });
      execute(planInstall(view, inputs), { root: root.dir, report: () => undefined });
      const results = await runChecks({ view: readRoot(root.dir), inputs, probes, provisionCommand: 'sd-provision', live: true });
      const daemon = results.find((r) => r.component === 'daemon')!;
      expect(daemon).toMatchObject({ status: 'FAIL', detail: `${DISPATCHER_BUS_NAME} is owned by UID ${process.getuid!()}, not secrets-alice` });
    } finally {
      root.remove();
    }
  });
});

describe.skipIf(!isRoot)('session bus of a logged-in user and the VT (root)', () => {
  let user: ThrowawayUser;
  let runtimeDir: string;
  let daemon: ChildProcess | undefined;
  let owner: ChildProcess | undefined;
  let onVt: ChildProcess | undefined;
  beforeAll(async () => {
    user = createThrowawayUser('sdchk');
    runtimeDir = `/run/user/${user.uid}`;
    mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
    chownSync(runtimeDir, user.uid, user.gid);
    daemon = spawn('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', 'dbus-daemon', '--session', `--address=unix:path=${runtimeDir}/bus`, '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await waitForLine(daemon, /unix:path=\S+/);
    if (!existsSync(join(findPackageRoot(), 'dist/agent/main.js'))) execFileSync('npm', ['run', 'build', '--silent'], { cwd: findPackageRoot(), stdio: 'ignore' });
  });
  const asUser = () => [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups'];
  // The agent would reach the daemon on the system bus; it starts without it, which is all we need.
  const sessionEnv = () => ({ ...process.env, DBUS_SESSION_BUS_ADDRESS: `unix:path=${runtimeDir}/bus`, DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nonexistent/system_bus_socket' });
  afterAll(async () => {
    await stop(owner);
    await stop(onVt);
    await stop(daemon);
    if (runtimeDir && existsSync(runtimeDir)) rmSync(runtimeDir, { recursive: true, force: true });
    user?.remove();
  });

  it('agent: FAIL when nobody or another program owns org.freedesktop.secrets, PASS for the real agent', async () => {
    const root = makeTestRoot({ desktopUid: user.uid });
    const agentCheck = async () => {
      const view = readRoot(root.dir);
      const inputs = resolveInputs(view, { user: 'alice', packageRoot: findPackageRoot() });
      return (await runChecks({ view, inputs, probes, provisionCommand: 'sd-provision', live: true })).find((r) => r.component === 'agent')!;
    };
    try {
      expect(probes.userLoggedIn(user.uid)).toBe(true);
      expect(await probes.sessionBusOwnerCommand(user.uid, SECRET_SERVICE_BUS_NAME)).toEqual({ known: true, value: null });
      expect(await agentCheck()).toMatchObject({ status: 'FAIL', detail: "nobody owns org.freedesktop.secrets in alice's session", fix: 'systemctl --user -M alice@ start secrets-dispatcher-agent.service' });

      const script = [
        'import time',
        'from jeepney.io.blocking import open_dbus_connection',
        'from jeepney.bus_messages import message_bus',
        "conn = open_dbus_connection(bus='SESSION')",
        `reply = conn.send_and_get_reply(message_bus.RequestName('${SECRET_SERVICE_BUS_NAME}'))`,
        "print('owned', reply.body[0], flush=True)",
        'time.sleep(60)',
      ].join('\n');
      owner = spawn('setpriv', [...asUser(), '/usr/bin/python3', '-c', script, 'gnome-keyring-standin'], { stdio: ['ignore', 'pipe', 'pipe'], env: sessionEnv() });
      expect(await waitForLine(owner, /owned \d/)).toBe('owned 1');
      expect(await agentCheck()).toMatchObject({ status: 'FAIL', detail: expect.stringMatching(/owned by another program: \/usr\/bin\/python3 -c .* gnome-keyring-standin$/s) });
      await stop(owner);

      owner = spawn('setpriv', [...asUser(), process.execPath, join(findPackageRoot(), 'bin/secrets-dispatcher'), 'agent'], { stdio: ['ignore', 'pipe', 'pipe'], env: sessionEnv() });
      await waitForLine(owner, /serving the Secret Service/, 30_000);
      expect(await agentCheck()).toMatchObject({ status: 'PASS', detail: "the agent owns org.freedesktop.secrets in alice's session" });
    } finally {
      await stop(owner);
      root.remove();
    }
  });

  it('finds a process of the user whose controlling terminal is the VT', async () => {
    const vt = 13;
    expect(probes.processesOnVt(vt, user.uid)).toEqual({ known: true, value: [] });
    // systemd hands the VT to the unit's user (chown) and the session leader opening it makes it
    // its controlling terminal; the test does the same and puts the device back as it was.
    const device = `/dev/tty${vt}`;
    const was = statSync(device);
    chownSync(device, user.uid, user.gid);
    try {
      onVt = spawn('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', 'setsid', '--wait', 'sh', '-c', `exec sleep 60 < ${device}`], { stdio: 'ignore' });
      let found: number[] = [];
      for (let i = 0; i < 50 && found.length === 0; i += 1) {
        await new Promise((r) => setTimeout(r, 100));
        const probe = probes.processesOnVt(vt, user.uid);
        found = probe.known ? probe.value : [];
      }
      expect(found.length).toBe(1);
    } finally {
      chownSync(device, was.uid, was.gid);
      chmodSync(device, was.mode & 0o7777);
    }
  });
});
