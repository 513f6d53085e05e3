// The console on a real virtual console: /dev/tty8 taken over, keys injected with TIOCSTI, the screen
// read back from /dev/vcs8, and the VT mode checked with VT_GETMODE after SIGTERM and kill -9.
// Needs root and a kernel with VTs (CI has both); skipped otherwise, saying why.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activate, activeVt, getMode, injectInput, VT_AUTO, VT_PROCESS } from '../../tui/vt.js';
import type { BusClient } from '../helpers/bus-client.js';
import { CLI, startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';
import { isRoot } from '../helpers/root.js';

const TTY = '/dev/tty8';
const VT = 8;
const canRun = isRoot && existsSync(TTY);
const GUARD_WAIT_MS = 350;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** /dev/vcsN appears once the VT has been opened; create the nodes if devtmpfs did not. */
function ensureVcsNodes(): void {
  if (!existsSync(`/dev/vcs${VT}`)) spawnSync('mknod', [`/dev/vcs${VT}`, 'c', '7', String(VT)]);
  if (!existsSync(`/dev/vcsa${VT}`)) spawnSync('mknod', [`/dev/vcsa${VT}`, 'c', '7', String(128 + VT)]);
}

/** The VT's screen as lines: /dev/vcsaN's header gives rows and columns, /dev/vcsN the characters. */
function readVcs(): string[] {
  const header = readFileSync(`/dev/vcsa${VT}`).subarray(0, 4);
  const rows = header[0]!;
  const cols = header[1]!;
  const text = readFileSync(`/dev/vcs${VT}`).toString('latin1');
  const lines: string[] = [];
  for (let r = 0; r < rows; r++) lines.push(text.slice(r * cols, (r + 1) * cols).trimEnd());
  return lines;
}

async function waitForVcs(match: RegExp, timeoutMs = 15_000): Promise<string[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const lines = readVcs();
    if (match.test(lines.join('\n'))) return lines;
    if (Date.now() > until) throw new Error(`timed out waiting for ${match} on ${TTY}; screen:\n${lines.join('\n')}`);
    await sleep(20);
  }
}

function vtMode(): number {
  const fd = openSync(TTY, 'r+');
  try {
    return getMode(fd).mode;
  } finally {
    closeSync(fd);
  }
}

function typeOnVt(text: string): void {
  const fd = openSync(TTY, 'r+');
  try {
    injectInput(fd, text);
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(!canRun)(`the console on ${TTY} (root with VTs)`, () => {
  let h: DaemonHarness;
  let desktop: BusClient;
  let itemId: string;
  let tui: ChildProcess | null = null;
  let tuiLog = '';

  const startTui = async () => {
    tuiLog = '';
    // A VT keeps its text after its program dies: clear it so an old screen cannot pass for a new one.
    writeFileSync(TTY, '\x1b[H\x1b[2J');
    const child = spawn(process.execPath, ['--', CLI, 'tui', '--tty', TTY], { env: h.env, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => { tuiLog += d.toString(); });
    tui = child;
    ensureVcsNodes();
    try {
      await waitForVcs(/store unlocked \| \d+ pending/);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- console stderr ---\n${tuiLog}`);
    }
    return child;
  };
  const exitOf = (child: ChildProcess) => new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));
  const getSecrets = () => desktop.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [[itemId], {}], timeoutMs: 30_000 });
  /** Waits until the console on the VT shows the one pending request, by its id (an old screen cannot match). */
  const requestOnVt = async (): Promise<string[]> => {
    let id: string | undefined;
    for (let i = 0; i < 500 && !(id = (await h.console.listPending())[0]?.id); i++) await sleep(10);
    return waitForVcs(new RegExp(`^> SECRET [\\s\\S]*id ${id}`, 'm'));
  };

  beforeAll(async () => {
    h = await startDaemonHarness({ registerConsole: false, config: { requestTimeoutSeconds: 60 } });
    desktop = await h.client();
    [itemId] = await desktop.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', 'VT token', { service: 'vt' }, Buffer.from('vt-secret'), 'text/plain', false, {}] });
  });

  afterAll(async () => {
    if (tui && tui.exitCode === null && tui.signalCode === null) {
      tui.kill('SIGTERM');
      await exitOf(tui);
    }
    // Whatever happened, leave VT8 as we found it.
    spawnSync(process.execPath, ['--', CLI, 'tui', '--reset-vt', '--tty', TTY]);
    await h?.stop();
  });

  it('shows a request on the VT, holds VT_PROCESS while it is there, and a TIOCSTI key decides it', async () => {
    await startTui();
    expect(vtMode()).toBe(VT_AUTO);
    const reading = getSecrets();
    const screen = await requestOnVt();
    expect(screen.join('\n')).toMatch(/Item +VT token/);
    expect(screen[0]).toMatch(/Secrets Dispatcher - approval console/);
    expect(vtMode()).toBe(VT_PROCESS);
    await sleep(GUARD_WAIT_MS);
    typeOnVt('y');
    const [secrets] = await reading;
    expect(Buffer.from(secrets[0][1]).toString()).toBe('vt-secret');
    await waitForVcs(/allowed once +SECRET/);
    await waitForVcs(/No pending requests/);
    expect(vtMode()).toBe(VT_AUTO);
  });

  it('a key injected within the guard time does not decide', async () => {
    const reading = getSecrets().then(() => 'allowed', () => 'denied');
    await requestOnVt();
    typeOnVt('y');
    await waitForVcs(/Key ignored/);
    expect((await h.console.listPending()).length).toBe(1);
    await sleep(GUARD_WAIT_MS);
    typeOnVt('n');
    expect(await reading).toBe('denied');
  });

  it('a switch away during a decision is allowed, the request stays pending, and coming back restarts the guard', async () => {
    const reading = getSecrets().then(() => 'allowed', () => 'denied');
    await requestOnVt();
    const fd = openSync(TTY, 'r+');
    try {
      const other = activeVt(fd) === VT ? 1 : activeVt(fd);
      const waitActive = async (n: number) => {
        for (let i = 0; i < 200 && activeVt(fd) !== n; i++) await sleep(10);
        return activeVt(fd);
      };
      activate(fd, VT);
      expect(await waitActive(VT)).toBe(VT);
      await sleep(GUARD_WAIT_MS);
      // Away: the console is asked (relsig) and lets the switch happen.
      activate(fd, other);
      expect(await waitActive(other)).toBe(other);
      expect((await h.console.listPending()).length).toBe(1);
      // Back: the console is told (acqsig); a key right away is ignored, a later one decides.
      activate(fd, VT);
      expect(await waitActive(VT)).toBe(VT);
      await sleep(50);
      typeOnVt('y');
      await waitForVcs(/Key ignored/);
      expect((await h.console.listPending()).length).toBe(1);
      await sleep(GUARD_WAIT_MS);
      typeOnVt('y');
      expect(await reading).toBe('allowed');
      activate(fd, other);
      expect(await waitActive(other)).toBe(other);
    } finally {
      closeSync(fd);
    }
  });

  it('restores VT_AUTO on SIGTERM while a request is on screen', async () => {
    const reading = getSecrets().catch(() => undefined);
    await requestOnVt();
    expect(vtMode()).toBe(VT_PROCESS);
    tui!.kill('SIGTERM');
    await exitOf(tui!);
    expect(tui!.exitCode).toBe(0);
    expect(vtMode()).toBe(VT_AUTO);
    // The request outlives the console: a new console shows it and decides it.
    await startTui();
    await requestOnVt();
    await sleep(GUARD_WAIT_MS);
    typeOnVt('n');
    await reading;
  });

  it('after kill -9 the mode is stale until reset: --reset-vt (the unit\'s ExecStopPost) restores VT_AUTO', async () => {
    const reading = getSecrets().catch(() => undefined);
    await requestOnVt();
    expect(vtMode()).toBe(VT_PROCESS);
    tui!.kill('SIGKILL');
    await exitOf(tui!);
    // What the kernel does by itself: nothing yet; VT_GETMODE still says VT_PROCESS.
    expect(vtMode()).toBe(VT_PROCESS);
    const reset = spawnSync(process.execPath, ['--', CLI, 'tui', '--reset-vt', '--tty', TTY], { encoding: 'utf8' });
    expect(reset.status, reset.stderr).toBe(0);
    expect(vtMode()).toBe(VT_AUTO);
    // A console restarted without the reset also clears a stale mode at start.
    await startTui();
    await requestOnVt();
    await sleep(GUARD_WAIT_MS);
    typeOnVt('n');
    await reading;
  });

  it('after kill -9 the kernel itself resets VT_AUTO at the next switch away from the VT', async () => {
    const reading = getSecrets().catch(() => undefined);
    await requestOnVt();
    tui!.kill('SIGKILL');
    await exitOf(tui!);
    expect(vtMode()).toBe(VT_PROCESS);
    const fd = openSync(TTY, 'r+');
    try {
      const before = activeVt(fd);
      const waitActive = (n: number) => activeVt(fd) === n;
      const back = before === VT ? 1 : before;
      activate(fd, VT);
      for (let i = 0; i < 100 && !waitActive(VT); i++) await sleep(10);
      activate(fd, back);
      for (let i = 0; i < 100 && !waitActive(back); i++) await sleep(10);
      expect(activeVt(fd)).toBe(back);
      expect(getMode(fd).mode).toBe(VT_AUTO);
    } finally {
      closeSync(fd);
    }
    await h.console.listPending().then((list) => Promise.all(list.map((r) => h.console.decide(r.id, 'deny'))));
    await reading;
  });
});

describe.skipIf(canRun)('the console on a VT', () => {
  it.skip(`needs root and ${TTY} (running as uid ${process.getuid?.()}, ${TTY} ${existsSync(TTY) ? 'exists' : 'missing'})`, () => undefined);
});
