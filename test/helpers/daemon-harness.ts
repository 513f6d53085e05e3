// The real daemon on a private system bus with our real policy, for every test that needs it.
// Only the human is scripted (ScriptedConsole, a console-interface peer). The daemon runs as a
// child process from dist/ (`node bin/secrets-dispatcher daemon`): the harness rebuilds dist/ first
// when any .ts under core/, daemon/, dbus-policy/, cli/ or tui/ is newer than the built daemon (once per test
// process), so a test run after an edit never exercises stale code.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectBus, disconnectBus, nameHasOwner } from '../../core/dbus/bus.js';
import { dbusErrorName } from '../../core/errors.js';
import { CONSOLE_INTERFACE, DISPATCHER_BUS_NAME } from '../../core/names.js';
import type { ConfigInput } from '../../core/config.js';
import type { DaemonStatus, DecisionVerb, HistoryEntry, PendingList, RememberedDecision, RequestDetail } from '../../core/wire.js';
import { connectAsUser, connectInProcess, type BusClient, type CallSpec } from './bus-client.js';
import { currentUserName, startPrivateBus, type PrivateBus } from './private-bus.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(REPO_ROOT, 'bin', 'secrets-dispatcher');
export const TEST_PASSPHRASE = 'correct horse battery staple';

/** A system user the harness may run a process as (root only); omitted = the test's own user. */
export interface HarnessUser { name: string; uid: number; gid: number }

export interface DaemonHarnessOptions {
  /** Who the daemon and console run as (default: the current user). */
  companion?: HarnessUser;
  /** The configured desktop user (default: the current user). */
  desktop?: HarnessUser;
  /** Replace our policy with an allow-all one (to prove the daemon's own UID checks). */
  allowAllPolicy?: boolean;
  /** Extra config keys (requestTimeoutSeconds, maxPendingPerRequester, ...). */
  config?: Partial<ConfigInput>;
  /** Register a scripted console (default true). */
  registerConsole?: boolean;
  /** Create and unlock the store through the console with TEST_PASSPHRASE (default true). */
  createStore?: boolean;
  /**
   * Root's admin rules directory (--policy-dir), read at each start. Default, when the tests run
   * as root: an empty one, so the host's /etc/secrets-dispatcher/policy.d never reaches a test
   * (the daemon trusts only root's directories, so a non-root run keeps the default path).
   */
  policyDir?: string;
  /** Run the daemon on a clock the test moves with advanceClock (daemon/test-clock.ts). */
  testClock?: boolean;
}

/**
 * Rate limits as tests get them unless they pass their own: out of the way, since a test plays
 * one program (node) asking far more often than a person could answer.
 */
const RATE_LIMITS_OUT_OF_THE_WAY = {
  promptsPerMinutePerSubject: 1_000_000, promptsPerMinutePerUid: 1_000_000, cooldownAfterUnanswered: 1_000_000, burstDistinctItems: 1_000_000,
};

export interface DaemonHarness {
  busAddress: string;
  /** Environment for client processes: DBUS_SYSTEM_BUS_ADDRESS pointing at the private bus. */
  env: NodeJS.ProcessEnv;
  stateDir: string;
  configPath: string;
  bus: PrivateBus;
  /** The one-time recovery code from CreateStore (null when the harness did not create the store). */
  readonly recoveryCode: string | null;
  console: ScriptedConsole;
  readonly daemonPid: number;
  /** Move the daemon's wall and boot clocks forward (only with testClock). */
  advanceClock(ms: number): void;
  /** The daemon's stderr so far (for failure messages). */
  daemonLog(): string;
  /** A request-interface peer: in this process, or as `user` in a child process. */
  client(user?: HarnessUser): Promise<BusClient>;
  /**
   * Stop the daemon (SIGTERM, or e.g. SIGKILL to crash it), start it again on the same state dir;
   * the console re-registers and unlocks.
   */
  restartDaemon(signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

let buildChecked = false;

/** True when some source under `dir` has no built output newer than itself. */
function anyStale(dir: string): boolean {
  for (const entry of readdirSync(join(REPO_ROOT, dir), { withFileTypes: true })) {
    const rel = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (anyStale(rel)) return true;
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      const out = join(REPO_ROOT, 'dist', rel.replace(/\.ts$/, '.js'));
      if (!existsSync(out) || statSync(out).mtimeMs < statSync(join(REPO_ROOT, rel)).mtimeMs) return true;
    }
  }
  return false;
}

/**
 * Rebuild dist/ when any source the daemon and its commands run is newer than its built file
 * (compared file by file: another engineer's build may have run halfway through an edit).
 * Others' type errors do not stop tsc from emitting.
 */
export function ensureBuilt(): void {
  if (buildChecked) return;
  const built = join(REPO_ROOT, 'dist', 'daemon', 'main.js');
  if (['core', 'daemon', 'dbus-policy', 'cli', 'tui'].some(anyStale)) {
    spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json')], { stdio: 'ignore', cwd: REPO_ROOT });
    if (!existsSync(built)) throw new Error('npm run build did not produce dist/daemon/main.js');
  }
  buildChecked = true;
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, explain: () => string = () => ''): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}${explain() ? `\n${explain()}` : ''}`);
}

export async function startDaemonHarness(opts: DaemonHarnessOptions = {}): Promise<DaemonHarness> {
  ensureBuilt();
  const me = currentUserName();
  const companionName = opts.companion?.name ?? me;
  const desktopName = opts.desktop?.name ?? me;
  const bus = await startPrivateBus({ users: { companionUser: companionName, desktopUser: desktopName }, allowAll: opts.allowAllPolicy });
  const stateDir = mkdtempSync(join(tmpdir(), 'sd-state-'));
  if (opts.companion) chownSync(stateDir, opts.companion.uid, opts.companion.gid);
  chmodSync(stateDir, 0o700);
  const configPath = join(bus.dir, 'config.json');
  const config: ConfigInput = {
    desktopUser: desktopName,
    companionUser: companionName,
    stateDir,
    logLevel: 'debug',
    ...opts.config,
    store: { argon2MemoryKiB: 1024, argon2Iterations: 1, ...opts.config?.store },
    rateLimits: { ...RATE_LIMITS_OUT_OF_THE_WAY, ...opts.config?.rateLimits },
  };
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  chmodSync(configPath, 0o644);
  const policyDir = opts.policyDir ?? (process.getuid?.() === 0 ? join(bus.dir, 'policy.d') : null);
  if (policyDir && !opts.policyDir) mkdirSync(policyDir, { mode: 0o755 });
  const env: NodeJS.ProcessEnv = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: bus.address };
  delete env.NOTIFY_SOCKET;
  // The daemon's alone: its own file, writable by it only (daemon/test-clock.ts checks).
  const clockFile = join(bus.dir, 'clock-offset-ms');
  let clockOffset = 0;
  const daemonEnv: NodeJS.ProcessEnv = { ...env };
  if (opts.testClock) {
    writeFileSync(clockFile, '0', { mode: 0o600 });
    if (opts.companion) chownSync(clockFile, opts.companion.uid, opts.companion.gid);
    daemonEnv.SD_TEST_CLOCK_FILE = clockFile;
  }

  // If this test process dies without stop() (a killed run, a crashed worker), a reaper shell
  // sees its stdin close and stops the daemon and bus it was told about and removes the state.
  const pidFile = join(bus.dir, 'harness.pids');
  const writePids = (pids: number[]) => writeFileSync(pidFile, pids.join(' '));
  writePids([bus.process.pid!]);
  const reaper = spawn('/bin/sh', ['-c', 'cat >/dev/null; kill -TERM $(cat "$0") 2>/dev/null; sleep 3; kill -KILL $(cat "$0") 2>/dev/null; rm -rf "$1" "$2"', pidFile, stateDir, bus.dir], {
    stdio: ['pipe', 'ignore', 'ignore'], detached: true,
  });
  reaper.unref();

  const watcher = await connectBus('session', bus.address);
  let daemon: ChildProcess | null = null;
  let log = '';
  const startDaemonProcess = async () => {
    log = '';
    const child = spawn(process.execPath, [CLI, 'daemon', '--config', configPath, ...(policyDir ? ['--policy-dir', policyDir] : [])], {
      env: daemonEnv, stdio: ['ignore', 'ignore', 'pipe'], cwd: '/',
      ...(opts.companion ? { uid: opts.companion.uid, gid: opts.companion.gid } : {}),
    });
    child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    daemon = child;
    writePids([child.pid!, bus.process.pid!]);
    await waitFor('the daemon to own its name', async () => {
      if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}:\n${log}`);
      return nameHasOwner(watcher, DISPATCHER_BUS_NAME);
    }, 20_000, () => log);
  };
  const stopDaemonProcess = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const child = daemon;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
  };

  const connectConsole = () => opts.companion && opts.companion.uid !== process.getuid?.()
    ? connectAsUser(bus.address, opts.companion)
    : connectInProcess(bus.address);

  const clients: BusClient[] = [];
  let console: ScriptedConsole | null = null;
  let recoveryCode: string | null = null;
  const initConsole = async (first: boolean) => {
    if (opts.registerConsole !== false) await console!.register();
    if (opts.createStore !== false) {
      if (first) recoveryCode = await console!.createStore(TEST_PASSPHRASE);
      else await console!.unlock(TEST_PASSPHRASE);
    }
  };
  const teardown = async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await console?.close().catch(() => undefined);
    await stopDaemonProcess();
    disconnectBus(watcher);
    await bus.stop();
    rmSync(stateDir, { recursive: true, force: true });
    // bus.stop() removed the pid list with the bus directory: the reaper finds nothing to kill.
    reaper.stdin!.end();
  };
  try {
    await startDaemonProcess();
    console = new ScriptedConsole(await connectConsole());
    await initConsole(true);
  } catch (err) {
    const message = `${(err as Error).message}\n--- daemon log ---\n${log}`;
    await teardown().catch(() => undefined);
    throw new Error(message);
  }

  return {
    busAddress: bus.address,
    env,
    stateDir,
    configPath,
    bus,
    get console() { return console!; },
    get recoveryCode() { return recoveryCode; },
    get daemonPid() { return daemon?.pid ?? -1; },
    daemonLog: () => log,
    advanceClock(ms) {
      if (!opts.testClock) throw new Error('advanceClock needs startDaemonHarness({ testClock: true })');
      clockOffset += ms;
      // Whole or not at all: the daemon reads the file on every clock call.
      writeFileSync(`${clockFile}.new`, String(clockOffset), { mode: 0o600 });
      if (opts.companion) chownSync(`${clockFile}.new`, opts.companion.uid, opts.companion.gid);
      renameSync(`${clockFile}.new`, clockFile);
    },
    async client(user) {
      const c = user && user.uid !== process.getuid?.() ? await connectAsUser(bus.address, user) : await connectInProcess(bus.address);
      clients.push(c);
      return c;
    },
    async restartDaemon(signal) {
      await stopDaemonProcess(signal);
      await waitFor('the name to be released', async () => !(await nameHasOwner(watcher, DISPATCHER_BUS_NAME)), 5000);
      await startDaemonProcess();
      await initConsole(false);
    },
    stop: teardown,
  };
}

/** Plays the human at the console: registers, watches the queue, decides. */
export class ScriptedConsole {
  private generation = 0n;
  private readonly waiters = new Set<() => void>();

  constructor(readonly peer: BusClient) {
    peer.onSignal((s) => {
      if (s.interface === CONSOLE_INTERFACE && s.member === 'Changed') {
        this.generation = BigInt(s.body[0]);
        for (const w of this.waiters) w();
      }
    });
  }

  get lastGeneration(): bigint {
    return this.generation;
  }

  call(spec: CallSpec): Promise<any[]> {
    return this.peer.call({ interface: CONSOLE_INTERFACE, ...spec });
  }

  async register(): Promise<void> {
    await this.call({ member: 'RegisterConsole' });
  }

  async status(): Promise<DaemonStatus> {
    const [map] = await this.call({ member: 'Status' });
    return {
      initialized: map.Initialized.value, locked: map.Locked.value, pending: map.Pending.value,
      consoleConnected: map.ConsoleConnected.value, version: map.Version.value, requestTimeoutSeconds: map.RequestTimeoutSeconds.value,
      throttled: map.ThrottledUid.value >= 0
        ? { uid: map.ThrottledUid.value, refused: map.ThrottledRefused.value, since: Number(map.ThrottledSince.value) }
        : null,
      cooldowns: JSON.parse(map.Cooldowns.value),
    };
  }

  /** ListPending as the console gets it: display-sized rows and how many wait in all. */
  async listSummaries(): Promise<PendingList> {
    const [json] = await this.call({ member: 'ListPending' });
    return JSON.parse(json);
  }

  /** GetRequest: one request's detail, cut to what a screen shows. */
  async getRequest(id: string): Promise<RequestDetail> {
    const [json] = await this.call({ member: 'GetRequest', signature: 's', body: [id] });
    return JSON.parse(json);
  }

  /** Every listed request with its detail (one that ends between the two calls is left out). */
  async listPending(): Promise<RequestDetail[]> {
    const out: RequestDetail[] = [];
    for (const row of (await this.listSummaries()).requests) {
      try {
        out.push(await this.getRequest(row.id));
      } catch (err) {
        if ((err as { dbusName?: string }).dbusName !== dbusErrorName('NotFound')) throw err;
      }
    }
    return out;
  }

  /** Resolves with the first pending request matching `predicate` (re-checked on every Changed). */
  async waitForPending(predicate: (r: RequestDetail) => boolean = () => true, timeoutMs = 10_000): Promise<RequestDetail> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = (await this.listPending()).find(predicate);
      if (hit) return hit;
      const left = until - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a pending request');
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 250));
        this.waiters.add(wake);
      });
    }
  }

  async decide(id: string, verb: DecisionVerb, minutes = 0): Promise<void> {
    await this.call({ member: 'Decide', signature: 'ssu', body: [id, verb, minutes] });
  }

  async approveWithSecret(id: string, secret: string | Buffer): Promise<void> {
    await this.call({ member: 'ApproveWithSecret', signature: 'say', body: [id, Buffer.from(secret)] });
  }

  async createStore(passphrase: string): Promise<string> {
    const [code] = await this.call({ member: 'CreateStore', signature: 'ay', body: [Buffer.from(passphrase)], timeoutMs: 60_000 });
    return code;
  }

  async unlock(passphrase: string): Promise<void> {
    await this.call({ member: 'Unlock', signature: 'ay', body: [Buffer.from(passphrase)], timeoutMs: 60_000 });
  }

  async lock(): Promise<void> {
    await this.call({ member: 'Lock' });
  }

  async changePassphrase(oldPassphrase: string, newPassphrase: string): Promise<void> {
    await this.call({ member: 'ChangePassphrase', signature: 'ayay', body: [Buffer.from(oldPassphrase), Buffer.from(newPassphrase)], timeoutMs: 60_000 });
  }

  async resetPassphrase(recoveryCode: string, newPassphrase: string): Promise<string> {
    const [code] = await this.call({ member: 'ResetPassphrase', signature: 'say', body: [recoveryCode, Buffer.from(newPassphrase)], timeoutMs: 60_000 });
    return code;
  }

  async history(limit = 100): Promise<HistoryEntry[]> {
    const [json] = await this.call({ member: 'History', signature: 'u', body: [limit] });
    return JSON.parse(json);
  }

  async listRemembered(): Promise<RememberedDecision[]> {
    const [json] = await this.call({ member: 'ListRemembered' });
    return JSON.parse(json);
  }

  async revoke(id: string): Promise<void> {
    await this.call({ member: 'Revoke', signature: 's', body: [id] });
  }

  async liftCooldown(id: string): Promise<void> {
    await this.call({ member: 'LiftCooldown', signature: 's', body: [id] });
  }

  /** Drop the console's bus connection (as a crashed console would). */
  async close(): Promise<void> {
    await this.peer.close();
  }
}
