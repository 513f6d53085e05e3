// `secrets-dispatcher dev` as a newcomer uses it: in a terminal (a real pty), with a passphrase file
// and an env file; a client in "another terminal" sources the env file and asks for a secret; the
// human presses y; Ctrl+C stops everything the sandbox started (checked by PID).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, ensureBuilt, REPO_ROOT } from '../helpers/daemon-harness.js';
import { KEYS, spawnPty, type PtyScreen } from '../helpers/pty-screen.js';

const dir = mkdtempSync(join(tmpdir(), 'sd-dev-test-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// A client written against the env file only: it knows nothing but DBUS_SYSTEM_BUS_ADDRESS.
const CLIENT = `
import dbus from ${JSON.stringify(join(REPO_ROOT, 'node_modules', 'dbus-next', 'index.js'))};
const { Message } = dbus;
const bus = dbus.systemBus();
const call = async (member, signature, body) => (await bus.call(new Message({
  destination: 'net.mowaka.SecretsDispatcher1', path: '/net/mowaka/SecretsDispatcher1',
  interface: 'net.mowaka.SecretsDispatcher1', member, signature, body })))?.body ?? [];
const [id] = await call('CreateItem', 'ssa{ss}aysba{sv}', ['login', 'Sandbox token', { service: 'sandbox' }, Buffer.from('sandbox-secret'), 'text/plain', false, {}]);
process.stdout.write('asking\\n');
const [secrets] = await call('GetSecrets', 'asa{sv}', [[id], {}]);
process.stdout.write('secret=' + Buffer.from(secrets[0][1]).toString() + '\\n');
bus.disconnect();
`;

// Another client against the env file: one Ping, no approval needed.
const PING = `
import dbus from ${JSON.stringify(join(REPO_ROOT, 'node_modules', 'dbus-next', 'index.js'))};
const bus = dbus.systemBus();
const reply = await bus.call(new dbus.Message({
  destination: 'net.mowaka.SecretsDispatcher1', path: '/net/mowaka/SecretsDispatcher1',
  interface: 'net.mowaka.SecretsDispatcher1', member: 'Ping' }));
process.stdout.write(reply.body[0] + '\\n');
bus.disconnect();
`;

/** PIDs whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return state.slice(state.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('secrets-dispatcher dev', () => {
  let sandbox: PtyScreen | null = null;

  afterAll(async () => {
    await sandbox?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a client that sources the env file, y approves through the pty, Ctrl+C leaves nothing running', async () => {
    ensureBuilt();
    const passphraseFile = join(dir, 'passphrase');
    const envFile = join(dir, 'sandbox.env');
    const clientFile = join(dir, 'client.mjs');
    writeFileSync(passphraseFile, 'sandbox passphrase\n', { mode: 0o600 });
    writeFileSync(clientFile, CLIENT);
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_STATE_HOME: join(dir, "xdg") };
    delete env.DBUS_SYSTEM_BUS_ADDRESS;
    sandbox = spawnPty(process.execPath, ['--', CLI, 'dev', '--state', join(dir, 'state'), '--passphrase-file', passphraseFile, '--env-file', envFile], { env });

    await sandbox.waitForText('store unlocked | 0 pending', 60_000);
    for (let i = 0; i < 100 && !existsSync(envFile); i++) await sleep(50);
    const envText = readFileSync(envFile, 'utf8');
    expect(envText).toMatch(/^export DBUS_SYSTEM_BUS_ADDRESS='unix:path=[^']+'$/m);
    const started = childrenOf(sandbox.pid).flatMap((pid) => [pid, ...childrenOf(pid)]);
    expect(started.length).toBeGreaterThanOrEqual(3);

    const client = spawn('bash', ['-c', `. ${JSON.stringify(envFile)} && exec ${JSON.stringify(process.execPath)} ${JSON.stringify(clientFile)}`], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    client.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    client.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const clientDone = new Promise<number | null>((r) => client.once('exit', r));

    await sandbox.waitForText(/^> SECRET .*Sandbox token/m, 20_000);
    await sleep(350);
    sandbox.send('y');
    expect(await clientDone, err).toBe(0);
    expect(out).toContain('secret=sandbox-secret');

    sandbox.send(KEYS.ctrlC);
    const exit = await Promise.race([sandbox.exited, sleep(20_000).then(() => null)]);
    expect(exit, sandbox.text()).not.toBeNull();
    expect(exit!.exitCode).toBe(0);
    expect(started.filter(alive)).toEqual([]);
    expect(existsSync(envFile)).toBe(false);
  });

  it('unlocks the existing store with the passphrase file on a second start, and SIGTERM stops everything', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_STATE_HOME: join(dir, "xdg") };
    delete env.DBUS_SYSTEM_BUS_ADDRESS;
    sandbox = spawnPty(process.execPath, ['--', CLI, 'dev', '--state', join(dir, 'state'), '--passphrase-file', join(dir, 'passphrase')], { env });
    await sandbox.waitForText('store unlocked | 0 pending', 60_000);
    const started = childrenOf(sandbox.pid).flatMap((pid) => [pid, ...childrenOf(pid)]);
    expect(started.length).toBeGreaterThanOrEqual(3);
    sandbox.kill('SIGTERM');
    const exit = await Promise.race([sandbox.exited, sleep(20_000).then(() => null)]);
    expect(exit).not.toBeNull();
    expect(started.filter(alive)).toEqual([]);
  });

  it('a second sandbox on the same state directory refuses at once naming the first one\'s PID; the first keeps its env file and keeps serving', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_STATE_HOME: join(dir, "xdg") };
    delete env.DBUS_SYSTEM_BUS_ADDRESS;
    const state = join(dir, 'state');
    const args = ['--', CLI, 'dev', '--state', state, '--passphrase-file', join(dir, 'passphrase')];
    // Both use the default env file beside the state: the one a refused sandbox must not remove.
    const envFile = join(state, 'env');
    sandbox = spawnPty(process.execPath, args, { env });
    await sandbox.waitForText('store unlocked | 0 pending', 60_000);
    for (let i = 0; i < 100 && !existsSync(envFile); i++) await sleep(50);
    const envText = readFileSync(envFile, 'utf8');

    const second = spawnPty(process.execPath, args, { env });
    const refused = await Promise.race([second.exited, sleep(20_000).then(() => null)]);
    expect(refused, second.text()).not.toBeNull();
    expect(refused!.exitCode).toBe(75);
    expect(second.text()).toContain(`another sandbox is running on ${state} (pid ${sandbox.pid})`);
    expect(readFileSync(envFile, 'utf8')).toBe(envText);

    const pingFile = join(dir, 'ping.mjs');
    writeFileSync(pingFile, PING);
    const ping = spawnSync('bash', ['-c', `. ${JSON.stringify(envFile)} && exec ${JSON.stringify(process.execPath)} ${JSON.stringify(pingFile)}`], { env, encoding: 'utf8', timeout: 20_000 });
    expect(ping.stdout, ping.stderr).toBe('pong\n');

    sandbox.kill('SIGTERM');
    const exit = await Promise.race([sandbox.exited, sleep(20_000).then(() => null)]);
    expect(exit).not.toBeNull();
    expect(existsSync(envFile)).toBe(false);

    // Afterwards the audit chain verifies, and the next sandbox unlocks the store (every row checked).
    const verify = spawnSync(process.execPath, ['--', CLI, 'history', '--verify', '--state-dir', state], { env, encoding: 'utf8', timeout: 20_000 });
    expect(verify.status, verify.stderr).toBe(0);
    sandbox = spawnPty(process.execPath, args, { env });
    await sandbox.waitForText('store unlocked | 0 pending', 60_000);
  });
});
