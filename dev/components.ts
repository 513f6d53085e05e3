// The parts of the dev sandbox, started in list order and stopped in reverse. Each one gets the
// shared context, may add lines to the env file (ctx.env) and returns how to stop it. To add a part
// (the session bus and agent, sd-gpg's settings), write one more Component and put it in COMPONENTS
// before `console`, which must stay last: it takes over this terminal.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, writeFileSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { callMethod, connectBus, disconnectBus, fromVariantMap, nameHasOwner, type MessageBus } from '../core/dbus/bus.js';
import { CONSOLE_INTERFACE, DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH, REQUEST_INTERFACE, SECRET_SERVICE_BUS_NAME } from '../core/names.js';
import { renderPolicy, renderTestBusConfig } from '../dbus-policy/render.js';
import { gitSigning } from './git-signing.js';
import { CONSOLE_IN_TERMINAL, CONSOLE_PLACE_VAR } from '../core/console-place.js';

export interface DevContext {
  /** The checkout (or installed package) root: bin/secrets-dispatcher lives under it. */
  root: string;
  /** Sockets, rendered configs and logs of this run (removed at the end). */
  runDir: string;
  /** Persistent dev state: the store and the audit log. */
  stateDir: string;
  /** The current user, playing both the companion and the desktop user. */
  user: string;
  /** Variables a client in another terminal needs; written as `export` lines to the env file. */
  env: Record<string, string>;
  passphraseFile: string | null;
  /** Lines for the person at the terminal, printed before the console takes the screen. */
  say(line: string): void;
}

export interface Running {
  name: string;
  /** PID of the process started for it, if any: stopped by this PID and no other way. */
  pid: number | null;
  /** Resolves with the exit code when the process ends by itself. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export interface Component {
  name: string;
  start(ctx: DevContext): Promise<Running>;
}

const STOP_GRACE_MS = 5000;

/** Wrap a child process: stop() sends SIGTERM to its PID, then SIGKILL after a grace period. */
export function runningChild(name: string, child: ChildProcess): Running {
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
  return {
    name,
    pid: child.pid ?? null,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

function cliArgs(ctx: DevContext, ...args: string[]): string[] {
  return ['--', join(ctx.root, 'bin', 'secrets-dispatcher'), ...args];
}

async function withBus<T>(ctx: DevContext, fn: (bus: MessageBus) => Promise<T>): Promise<T> {
  const bus = await connectBus('system', ctx.env.DBUS_SYSTEM_BUS_ADDRESS);
  try {
    return await fn(bus);
  } finally {
    disconnectBus(bus);
  }
}

async function daemonStatus(ctx: DevContext): Promise<Record<string, unknown> | null> {
  try {
    return await withBus(ctx, async (bus) => {
      const [map] = await callMethod(bus, { destination: DISPATCHER_BUS_NAME, path: DISPATCHER_OBJECT_PATH, interface: REQUEST_INTERFACE, member: 'Status', timeoutMs: 2000 });
      return fromVariantMap(map);
    });
  } catch {
    return null;
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, exited: Promise<unknown>, timeoutMs = 30_000): Promise<void> {
  let gone = false;
  void exited.then(() => { gone = true; });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone) throw new Error(`${what}: the process exited`);
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not ready within ${timeoutMs / 1000} s`);
}

/** A private system bus loaded with the real policy, the current user as both users. */
export const systemBus: Component = {
  name: 'system bus',
  async start(ctx) {
    const policyPath = join(ctx.runDir, 'policy.conf');
    const socketPath = join(ctx.runDir, 'system_bus_socket');
    const configPath = join(ctx.runDir, 'system-bus.conf');
    writeFileSync(policyPath, renderPolicy({ companionUser: ctx.user, desktopUser: ctx.user }));
    writeFileSync(configPath, renderTestBusConfig({ socketPath, includeFiles: [policyPath], type: 'system' }));
    // Own process group: a Ctrl+C meant for the console must not reach the bus behind its back.
    const child = spawn('dbus-daemon', [`--config-file=${configPath}`, '--nofork', '--nopidfile', '--print-address=1'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    const running = runningChild(this.name, child);
    const address = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.once('error', (err) => reject(new Error(`cannot run dbus-daemon (${err.message}); install the dbus package`)));
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]!.trim());
      });
      void running.exited.then((code) => reject(new Error(`dbus-daemon exited with ${code}`)));
    });
    ctx.env.DBUS_SYSTEM_BUS_ADDRESS = address;
    // dbus-next's systemBus() reads the address from the environment only; this process is a client too.
    process.env.DBUS_SYSTEM_BUS_ADDRESS = address;
    return running;
  },
};

/** The companion daemon as a child; its log goes to a file (the console owns the terminal). */
export const daemon: Component = {
  name: 'daemon',
  async start(ctx) {
    const configPath = join(ctx.runDir, 'daemon-config.json');
    writeFileSync(configPath, JSON.stringify({ desktopUser: ctx.user, companionUser: ctx.user, stateDir: ctx.stateDir }, null, 2));
    const logPath = join(ctx.stateDir, 'daemon.log');
    const log = openSync(logPath, 'a');
    // The node flag the daemon's unit sets in NODE_OPTIONS (systemd/secrets-dispatcher-daemon.service):
    // without it the idle daemon keeps a ~40 MiB larger young generation (docs/BENCHMARKS.md, Daemon).
    const child = spawn(process.execPath, ['--max-semi-space-size=1', ...cliArgs(ctx, 'daemon', '--config', configPath)], {
      stdio: ['ignore', log, log],
      detached: true,
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: ctx.env.DBUS_SYSTEM_BUS_ADDRESS },
    });
    closeSync(log);
    const running = runningChild(this.name, child);
    ctx.say(`daemon log: ${logPath}`);
    await waitFor(`the daemon (see ${logPath})`, async () => (await daemonStatus(ctx)) !== null, running.exited);
    return running;
  },
};

/** With --passphrase-file: create the store on first run, else unlock it; no prompt (dev only). */
export const store: Component = {
  name: 'store',
  async start(ctx) {
    const none: Running = { name: this.name, pid: null, exited: new Promise(() => undefined), stop: async () => undefined };
    if (!ctx.passphraseFile) return none;
    const text = readFileSync(ctx.passphraseFile);
    let end = text.length;
    while (end > 0 && (text[end - 1] === 0x0a || text[end - 1] === 0x0d)) end -= 1;
    const passphrase = Buffer.from(text.subarray(0, end));
    text.fill(0);
    try {
      const status = await daemonStatus(ctx);
      await withBus(ctx, async (bus) => {
        const call = { destination: DISPATCHER_BUS_NAME, path: DISPATCHER_OBJECT_PATH, interface: CONSOLE_INTERFACE, signature: 'ay', body: [passphrase], timeoutMs: 60_000 };
        if (status?.Initialized !== true) {
          const [code] = await callMethod(bus, { ...call, member: 'CreateStore' });
          // Dev only: the recovery code goes to a 0600 file in the dev state dir instead of the screen.
          const codePath = join(ctx.stateDir, 'recovery-code.txt');
          writeFileSync(codePath, `${code}\n`, { mode: 0o600 });
          ctx.say(`store created; recovery code in ${codePath}`);
        } else if (status.Locked !== false) {
          await callMethod(bus, { ...call, member: 'Unlock' });
          ctx.say('store unlocked');
        }
      });
    } finally {
      passphrase.fill(0);
    }
    return none;
  },
};

/** A private session bus for the agent and for clients in other terminals (secret-tool, Python). */
export const sessionBus: Component = {
  name: 'session bus',
  async start(ctx) {
    const socketPath = join(ctx.runDir, 'session_bus_socket');
    const configPath = join(ctx.runDir, 'session-bus.conf');
    // A session bus lets its user own and call anything, like Debian's session.conf.
    writeFileSync(configPath, renderTestBusConfig({ socketPath, includeFiles: [], type: 'session' })
      .replace('<deny own="*"/>', '<allow own="*"/>').replace('<deny send_type="method_call"/>', '<allow send_type="method_call"/>'));
    const child = spawn('dbus-daemon', [`--config-file=${configPath}`, '--nofork', '--nopidfile', '--print-address=1'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    const running = runningChild(this.name, child);
    ctx.env.DBUS_SESSION_BUS_ADDRESS = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.once('error', (err) => reject(new Error(`cannot run dbus-daemon (${err.message}); install the dbus package`)));
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]!.trim());
      });
      void running.exited.then((code) => reject(new Error(`dbus-daemon exited with ${code}`)));
    });
    return running;
  },
};

/** The Secret Service agent on the private session bus; its log goes to a file. */
export const agent: Component = {
  name: 'agent',
  async start(ctx) {
    const logPath = join(ctx.stateDir, 'agent.log');
    const log = openSync(logPath, 'a');
    const child = spawn(process.execPath, cliArgs(ctx, 'agent'), {
      stdio: ['ignore', log, log],
      detached: true,
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: ctx.env.DBUS_SYSTEM_BUS_ADDRESS, DBUS_SESSION_BUS_ADDRESS: ctx.env.DBUS_SESSION_BUS_ADDRESS },
    });
    closeSync(log);
    const running = runningChild(this.name, child);
    ctx.say(`agent log: ${logPath}`);
    await waitFor(`the agent (see ${logPath})`, async () => {
      const bus = await connectBus('session', ctx.env.DBUS_SESSION_BUS_ADDRESS).catch(() => null);
      if (!bus) return false;
      try {
        return await nameHasOwner(bus, SECRET_SERVICE_BUS_NAME);
      } finally {
        disconnectBus(bus);
      }
    }, running.exited);
    return running;
  },
};

/** The approval console in this terminal; it must be last. Ctrl+C in it ends the sandbox. */
export const consoleInTerminal: Component = {
  name: 'console',
  async start(ctx) {
    // No VT here: clients that source the env file say "on the console in the sandbox's terminal".
    ctx.env[CONSOLE_PLACE_VAR] = CONSOLE_IN_TERMINAL;
    const child = spawn(process.execPath, cliArgs(ctx, 'tui'), {
      stdio: 'inherit',
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: ctx.env.DBUS_SYSTEM_BUS_ADDRESS },
    });
    const running = runningChild(this.name, child);
    await waitFor('the console', async () => (await daemonStatus(ctx))?.ConsoleConnected === true, running.exited);
    return running;
  },
};

export const COMPONENTS: Component[] = [systemBus, daemon, store, sessionBus, agent, gitSigning, consoleInTerminal];
