// Console benchmark: the real daemon on a private system bus with our policy, the real console
// (`secrets-dispatcher tui`) in a pty whose screen is read with @xterm/headless, and a requester
// in this process. Each figure is printed next to a peer measured in the same run:
// - key press → requester unblocked, against a Decide sent straight over the bus (no terminal);
// - key → redraw with 1,000 pending, against the same key with 2 pending.
//   npm run build && node dist/bench/console-bench.js [--presses 40] [--pending 1000]
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dbus from 'dbus-next';
import xterm from '@xterm/headless';
import pty from 'node-pty';

// CommonJS package: its named exports are not visible to Node's ESM loader.
const { Terminal } = xterm;
import { connectBus, disconnectBus, nameHasOwner, type MessageBus } from '../core/dbus/bus.js';
import { CONSOLE_INTERFACE, DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH, REQUEST_INTERFACE } from '../core/names.js';
import { renderPolicy, renderTestBusConfig } from '../dbus-policy/render.js';
import { percentile, stopChildren } from './measure.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const argv = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const PRESSES = flag('presses', 40);
const PENDING = flag('pending', 1000);
const GUARD_MS = 300;

let stopping = false;
const interrupters = new Set<() => void>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

/** Fails loudly instead of hanging the bench when something never answers. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p.finally(() => clearTimeout(timer)), new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    interrupters.add(() => reject(new Error('interrupted')));
  })]);
}

async function call(bus: MessageBus, member: string, signature = '', body: unknown[] = [], iface = REQUEST_INTERFACE): Promise<any[]> {
  const reply = await bus.call(new dbus.Message({ destination: DISPATCHER_BUS_NAME, path: DISPATCHER_OBJECT_PATH, interface: iface, member, signature, body }));
  return reply?.body ?? [];
}

/** The console in a pty, its screen mirrored in a headless xterm; waits wake on parsed output. */
function consoleInPty(env: NodeJS.ProcessEnv) {
  const term = new Terminal({ cols: 120, rows: 40, allowProposedApi: true });
  const child = pty.spawn(process.execPath, ['--', join(ROOT, 'bin', 'secrets-dispatcher'), 'tui'], {
    name: 'xterm-256color', cols: 120, rows: 40, cwd: ROOT, env: env as Record<string, string>,
  });
  const wakers = new Set<() => void>();
  child.onData((d) => term.write(d));
  term.onWriteParsed(() => { for (const w of wakers) w(); });
  const text = () => {
    const out: string[] = [];
    for (let i = 0; i < term.rows; i++) out.push(term.buffer.active.getLine(i)?.translateToString(true) ?? '');
    return out.join('\n');
  };
  const waitFor = async (test: (screen: string) => boolean, what: string, timeoutMs = 30_000) => {
    const until = now() + timeoutMs;
    while (!test(text())) {
      if (stopping) throw new Error('interrupted');
      if (now() > until) throw new Error(`timed out waiting for ${what}; screen:\n${text()}`);
      await new Promise<void>((resolve) => {
        const wake = () => { wakers.delete(wake); clearTimeout(t); resolve(); };
        const t = setTimeout(wake, 50);
        wakers.add(wake);
      });
    }
  };
  return { child, text, waitFor, send: (s: string) => child.write(s) };
}

async function main(): Promise<void> {
  // Ctrl+C or SIGTERM still runs the cleanup below (children stopped by PID).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => {
    process.exitCode = 130;
    stopping = true;
    for (const stop of interrupters) stop();
  });
  const user = userInfo().username;
  const dir = mkdtempSync(join(tmpdir(), 'sd-console-bench-'));
  chmodSync(dir, 0o755);
  const children: ChildProcess[] = [];
  let tui: ReturnType<typeof consoleInPty> | null = null;
  const buses: MessageBus[] = [];
  try {
    writeFileSync(join(dir, 'policy.conf'), renderPolicy({ companionUser: user, desktopUser: user }));
    writeFileSync(join(dir, 'bus.conf'), renderTestBusConfig({ socketPath: join(dir, 'bus.sock'), includeFiles: [join(dir, 'policy.conf')] }));
    const busd = spawn('dbus-daemon', [`--config-file=${join(dir, 'bus.conf')}`, '--nofork', '--nopidfile', '--print-address=1'], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(busd);
    const address = await new Promise<string>((resolve) => busd.stdout!.once('data', (d: Buffer) => resolve(d.toString().split('\n')[0]!.trim())));
    const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: address };
    process.env.DBUS_SYSTEM_BUS_ADDRESS = address;

    const stateDir = join(dir, 'state');
    mkdirSync(stateDir, { mode: 0o700 });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({
      desktopUser: user, companionUser: user, stateDir, requestTimeoutSeconds: 3600, maxPendingPerRequester: Math.max(50, PENDING + 10), budgets: { pendingPerUid: PENDING + 10, pendingTotal: PENDING + 10 },
      console: { guardMs: GUARD_MS }, store: { argon2MemoryKiB: 1024, argon2Iterations: 1 },
      // Thousands of prompts from one node process, most never answered: the rate limits would refuse them.
      rateLimits: { promptsPerMinutePerSubject: 1_000_000, promptsPerMinutePerUid: 1_000_000, cooldownAfterUnanswered: 1_000_000 },
    }));
    const daemon = spawn(process.execPath, ['--', join(ROOT, 'bin', 'secrets-dispatcher'), 'daemon', '--config', join(dir, 'config.json')], { env, stdio: ['ignore', 'ignore', 'ignore'] });
    children.push(daemon);

    const client = await connectBus('system');
    const decider = await connectBus('system');
    buses.push(client, decider);
    for (let i = 0; i < 400 && !(await nameHasOwner(client, DISPATCHER_BUS_NAME)); i++) await sleep(25);
    await call(decider, 'CreateStore', 'ay', [Buffer.from('bench passphrase')], CONSOLE_INTERFACE);
    const [itemId] = await call(client, 'CreateItem', 'ssa{ss}aysba{sv}', ['login', 'Bench token', { service: 'bench' }, Buffer.from('bench-secret'), 'text/plain', false, {}]);
    const getSecrets = () => call(client, 'GetSecrets', 'asa{sv}', [[itemId], {}]);
    const listPending = async () => (JSON.parse((await call(decider, 'ListPending', '', [], CONSOLE_INTERFACE))[0] as string) as { requests: Array<{ id: string }> }).requests;

    tui = consoleInPty(env);
    await tui.waitFor((s) => s.includes('store unlocked | 0 pending'), 'the console');

    // Key press → requester unblocked, alternating with the peer: Decide straight over the bus.
    const keyPath: number[] = [];
    const busPath: number[] = [];
    for (let i = 0; i < PRESSES + 5; i++) {
      const viaKey = getSecrets();
      await tui.waitFor((s) => /^> SECRET /m.test(s), 'a request on screen');
      await sleep(GUARD_MS + 50);
      const t0 = now();
      tui.send('y');
      await within(viaKey, 10_000, `the requester after y (screen:\n${tui.text()})`);
      if (i >= 5) keyPath.push(now() - t0);
      await tui.waitFor((s) => s.includes('No pending requests'), 'an empty queue');

      const viaBus = getSecrets();
      let id: string | undefined;
      while (!(id = (await listPending())[0]?.id)) await sleep(2);
      const t1 = now();
      await call(decider, 'Decide', 'ssu', [id, 'once', 0], CONSOLE_INTERFACE);
      await within(viaBus, 10_000, 'the requester after Decide');
      if (i >= 5) busPath.push(now() - t1);
      await tui.waitFor((s) => s.includes('No pending requests'), 'an empty queue');
    }

    // Key → redraw: j moves focus; the redraw is done when the newly focused id is on screen.
    const redraw = async (count: number, presses: number): Promise<{ moves: number[]; decisions: number[] }> => {
      // The bus allows a connection 128 calls awaiting replies: spread them over several requesters.
      const requesters = await Promise.all(Array.from({ length: Math.ceil(count / 100) }, () => connectBus('system')));
      buses.push(...requesters);
      const calls = Array.from({ length: count }, (_, i) => call(requesters[Math.floor(i / 100)]!, 'GetSecrets', 'asa{sv}', [[itemId], {}]).catch(() => undefined));
      await tui!.waitFor((s) => s.includes(`| ${count} pending`), `${count} pending`, 120_000);
      const ids = (await listPending()).map((r) => r.id);
      const times: number[] = [];
      let focus = 0;
      for (let i = 0; i < presses; i++) {
        const down = focus + 1 < ids.length;
        const next = down ? focus + 1 : focus - 1;
        const t0 = now();
        tui!.send(down ? 'j' : 'k');
        await tui!.waitFor((s) => s.includes(`id ${ids[next]}`), `focus on ${ids[next]}`);
        times.push(now() - t0);
        focus = next;
      }
      // A decision: n on the focused one → its neighbour is drawn with focus (the queue shrinks by one).
      const decisions: number[] = [];
      for (let i = 0; i < Math.min(10, count - 1); i++) {
        await sleep(GUARD_MS + 50);
        const before = (/ id (r\w+)/.exec(tui!.text()) ?? [])[1];
        const left = count - i - 1;
        const t0 = now();
        tui!.send('n');
        await tui!.waitFor((s) => s.includes(`| ${left} pending`) && !s.includes(`id ${before}`), 'the next request after n');
        decisions.push(now() - t0);
      }
      for (const r of await listPending()) await call(decider, 'Decide', 'ssu', [r.id, 'deny', 0], CONSOLE_INTERFACE);
      await Promise.all(calls);
      await tui!.waitFor((s) => s.includes('No pending requests'), 'an empty queue', 120_000);
      return { moves: times, decisions };
    };
    const small = await redraw(2, PRESSES);
    const large = await redraw(PENDING, PRESSES);

    const fmt = (n: number) => n.toFixed(1);
    const p50Key = percentile(keyPath, 50);
    const p50Bus = percentile(busPath, 50);
    const p50Large = percentile(large.moves, 50);
    const p50Small = percentile(small.moves, 50);
    const p50LargeN = percentile(large.decisions, 50);
    const p50SmallN = percentile(small.decisions, 50);
    process.stdout.write([
      `console bench (node ${process.version}, ${PRESSES} presses each)`,
      `key press -> requester unblocked: p50 ${fmt(p50Key)} ms, p95 ${fmt(percentile(keyPath, 95))} ms | peer Decide over the bus: p50 ${fmt(p50Bus)} ms -> ${(p50Key / p50Bus).toFixed(2)}x | target < 20 ms: ${p50Key < 20 ? 'met' : 'MISSED'}`,
      `key j -> redraw, ${PENDING} pending: p50 ${fmt(p50Large)} ms, p95 ${fmt(percentile(large.moves, 95))} ms | peer 2 pending: p50 ${fmt(p50Small)} ms -> ${(p50Large / p50Small).toFixed(2)}x | target < 100 ms: ${p50Large < 100 ? 'met' : 'MISSED'}`,
      `key n -> next request drawn, ${PENDING} pending (${large.decisions.length} decisions): p50 ${fmt(p50LargeN)} ms, max ${fmt(Math.max(...large.decisions))} ms | peer 2 pending: p50 ${fmt(p50SmallN)} ms | target < 100 ms: ${p50LargeN < 100 ? 'met' : 'MISSED'}`,
      '',
    ].join('\n'));
  } finally {
    tui?.child.kill('SIGTERM');
    for (const b of buses) disconnectBus(b);
    await stopChildren(children);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
