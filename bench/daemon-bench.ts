// Daemon benchmark: the real daemon on a private system bus with our policy, measured from a
// client in this process. Each figure is printed next to a peer measured in the same run (a bare
// Ping round trip on the same bus, a bare node process's RSS), so machine speed cancels out.
//   npm run build && node dist/bench/daemon-bench.js [--items 10000] [--calls 1000] [--idle-seconds 15]
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dbus from 'dbus-next';
import { connectBus, disconnectBus, nameHasOwner, type MessageBus } from '../core/dbus/bus.js';
import { CONSOLE_INTERFACE, DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH, REQUEST_INTERFACE } from '../core/names.js';
import { renderPolicy, renderTestBusConfig } from '../dbus-policy/render.js';
import { percentile, stopChildren, timed } from './measure.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const argv = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const ITEMS = flag('items', 10_000);
const CALLS = flag('calls', 1_000);
/** Measure idle RSS this long after the last call (the daemon collects garbage 2 s after it: daemon/idle-collector.ts). */
const IDLE_SECONDS = flag('idle-seconds', 15);
const PASSPHRASE = Buffer.from('bench passphrase');
/**
 * The node flags the daemon's systemd unit starts it with (its Environment=NODE_OPTIONS=): memory
 * depends on them (--max-semi-space-size), so the bench measures the daemon as deployed.
 */
const UNIT_NODE_OPTIONS = /^Environment=NODE_OPTIONS=(.*)$/m.exec(readFileSync(join(ROOT, 'systemd', 'secrets-dispatcher-daemon.service'), 'utf8'))?.[1]?.trim() ?? '';

/** The call under test and the peer (Ping) alternate, so both see the same machine load. */
async function timeAgainstPing(n: number, ping: () => Promise<unknown>, fn: () => Promise<unknown>): Promise<{ peer: number[]; subject: number[] }> {
  for (let i = 0; i < Math.min(50, n); i++) {
    await ping();
    await fn();
  }
  const peer: number[] = [];
  const subject: number[] = [];
  for (let i = 0; i < n; i++) {
    peer.push(await timed(ping));
    subject.push(await timed(fn));
  }
  return { peer, subject };
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.replace(/\D+/g, '')) / 1024;
}

async function call(bus: MessageBus, member: string, signature = '', body: unknown[] = [], iface = REQUEST_INTERFACE): Promise<any[]> {
  const reply = await bus.call(new dbus.Message({ destination: DISPATCHER_BUS_NAME, path: DISPATCHER_OBJECT_PATH, interface: iface, member, signature, body }));
  return reply?.body ?? [];
}

async function waitUntil(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out: ${what}`);
}

async function main(): Promise<void> {
  const user = userInfo().username;
  const dir = mkdtempSync(join(tmpdir(), 'sd-bench-'));
  chmodSync(dir, 0o755);
  const children: ChildProcess[] = [];
  const buses: MessageBus[] = [];
  try {
    writeFileSync(join(dir, 'policy.conf'), renderPolicy({ companionUser: user, desktopUser: user }));
    writeFileSync(join(dir, 'bus.conf'), renderTestBusConfig({ socketPath: join(dir, 'bus.sock'), includeFiles: [join(dir, 'policy.conf')] }));
    const busd = spawn('dbus-daemon', [`--config-file=${join(dir, 'bus.conf')}`, '--nofork', '--nopidfile', '--print-address=1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(busd);
    const address = await new Promise<string>((resolve) => busd.stdout!.once('data', (d: Buffer) => resolve(d.toString().split('\n')[0]!.trim())));
    const stateDir = join(dir, 'state');
    // The reference Argon2id parameters (64 MiB, t=3): unlock time is one of the figures.
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ desktopUser: user, companionUser: user, stateDir, logLevel: 'notice', requestTimeoutSeconds: 60, budgets: { createsWithoutAskingPerHour: 1_000_000 } }));
    // SD_DAEMON_NODE_ARGS: extra node flags for the daemon (e.g. --cpu-prof), on top of the unit's.
    const nodeArgs = (process.env.SD_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const daemon = spawn(process.execPath, [...nodeArgs, join(ROOT, 'bin', 'secrets-dispatcher'), 'daemon', '--config', join(dir, 'config.json')], {
      env: { ...process.env, NODE_OPTIONS: UNIT_NODE_OPTIONS, DBUS_SYSTEM_BUS_ADDRESS: address, NOTIFY_SOCKET: '' }, stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(daemon);
    const client = await connectBus('session', address);
    const consoleBus = await connectBus('session', address);
    buses.push(client, consoleBus);
    await waitUntil(() => nameHasOwner(client, DISPATCHER_BUS_NAME), 20_000, 'daemon start');

    await new Promise((r) => setTimeout(r, 1000));
    const startedRss = rssMiB(daemon.pid!);
    // The scripted human: approves everything with "remember".
    await call(consoleBus, 'RegisterConsole', '', [], CONSOLE_INTERFACE);
    await call(consoleBus, 'CreateStore', 'ay', [PASSPHRASE], CONSOLE_INTERFACE);
    consoleBus.on('message', (msg: dbus.Message) => {
      if (msg.member !== 'Changed') return;
      void call(consoleBus, 'ListPending', '', [], CONSOLE_INTERFACE).then(async ([json]) => {
        for (const r of (JSON.parse(json) as { requests: { id: string }[] }).requests) await call(consoleBus, 'Decide', 'ssu', [r.id, 'remember', 60], CONSOLE_INTERFACE).catch(() => undefined);
      });
    });

    await new Promise((r) => setTimeout(r, 1000));
    const idleEmptyRss = rssMiB(daemon.pid!);
    const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(bare);
    await new Promise((r) => setTimeout(r, 500));
    const bareRss = rssMiB(bare.pid!);

    const ping = () => call(client, 'Ping');
    const [target] = await call(client, 'CreateItem', 'ssa{ss}aysba{sv}', ['login', 'bench target', { bench: 'target' }, Buffer.from('bench secret'), 'text/plain', false, {}]);
    await call(client, 'GetSecrets', 'asa{sv}', [[target], {}]);
    const remembered = await timeAgainstPing(CALLS, ping, () => call(client, 'GetSecrets', 'asa{sv}', [[target], {}]));

    const fillStart = Date.now();
    for (let i = 0; i < ITEMS; i++) {
      await call(client, 'CreateItem', 'ssa{ss}aysba{sv}', ['login', `item ${i}`, { service: `svc-${i}`, group: `g${i % 100}` }, Buffer.from(`secret ${i}`), 'text/plain', false, {}]);
    }
    const fillMs = Date.now() - fillStart;
    await new Promise((r) => setTimeout(r, 1000));
    const filledRss = rssMiB(daemon.pid!);
    let n = 0;
    const search = await timeAgainstPing(CALLS, ping, () => call(client, 'SearchItems', 'sa{ss}', ['', { service: `svc-${(n++ * 7919) % ITEMS}` }]));
    const [hits] = await call(client, 'SearchItems', 'sa{ss}', ['', { service: `svc-${Math.floor(ITEMS / 2)}` }]);
    if (hits.length !== 1) throw new Error(`search found ${hits.length} items for one attribute value`);

    await call(consoleBus, 'Lock', '', [], CONSOLE_INTERFACE);
    const unlockStart = process.hrtime.bigint();
    await call(consoleBus, 'Unlock', 'ay', [PASSPHRASE], CONSOLE_INTERFACE);
    const unlockMs = Number(process.hrtime.bigint() - unlockStart) / 1e6;
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const idleFullRss = rssMiB(daemon.pid!);
    daemon.kill('SIGUSR2');
    await new Promise((r) => setTimeout(r, 200));

    const ms = (v: number) => `${v.toFixed(3)} ms`;
    const row = (name: string, m: { peer: number[]; subject: number[] }, target: number) => {
      const p50 = percentile(m.subject, 50);
      const peer50 = percentile(m.peer, 50);
      return `${name.padEnd(44)} p50 ${ms(p50)}  p95 ${ms(percentile(m.subject, 95))}  | Ping p50 ${ms(peer50)} → ${(p50 / peer50).toFixed(2)}x  (target < ${target} ms: ${p50 < target ? 'PASS' : 'FAIL'})`;
    };
    const lines = [
      `Daemon benchmark — ${new Date().toISOString()}, node ${process.version}, ${CALLS} calls per figure (alternating with a Ping on the same bus), ${ITEMS} items, daemon NODE_OPTIONS="${UNIT_NODE_OPTIONS}" (from its unit)${nodeArgs.length ? ` plus ${nodeArgs.join(' ')}` : ''}`,
      row('GetSecrets covered by a remembered decision', remembered, 1),
      row(`SearchItems by one attribute (${ITEMS} items)`, search, 2),
      `${'Unlock of that store (Argon2id 64 MiB, t=3)'.padEnd(44)} ${unlockMs.toFixed(0)} ms (target < 1500 ms: ${unlockMs < 1500 ? 'PASS' : 'FAIL'})`,
      `${'Daemon RSS at start (store not yet created)'.padEnd(44)} ${startedRss.toFixed(1)} MiB; after filling, before lock/unlock ${filledRss.toFixed(1)} MiB`,
      `${'Idle daemon RSS, empty store'.padEnd(44)} ${idleEmptyRss.toFixed(1)} MiB (${(idleEmptyRss / bareRss).toFixed(2)}x a bare node process at ${bareRss.toFixed(1)} MiB)`,
      `${`Idle daemon RSS, ${ITEMS} items, unlocked, ${IDLE_SECONDS} s idle`.padEnd(44)} ${idleFullRss.toFixed(1)} MiB (${(idleFullRss / bareRss).toFixed(2)}x bare node; target < 80 MiB: ${idleFullRss < 80 ? 'PASS' : 'FAIL'})`,
      `${'Filling the store over the bus'.padEnd(44)} ${(fillMs / ITEMS).toFixed(2)} ms per CreateItem`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const b of buses) disconnectBus(b);
    await stopChildren(children);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
