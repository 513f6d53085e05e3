// The agent between real Secret Service clients and the real daemon: the daemon harness (private
// system bus, real policy, real daemon, scripted console) plus a private session bus with
// `secrets-dispatcher agent` on it. Clients get `env` (DBUS_SESSION_BUS_ADDRESS) and are the
// judges: secret-tool, /usr/bin/python3 with secretstorage and keyring.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connectBus, disconnectBus, nameHasOwner, type MessageBus } from '../../core/dbus/bus.js';
import { SECRET_SERVICE_BUS_NAME } from '../../core/names.js';
import { CLI, REPO_ROOT, startDaemonHarness, type DaemonHarness, type DaemonHarnessOptions } from './daemon-harness.js';
import { startPrivateBus, type PrivateBus } from './private-bus.js';

export interface AgentHarness {
  daemon: DaemonHarness;
  session: PrivateBus;
  /** For client processes: both buses, and no inherited keyring. */
  env: NodeJS.ProcessEnv;
  agentPid(): number;
  agentLog(): string;
  /** A connection to the session bus, for in-process clients. */
  sessionClient(): Promise<MessageBus>;
  stopAgent(): Promise<void>;
  startAgent(): Promise<void>;
  stop(): Promise<void>;
}

function newestTs(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestTs(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

let agentBuilt = false;
function ensureAgentBuilt(): void {
  if (agentBuilt) return;
  const built = join(REPO_ROOT, 'dist', 'agent', 'main.js');
  const sources = Math.max(newestTs(join(REPO_ROOT, 'agent')), newestTs(join(REPO_ROOT, 'core')), newestTs(join(REPO_ROOT, 'cli')));
  if (!existsSync(built) || statSync(built).mtimeMs < sources) {
    spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json')], { stdio: 'ignore', cwd: REPO_ROOT });
  }
  agentBuilt = true;
}

export async function startAgentHarness(opts: DaemonHarnessOptions & { agentArgs?: string[] } = {}): Promise<AgentHarness> {
  ensureAgentBuilt();
  const daemon = await startDaemonHarness(opts);
  const session = await startPrivateBus({ type: 'session' });
  const env: NodeJS.ProcessEnv = { ...daemon.env, DBUS_SESSION_BUS_ADDRESS: session.address };
  delete env.GNOME_KEYRING_CONTROL;
  const watcher = await connectBus('session', session.address);
  const connections: MessageBus[] = [watcher];
  let agent: ChildProcess | null = null;
  let log = '';

  const startAgent = async () => {
    log = '';
    const child = spawn(process.execPath, [CLI, 'agent', '--log-level', 'debug', ...(opts.agentArgs ?? [])], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    agent = child;
    const until = Date.now() + 20_000;
    while (!(await nameHasOwner(watcher, SECRET_SERVICE_BUS_NAME))) {
      if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode}:\n${log}`);
      if (Date.now() > until) throw new Error(`agent did not take its name:\n${log}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const stopAgent = async () => {
    const child = agent;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
  };

  try {
    await startAgent();
  } catch (err) {
    await daemon.stop();
    await session.stop();
    throw err;
  }
  return {
    daemon, session, env,
    agentPid: () => agent?.pid ?? -1,
    agentLog: () => log,
    async sessionClient() {
      const c = await connectBus('session', session.address);
      connections.push(c);
      return c;
    },
    stopAgent,
    startAgent,
    async stop() {
      await stopAgent();
      for (const c of connections) disconnectBus(c);
      await daemon.stop();
      await session.stop();
    },
  };
}

/** Run a client to completion; never throws on a non-zero exit (tests assert it). */
export function runClient(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: Buffer | string, timeoutMs = 120_000): Promise<{ code: number | null; stdout: Buffer; stderr: string; pid: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${err}`)); }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err, pid: child.pid ?? -1 });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/** Start a client and hand back the process, for tests that act while it waits. */
export function startClient(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: Buffer | string): { child: ChildProcess; done: Promise<{ code: number | null; stdout: Buffer; stderr: string }> } {
  const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(input ?? '');
  const done = new Promise<{ code: number | null; stdout: Buffer; stderr: string }>((resolve) => {
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
  });
  return { child, done };
}
