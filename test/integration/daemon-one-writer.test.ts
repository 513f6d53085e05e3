// One writer per state directory: a second daemon on the same state directory but on another
// bus (so the bus name cannot stop it) is refused at once, naming the first daemon's PID, and
// changes nothing; the first keeps serving, and afterwards the store unlocks (every row checked
// against its digest) and the audit chain verifies.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_DB_FILE } from '../../core/audit.js';
import { connectBus, disconnectBus, nameHasOwner } from '../../core/dbus/bus.js';
import { DISPATCHER_BUS_NAME } from '../../core/names.js';
import type { BusClient } from '../helpers/bus-client.js';
import { CLI, startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';
import { startPrivateBus, type PrivateBus } from '../helpers/private-bus.js';

interface Run { code: number | null; stdout: string; stderr: string }

function run(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not finish: ${stderr}`));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** SHA-256 of each file the daemon writes in the state directory (absent ones too). */
function stateFiles(stateDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['store.db', 'store.db-wal', AUDIT_DB_FILE, `${AUDIT_DB_FILE}-wal`]) {
    const path = join(stateDir, name);
    out[name] = existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'absent';
  }
  return out;
}

let h: DaemonHarness;
let other: PrivateBus;
let desktop: BusClient;

beforeAll(async () => {
  h = await startDaemonHarness();
  other = await startPrivateBus();
  desktop = await h.client();
});
afterAll(async () => {
  await h?.stop();
  await other?.stop();
});

const createItem = async (label: string, secret: string) =>
  (await desktop.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', label, { label }, Buffer.from(secret), 'text/plain', false, {}] }))[0] as string;

describe('one daemon per state directory', () => {
  it('a second daemon on another bus but the same state directory refuses with the holder PID and changes nothing', async () => {
    const before = await createItem('before the second daemon', 'secret-one');
    // The item is committed when CreateItem returns; its audit row lands with the next batch.
    // Once it is there the first daemon has nothing left to write.
    for (;;) {
      const history = await run(['history', '--json', '--state-dir', h.stateDir], process.env);
      if (history.stdout.includes('before the second daemon')) break;
    }
    const files = stateFiles(h.stateDir);

    const second = await run(['daemon', '--config', h.configPath], { ...h.env, DBUS_SYSTEM_BUS_ADDRESS: other.address });
    expect(second.code, second.stderr).toBe(75);
    expect(second.stderr).toMatch(/another instance is running/);
    expect(second.stderr).toContain(`pid ${h.daemonPid}`);
    expect(stateFiles(h.stateDir)).toEqual(files);
    // It never got as far as the other bus either.
    const watcher = await connectBus('session', other.address);
    try {
      expect(await nameHasOwner(watcher, DISPATCHER_BUS_NAME)).toBe(false);
    } finally {
      disconnectBus(watcher);
    }

    // The first keeps serving: a write, and a read of what was there before.
    const after = await createItem('after the second daemon', 'secret-two');
    expect(await desktop.call({ member: 'Ping' })).toEqual(['pong']);

    // Afterwards: a restart unlocks (the row digest covers every row) and both items read back;
    // the audit chain verifies.
    await h.restartDaemon();
    const [items] = await desktop.call({ member: 'GetItems', signature: 'as', body: [[before, after]] });
    expect(items.map((i: unknown[]) => i[0]).sort()).toEqual([before, after].sort());
    const verify = await run(['history', '--verify', '--state-dir', h.stateDir], process.env);
    expect(verify.code, verify.stderr).toBe(0);
  });

  it('once the first daemon has stopped, the lock is free again (even after kill -9)', async () => {
    await h.restartDaemon('SIGKILL');
    expect(await desktop.call({ member: 'Ping' })).toEqual(['pong']);
  });
});
