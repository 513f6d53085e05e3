// The fork + exec forgery against the real daemon on a private bus: a Python process opens the
// connection, forks, and exec's `git cat-file --batch` in a repository while its child keeps the
// connection and asks for a secret. The bus's PID is the Python process, which by then runs git.
// The daemon cannot prove who sends; these tests hold it to saying only what it knows: the exe
// line is "the process that opened the connection (pid N) now runs …", what changed between its
// reads is on screen, and no grant given to anyone else covers the request.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH, REQUEST_INTERFACE } from '../../core/names.js';
import type { RequestDetail } from '../../core/wire.js';
import { detailLines, lineText } from '../../tui/view-model.js';
import type { BusClient } from '../helpers/bus-client.js';
import { startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';
import { eventually } from '../helpers/gpg-flow.js';

const HELPERS = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers');
const PYTHON = '/usr/bin/python3';
const PYTHON_EXE = realpathSync(PYTHON);
const ERR = 'net.mowaka.SecretsDispatcher1.Error.';

type Mode = 'hello-first' | 'exec-first' | 'request-first';
interface Forgery {
  /** The PID the bus reports for the connection: the Python process, later git. */
  openerPid: number;
  /** The forged call's reply ({body} or {error}). */
  result: Promise<{ body?: unknown[]; error?: { name: string; text: string } }>;
  /** request-first only: the opener waits for a line on stdin, then exec's git. */
  exec(): void;
  child: ChildProcess;
}

let h: DaemonHarness;
let desktop: BusClient;
let itemId: string;
let repoDir: string;
const running: ChildProcess[] = [];

function forge(mode: Mode, ids: string[]): Forgery {
  const call = { destination: DISPATCHER_BUS_NAME, path: DISPATCHER_OBJECT_PATH, interface: REQUEST_INTERFACE, member: 'GetSecrets', signature: 'asa{sv}', body: [ids, {}] };
  const child = spawn(PYTHON, [join(HELPERS, 'fork-exec-forger.py'), join(h.bus.dir, 'bus.sock'), repoDir, process.execPath, join(HELPERS, 'forged-sender.mjs'), mode, JSON.stringify(call)], { stdio: ['pipe', 'pipe', 'inherit'] });
  running.push(child);
  const result = new Promise<{ body?: unknown[]; error?: { name: string; text: string } }>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line);
      if ('body' in msg || 'error' in msg) resolve(msg);
      if (msg.event === 'error') reject(new Error(msg.text));
    });
  });
  return { openerPid: child.pid!, result, child, exec: () => child.stdin!.write('go\n') };
}

const screen = (r: RequestDetail) => detailLines(r, 120, Date.now(), true).map(lineText).join('\n');
const runsGit = (pid: number) => () => {
  try {
    return readlinkSync(`/proc/${pid}/exe`) === '/usr/bin/git';
  } catch {
    return false;
  }
};

beforeAll(async () => {
  h = await startDaemonHarness({ config: { requestTimeoutSeconds: 20 } });
  desktop = await h.client();
  [itemId] = await desktop.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', 'GitHub token', { service: 'github' }, Buffer.from('s3cret'), 'text/plain', false, {}] }) as [string];
  repoDir = mkdtempSync(join(tmpdir(), 'sd-forged-repo-'));
  execFileSync('git', ['init', '-q', repoDir]);
});
afterAll(async () => {
  for (const c of running) c.kill('SIGKILL');
  await h?.stop();
  if (repoDir) rmSync(repoDir, { recursive: true, force: true });
});

describe('a connection opened by one process and used by another', () => {
  it('hello_then_exec: the screen says the opener now runs git, that it ran python3 when it connected, and nothing can be remembered', async () => {
    const forged = forge('hello-first', [itemId]);
    const pending = await h.console.waitForPending((r) => r.requester.process?.pid === forged.openerPid);
    const q = pending.requester;
    expect(q.process).toMatchObject({ pid: forged.openerPid, exe: '/usr/bin/git', cwd: realpathSync(repoDir) });
    expect(q.process!.cmdline).toEqual(['git', 'cat-file', '--batch']);
    expect(q.exeAtConnection).toBe(PYTHON_EXE);
    expect(q.changes).toEqual([`ran ${PYTHON_EXE} when the connection appeared, /usr/bin/git at the request`]);
    expect(pending.summary).toBe(`uid ${process.getuid!()} (pid ${forged.openerPid} now runs /usr/bin/git; it ran ${PYTHON_EXE} when it connected) wants the secret of 'GitHub token'`);
    const text = screen(pending);
    expect(text).toContain(`the process that opened the connection (pid ${forged.openerPid}) now runs /usr/bin/git`);
    expect(text).toContain(`pid ${forged.openerPid} ran ${PYTHON_EXE} when the connection appeared, /usr/bin/git at the request`);
    expect(text).not.toMatch(/^\s*exe\s+\/usr\/bin\/git/m);
    expect(pending.rememberScope).toBeNull();
    await expect(h.console.decide(pending.id, 'remember')).rejects.toMatchObject({ dbusName: `${ERR}InvalidArgs` });
    await h.console.decide(pending.id, 'deny');
    expect((await forged.result).error?.name).toBe(`${ERR}Denied`);
    expect(await h.console.listRemembered()).toEqual([]);
    const rows = (await h.console.history(5)).filter((e) => e.requesterPid === forged.openerPid && e.outcome === 'denied');
    expect(rows[0]?.detail).toBe(`Denied: opener ran ${PYTHON_EXE} when the connection appeared, /usr/bin/git at the request`);
  });

  it('exec_then_hello: git at every read, still labelled as the opener, and a grant given to another program does not cover it', async () => {
    // An honest caller (this node process) is given a remembered read of the same item.
    const honest = desktop.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [[itemId], {}] });
    const honestPending = await h.console.waitForPending((r) => r.requester.process?.pid === process.pid);
    expect(honestPending.rememberScope?.description).toMatch(new RegExp(`^any process of uid ${process.getuid!()} that presents itself as ${process.execPath} running the script \\S+ \\(as its command line reports\\) with contents sha256 [0-9a-f]{16}( in session \\d+|, in any session,) may read 'GitHub token' for 10 minutes$`));
    await h.console.decide(honestPending.id, 'remember');
    await honest;

    const forged = forge('exec-first', [itemId]);
    const pending = await h.console.waitForPending((r) => r.requester.process?.pid === forged.openerPid);
    const q = pending.requester;
    expect(q.exeAtConnection).toBe('/usr/bin/git');
    expect(q.changes).toEqual([]);
    expect(screen(pending)).toContain(`the process that opened the connection (pid ${forged.openerPid}) now runs /usr/bin/git`);
    // What "a" would cover is said in the words that are true of it.
    expect(pending.rememberScope?.description).toMatch(new RegExp(`^any process of uid ${process.getuid!()} that presents itself as /usr/bin/git( in session \\d+|, in any session,) may read 'GitHub token' for 10 minutes$`));
    await h.console.decide(pending.id, 'deny');
    expect((await forged.result).error?.name).toBe(`${ERR}Denied`);
    for (const grant of await h.console.listRemembered()) await h.console.revoke(grant.id);
  });

  it('exec_before_the_decision: the approval is refused, with what changed, and no secret leaves', async () => {
    const forged = forge('request-first', [itemId]);
    const pending = await h.console.waitForPending((r) => r.requester.process?.pid === forged.openerPid);
    expect(pending.requester.process?.exe).toBe(PYTHON_EXE);
    forged.exec();
    await eventually('the opener to exec git', runsGit(forged.openerPid));
    await h.console.decide(pending.id, 'once');
    const { error, body } = await forged.result;
    expect(body).toBeUndefined();
    expect(error?.name).toBe(`${ERR}Cancelled`);
    expect(error?.text).toContain(`The process that opened the connection (pid ${forged.openerPid}) ran ${PYTHON_EXE} at the request, /usr/bin/git at the decision`);
    const [row] = (await h.console.history(5)).filter((e) => e.requesterPid === forged.openerPid && e.outcome === 'cancelled');
    expect(row?.detail).toBe(`Cancelled: opener ran ${PYTHON_EXE} at the request, /usr/bin/git at the decision`);
  });
});
