// The dev sandbox signs: `secrets-dispatcher dev` in a real pty, then in "another terminal" with
// only the env file, a key is generated and `git commit -S` signed, each approved by pressing y on
// the sandbox's console; the console shows a hostile commit message inert.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ensureBuilt } from '../helpers/daemon-harness.js';
import { spawnPty, type PtyScreen } from '../helpers/pty-screen.js';
import { SD_GPG, start } from '../helpers/gpg-flow.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg-home.js';

let dir: string;
let dev: PtyScreen;
let env: NodeJS.ProcessEnv;
let verifier: GpgHome;

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'sd-gpg-dev-'));
  writeFileSync(join(dir, 'pass'), 'dev passphrase\n', { mode: 0o600 });
  const envFile = join(dir, 'env');
  dev = spawnPty(process.execPath, ['--', CLI, 'dev', '--state', join(dir, 'state'), '--passphrase-file', join(dir, 'pass'), '--env-file', envFile]);
  const until = Date.now() + 60_000;
  while (!existsSync(envFile)) {
    if (Date.now() > until) throw new Error(`no env file; screen:\n${dev.text()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  env = { ...process.env, HOME: dir, GIT_CONFIG_NOSYSTEM: '1' };
  for (const m of readFileSync(envFile, 'utf8').matchAll(/^export ([A-Z_0-9]+)=(.*)$/gm)) env[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1');
  verifier = createGpgHome();
});

afterAll(async () => {
  await dev?.close();
  verifier?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Press y once `match` is on the console and the guard time has passed. */
async function approveOnConsole(match: RegExp): Promise<void> {
  await dev.waitForText(match, 20_000);
  await new Promise((r) => setTimeout(r, 800));
  dev.send('y');
}

describe('dev sandbox signing', () => {
  it('env_file_makes_git_commit_S_sign_through_the_sandbox', async () => {
    expect(env.GIT_CONFIG_KEY_0).toBe('gpg.program');
    expect(env.GIT_CONFIG_VALUE_0).toBe(SD_GPG);

    const generating = start(process.execPath, [CLI, 'gpg', 'generate', '--name', 'Dev Signer', '--email', 'dev@example.org'], { env });
    await approveOnConsole(/Key action\s+generate/);
    const generated = await generating.done;
    expect(generated.code, generated.stderr).toBe(0);
    // The sandbox has no VT: the client says where its console is.
    expect(generated.stderr).toContain('Approve the new key on the console in the sandbox\'s terminal');
    expect(generated.stderr).not.toContain('Ctrl+Alt+F');
    const fpr = /generated ([0-9A-F]{40})/.exec(generated.stdout)![1]!;
    const exported = await start(process.execPath, [CLI, 'gpg', 'export-public', fpr], { env }).done;
    verifier.importKey(exported.stdout);

    const repo = join(dir, 'repo');
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, env: { ...env, GNUPGHOME: verifier.dir }, encoding: 'utf8' });
    execFileSync('git', ['init', '-q', repo], { env });
    git('config', 'user.name', 'Dev Signer');
    git('config', 'user.email', 'dev@example.org');
    const committing = start('git', ['commit', '-S', '-q', '--allow-empty', '-m', 'Dev commit \x1b[2J\x1b[31mRED'], { cwd: repo, env });
    await approveOnConsole(/Message\s+Dev commit/);
    // The escape sequences are on screen as text, not obeyed: the screen was not cleared and the
    // text after them is there, spelled out.
    expect(dev.text()).toContain('Dev commit \\x1b[2J\\x1b[31mRED');
    const committed = await committing.done;
    expect(committed.code, committed.stderr).toBe(0);
    expect(execFileSync('git', ['verify-commit', 'HEAD'], { cwd: repo, env: { ...env, GNUPGHOME: verifier.dir }, stdio: 'pipe' })).toBeDefined();
    expect(git('log', '-1', '--format=%GF')).toBe(`${fpr}\n`);
  });
});
