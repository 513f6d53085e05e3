// Secret Service agent benchmark: our agent (session bus → agent → system bus → daemon) beside
// gnome-keyring-daemon on its own private session bus, with the same clients in the same run:
//   1. in-process GetSecret of a pre-approved item (dbus-next, plain session), per-call latency;
//   2. whole-process `secret-tool lookup` of a pre-approved item;
//   3. 100 concurrent clients × 100 lookups (SearchItems + GetSecret) of pre-approved items.
// "Pre-approved": the client unlocked the item once (our prompt answered by a scripted console
// that approves with "remember"), as a user who pressed `a` on the console.
//   npm run build && node dist/bench/agent-bench.js [--calls 2000] [--processes 40] [--clients 100] [--lookups 100]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dbus from 'dbus-next';
import { connectBus, disconnectBus, nameHasOwner, type MessageBus } from '../core/dbus/bus.js';
import { CONSOLE_INTERFACE, DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH } from '../core/names.js';
import { renderPolicy, renderTestBusConfig } from '../dbus-policy/render.js';
import { percentile, timed } from './measure.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'bin', 'secrets-dispatcher');
const argv = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const CALLS = flag('calls', 2000);
const PROCESSES = flag('processes', 40);
const CLIENTS = flag('clients', 100);
const LOOKUPS = flag('lookups', 100);
const SS = 'org.freedesktop.secrets';
const SS_PATH = '/org/freedesktop/secrets';

const children: ChildProcess[] = [];
// connectBus guards each connect with a process listener; many clients connect at once here.
process.setMaxListeners(CLIENTS * 2 + 20);
const dirs: string[] = [];

async function waitFor(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function track(child: ChildProcess): ChildProcess {
  children.push(child);
  child.stderr?.resume();
  child.stdout?.resume();
  return child;
}

async function startBus(type: 'system' | 'session', includeFiles: string[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-bench-bus-'));
  dirs.push(dir);
  chmodSync(dir, 0o755);
  const socketPath = join(dir, 'bus.sock');
  let config = renderTestBusConfig({ socketPath, includeFiles, type });
  if (type === 'session') config = config.replace('<deny own="*"/>', '<allow own="*"/>').replace('<deny send_type="method_call"/>', '<allow send_type="method_call"/>');
  writeFileSync(join(dir, 'bus.conf'), config);
  const child = track(spawn('dbus-daemon', [`--config-file=${join(dir, 'bus.conf')}`, '--nofork', '--nopidfile', '--print-address=1'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!.trim());
    });
    child.once('exit', (code) => reject(new Error(`dbus-daemon exited with ${code}`)));
  });
}

function call(bus: MessageBus, path: string, iface: string, member: string, signature = '', body: unknown[] = [], destination = SS): Promise<any[]> {
  return bus.call(new dbus.Message({ destination, path, interface: iface, member, signature, body })).then((r) => r?.body ?? []);
}

/** The scripted human: registers as the console, creates the store, approves everything with "remember". */
async function startApprovingConsole(systemAddress: string): Promise<MessageBus> {
  const bus = await connectBus('session', systemAddress);
  const con = (member: string, signature = '', body: unknown[] = []) => call(bus, DISPATCHER_OBJECT_PATH, CONSOLE_INTERFACE, member, signature, body, DISPATCHER_BUS_NAME);
  await con('RegisterConsole');
  await con('CreateStore', 'ay', [Buffer.from('bench passphrase')]);
  const decided = new Set<string>();
  let busy = false;
  const sweep = async () => {
    if (busy) return;
    busy = true;
    try {
      const [json] = await con('ListPending');
      for (const req of (JSON.parse(json) as { requests: { id: string }[] }).requests) {
        if (decided.has(req.id)) continue;
        decided.add(req.id);
        await con('Decide', 'ssu', [req.id, 'remember', 60]).catch(() => undefined);
      }
    } finally {
      busy = false;
    }
  };
  bus.on('message', (msg: dbus.Message) => {
    if (msg.type === dbus.MessageType.SIGNAL && msg.interface === CONSOLE_INTERFACE && msg.member === 'Changed') void sweep();
  });
  setInterval(() => void sweep(), 200).unref();
  return bus;
}

interface Stack { name: string; env: NodeJS.ProcessEnv; address: string }

async function startOurs(): Promise<Stack> {
  const user = userInfo().username;
  const policyDir = mkdtempSync(join(tmpdir(), 'sd-bench-policy-'));
  dirs.push(policyDir);
  chmodSync(policyDir, 0o755);
  const policy = join(policyDir, 'policy.conf');
  writeFileSync(policy, renderPolicy({ companionUser: user, desktopUser: user }));
  const systemAddress = await startBus('system', [policy]);
  const stateDir = mkdtempSync(join(tmpdir(), 'sd-bench-state-'));
  dirs.push(stateDir);
  chmodSync(stateDir, 0o700);
  const configPath = join(policyDir, 'config.json');
  writeFileSync(configPath, JSON.stringify({ desktopUser: user, companionUser: user, stateDir, logLevel: 'warning', maxPendingPerRequester: 1000, budgets: { createsWithoutAskingPerHour: 1_000_000 },
    // 100 clients approved at once and reading 100 items through one agent: far past what a person
    // could be asked a minute, and a burst by the rate limits' measure.
    rateLimits: { promptsPerMinutePerSubject: 1_000_000, promptsPerMinutePerUid: 1_000_000, burstDistinctItems: 1_000_000 }, store: { argon2MemoryKiB: 1024, argon2Iterations: 1 } }));
  const sessionAddress = await startBus('session', []);
  const env: NodeJS.ProcessEnv = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: systemAddress, DBUS_SESSION_BUS_ADDRESS: sessionAddress };
  delete env.NOTIFY_SOCKET;
  track(spawn(process.execPath, [CLI, 'daemon', '--config', configPath], { env, stdio: ['ignore', 'ignore', 'pipe'] }));
  const sys = await connectBus('session', systemAddress);
  await waitFor('the daemon', () => nameHasOwner(sys, DISPATCHER_BUS_NAME));
  disconnectBus(sys);
  await startApprovingConsole(systemAddress);
  track(spawn(process.execPath, [CLI, 'agent', '--log-level', 'warning'], { env, stdio: ['ignore', 'ignore', 'pipe'] }));
  const ses = await connectBus('session', sessionAddress);
  await waitFor('the agent', () => nameHasOwner(ses, SS));
  disconnectBus(ses);
  return { name: 'secrets-dispatcher agent', env, address: sessionAddress };
}

async function startGnomeKeyring(): Promise<Stack> {
  const home = mkdtempSync(join(tmpdir(), 'sd-bench-gk-'));
  dirs.push(home);
  const run = join(home, 'run');
  mkdirSync(run, { mode: 0o700 });
  const address = await startBus('session', []);
  const env = { ...process.env, HOME: home, XDG_RUNTIME_DIR: run, XDG_DATA_HOME: join(home, 'data'), DBUS_SESSION_BUS_ADDRESS: address };
  const gk = track(spawn('gnome-keyring-daemon', ['--foreground', '--unlock', '--components=secrets'], { env, stdio: ['pipe', 'pipe', 'pipe'] }));
  gk.stdin!.end('bench passphrase');
  const ses = await connectBus('session', address);
  await waitFor('gnome-keyring-daemon', () => nameHasOwner(ses, SS));
  disconnectBus(ses);
  return { name: 'gnome-keyring-daemon', env, address };
}

function secretToolAsync(env: NodeJS.ProcessEnv, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('secret-tool', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`secret-tool ${args.join(' ')} failed: ${err}`))));
  });
}

function secretTool(env: NodeJS.ProcessEnv, args: string[], input = ''): string {
  const r = spawnSync('secret-tool', args, { env, input });
  if (r.status !== 0) throw new Error(`secret-tool ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.toString();
}

/** One in-process client: a plain session and an item it has unlocked (approved) once. */
async function approvedClient(stack: Stack, attr: string): Promise<{ bus: MessageBus; session: string; item: string }> {
  const bus = await connectBus('session', stack.address);
  const [, session] = await call(bus, SS_PATH, 'org.freedesktop.Secret.Service', 'OpenSession', 'sv', ['plain', new dbus.Variant('s', '')]);
  const [unlocked, locked] = await call(bus, SS_PATH, 'org.freedesktop.Secret.Service', 'SearchItems', 'a{ss}', [{ bench: attr }]);
  const item = unlocked[0] ?? locked[0];
  if (!item) throw new Error(`${stack.name}: no item bench=${attr}`);
  if (!unlocked.includes(item)) {
    const [, prompt] = await call(bus, SS_PATH, 'org.freedesktop.Secret.Service', 'Unlock', 'ao', [[item]]);
    if (prompt !== '/') {
      const completed = new Promise<void>((resolve) => {
        bus.on('message', (m: dbus.Message) => { if (m.type === dbus.MessageType.SIGNAL && m.path === prompt && m.member === 'Completed') resolve(); });
      });
      await call(bus, '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'AddMatch', 's', [`type='signal',path='${prompt}'`], 'org.freedesktop.DBus');
      await call(bus, prompt, 'org.freedesktop.Secret.Prompt', 'Prompt', 's', ['']);
      await completed;
    }
  }
  return { bus, session, item };
}

const getSecret = (c: { bus: MessageBus; session: string; item: string }) =>
  call(c.bus, c.item, 'org.freedesktop.Secret.Item', 'GetSecret', 'o', [c.session]);

async function main(): Promise<void> {
  const ours = await startOurs();
  const gk = await startGnomeKeyring();
  const stacks = [gk, ours];
  for (const s of stacks) {
    secretTool(s.env, ['store', '--label=bench item', 'bench', 'one'], 'bench-secret');
    for (let i = 0; i < CLIENTS; i++) secretTool(s.env, ['store', `--label=bench ${i}`, 'bench', `c${i}`], `secret-${i}`);
  }

  // 1. In-process GetSecret, the two services alternating call by call.
  const clients = await Promise.all(stacks.map((s) => approvedClient(s, 'one')));
  for (let i = 0; i < 200; i++) for (const c of clients) await getSecret(c);
  const samples: number[][] = stacks.map(() => []);
  for (let i = 0; i < CALLS; i++) for (const [k, c] of clients.entries()) samples[k]!.push(await timed(() => getSecret(c)));
  for (const c of clients) disconnectBus(c.bus);
  const [gkCall, ourCall] = samples.map((s) => ({ p50: percentile(s, 50), p99: percentile(s, 99) }));

  // 2. Whole-process secret-tool lookup (each a new client). Remembered decisions are per program, so
  // secret-tool needs its own "remember" first; that lookup runs asynchronously because the scripted
  // console lives in this process and must be free to answer it.
  for (const s of stacks) await secretToolAsync(s.env, ['lookup', 'bench', 'one']);
  const proc: number[][] = stacks.map(() => []);
  for (let i = 0; i < PROCESSES; i++) {
    for (const [k, s] of stacks.entries()) {
      proc[k]!.push(await timed(async () => {
        if (secretTool(s.env, ['lookup', 'bench', 'one']) !== 'bench-secret') throw new Error(`${s.name}: wrong secret`);
      }));
    }
  }
  const [gkProc, ourProc] = proc.map((s) => percentile(s, 50));

  // 3. Concurrency: CLIENTS connections, each LOOKUPS × (SearchItems + GetSecret) of its own item.
  const concurrency = [];
  for (const s of stacks) {
    const conns = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => approvedClient(s, `c${i}`)));
    const lat: number[] = [];
    let errors = 0;
    const started = Date.now();
    await Promise.all(conns.map(async (c, i) => {
      for (let n = 0; n < LOOKUPS; n++) {
        try {
          lat.push(await timed(async () => {
            await call(c.bus, SS_PATH, 'org.freedesktop.Secret.Service', 'SearchItems', 'a{ss}', [{ bench: `c${i}` }]);
            const [[, , value]] = await getSecret(c);
            if (value.toString() !== `secret-${i}`) throw new Error('wrong secret');
          }));
        } catch {
          errors++;
        }
      }
    }));
    const seconds = (Date.now() - started) / 1000;
    for (const c of conns) disconnectBus(c.bus);
    concurrency.push({ name: s.name, errors, p50: percentile(lat, 50), p99: percentile(lat, 99), perSecond: Math.round(lat.length / seconds) });
  }

  const f = (n: number) => n.toFixed(3);
  console.log(`\nSecret Service agent vs gnome-keyring-daemon (same clients, same run)`);
  console.log(`in-process GetSecret, pre-approved (${CALLS} calls each, alternating):`);
  console.log(`  gnome-keyring p50 ${f(gkCall!.p50)} ms p99 ${f(gkCall!.p99)} ms | agent p50 ${f(ourCall!.p50)} ms p99 ${f(ourCall!.p99)} ms | ratio p50 ${(ourCall!.p50 / gkCall!.p50).toFixed(2)}x (goal <= 1.5x)`);
  console.log(`whole-process secret-tool lookup, pre-approved (${PROCESSES} runs each, median):`);
  console.log(`  gnome-keyring ${gkProc!.toFixed(1)} ms | agent ${ourProc!.toFixed(1)} ms | ratio ${(ourProc! / gkProc!).toFixed(2)}x`);
  console.log(`${CLIENTS} concurrent clients x ${LOOKUPS} lookups (SearchItems + GetSecret):`);
  for (const c of concurrency) console.log(`  ${c.name}: errors ${c.errors}, p50 ${f(c.p50)} ms, p99 ${f(c.p99)} ms, ${c.perSecond} lookups/s`);
}

function cleanup(): void {
  for (const c of children.reverse()) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  setTimeout(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }, 500).unref();
}

main().then(() => {
  cleanup();
  setTimeout(() => process.exit(0), 800);
}, (err) => {
  console.error(err);
  cleanup();
  setTimeout(() => process.exit(1), 800);
});
