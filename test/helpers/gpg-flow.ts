// Running real git, sd-gpg and `secrets-dispatcher gpg` against a daemon harness, with the human
// played by the harness's ScriptedConsole.
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PendingRequest } from '../../core/wire.js';
import { CLI, REPO_ROOT, type DaemonHarness } from './daemon-harness.js';

export const SD_GPG = join(REPO_ROOT, 'bin', 'sd-gpg');

export interface Finished { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }
export interface Running { child: ChildProcess; done: Promise<Finished> }

export function start(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer; detached?: boolean } = {}): Running {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'], detached: opts.detached });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(opts.input ?? '');
  const done = new Promise<Finished>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

/** Start a command that will ask the console, wait for its request, decide with `decide`, return its result. */
export async function withDecision(
  harness: DaemonHarness,
  running: Running,
  kind: PendingRequest['kind'],
  decide: (req: PendingRequest) => Promise<void>,
): Promise<{ result: Finished; request: PendingRequest }> {
  const exited = running.done.then((r) => {
    throw new Error(`the command exited ${r.code} before asking: ${r.stderr}\n--- daemon ---\n${harness.daemonLog().slice(-3000)}`);
  });
  exited.catch(() => undefined);
  const request = await Promise.race([harness.console.waitForPending((r) => r.kind === kind, 20_000), exited]);
  await decide(request);
  return { result: await running.done, request };
}

export function runCli(harness: DaemonHarness, args: string[], opts: { cwd?: string; input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): Running {
  return start(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: opts.env ?? harness.env, input: opts.input });
}

/** `secrets-dispatcher gpg import -` approved once on the console; returns the fingerprint printed. */
export async function importKey(harness: DaemonHarness, armored: Buffer, passphrase?: string): Promise<string> {
  const { result } = await withDecision(harness, runCli(harness, ['gpg', 'import', '-'], { input: armored }), 'key', (req) =>
    passphrase === undefined ? harness.console.decide(req.id, 'once') : harness.console.approveWithSecret(req.id, passphrase));
  if (result.code !== 0) throw new Error(`gpg import failed (${result.code}): ${result.stderr}\n--- daemon ---\n${harness.daemonLog().slice(-3000)}`);
  const fpr = /imported ([0-9A-F]{40})/.exec(result.stdout)?.[1];
  if (!fpr) throw new Error(`gpg import printed no fingerprint: ${result.stdout}`);
  return fpr;
}

export interface TestRepo {
  dir: string;
  home: string;
  env: NodeJS.ProcessEnv;
  git(args: string[], opts?: { input?: string }): string;
  /**
   * `fifoStderr`: give git a pipe for stderr, as a shell pipeline or terminal would (Node's stdio
   * is a socket, which sd-gpg cannot reopen to tell git < 2.40 why signing failed).
   */
  start(args: string[], opts?: { detached?: boolean; fifoStderr?: boolean }): Running;
  cleanup(): void;
}

/** A repository whose gpg.program is sd-gpg and whose verifier keyring is `gnupgHome`. */
export function createRepo(harness: DaemonHarness, gnupgHome: string, signingKey: string): TestRepo {
  const dir = mkdtempSync(join(tmpdir(), 'sd-repo-'));
  const home = mkdtempSync(join(tmpdir(), 'sd-home-'));
  const env: NodeJS.ProcessEnv = { ...harness.env, HOME: home, GNUPGHOME: gnupgHome, GIT_CONFIG_NOSYSTEM: '1', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
  delete env.GIT_DIR;
  const git = (args: string[], opts: { input?: string } = {}) => execFileSync('git', args, { cwd: dir, env, input: opts.input ?? '', encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  git(['init', '-q', '-b', 'main']);
  git(['config', 'user.name', 'Ada Tester']);
  git(['config', 'user.email', 'ada@example.org']);
  git(['config', 'gpg.program', SD_GPG]);
  git(['config', 'user.signingkey', signingKey]);
  writeFileSync(join(dir, 'README'), 'hello\n');
  git(['add', 'README']);
  git(['commit', '-q', '-m', 'Unsigned start']);
  return {
    dir,
    home,
    env,
    git,
    start: (args, opts = {}) => opts.fifoStderr
      ? start('bash', ['-c', 'set -o pipefail; { git "$@" 2>&1 1>&3 | cat >&2; } 3>&1', 'git', ...args], { cwd: dir, env, detached: opts.detached })
      : start('git', args, { cwd: dir, env, detached: opts.detached }),
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Wait until `check` holds (polling), or fail naming `what`. */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
