// The daemon makes itself undumpable, with core size 0, before it reads its config or reaches the
// bus: the files in its /proc/PID become root's, a process of the same UID can read none of them
// (environ, mem), and no core file can be written. Run as an unprivileged UID (nobody), since root
// may read anything; the daemon is held at its bus connection by a socket that accepts and never
// answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRoot } from '../helpers/root.js';
import { eventually } from '../helpers/gpg-flow.js';

const CLI = join(import.meta.dirname, '../../bin/secrets-dispatcher');
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

describe.skipIf(!isRoot)('an undumpable daemon (root: runs it as nobody)', () => {
  let dir: string;
  let server: Server;
  let connected: Promise<unknown>;
  const children: ChildProcess[] = [];
  const asNobody = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const child = spawn('setpriv', [...NOBODY, process.execPath, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: 'ignore' });
    children.push(child);
    return child;
  };
  const procUid = (pid: number) => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  const sameUidReads = (path: string) => spawnSync('setpriv', [...NOBODY, 'cat', path], { encoding: 'utf8' });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sd-undumpable-'));
    chmodSync(dir, 0o755);
    const socket = join(dir, 'bus');
    server = createServer(() => undefined);
    connected = new Promise((resolve) => server.once('connection', resolve));
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    chmodSync(socket, 0o777);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ desktopUser: 'root', companionUser: 'nobody', stateDir: dir }), { mode: 0o644 });
  });
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a same-UID process cannot read its environ and it has core size 0; a plain node of that UID can be read', async () => {
    const daemon = asNobody([CLI, 'daemon', '--config', join(dir, 'config.json')], { DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${join(dir, 'bus')}`, SD_MARK: 'x' });
    const plain = asNobody(['-e', 'setInterval(() => {}, 1000)']);
    // It reaches for the bus only after reading its config, and the guard comes before that.
    await connected;
    expect(procUid(daemon.pid!)).toBe(65534);
    expect(statSync(`/proc/${daemon.pid}/environ`).uid).toBe(0);
    expect(daemon.exitCode).toBeNull();
    expect(readFileSync(`/proc/${daemon.pid}/limits`, 'utf8')).toMatch(/^Max core file size\s+0\s+0\s+bytes/m);
    const denied = sameUidReads(`/proc/${daemon.pid}/environ`);
    expect([denied.status, denied.stderr]).toEqual([1, expect.stringContaining('Permission denied')]);

    // setpriv has exec'd node (which makes a process dumpable again) once the command line is node's.
    await eventually('node running as nobody', () => readFileSync(`/proc/${plain.pid}/cmdline`, 'utf8').includes('setInterval'));
    expect(procUid(plain.pid!)).toBe(65534);
    expect(statSync(`/proc/${plain.pid}/environ`).uid).toBe(65534);
    expect(sameUidReads(`/proc/${plain.pid}/environ`).status).toBe(0);
  });
});
