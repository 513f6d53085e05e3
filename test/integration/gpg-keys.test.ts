// `secrets-dispatcher gpg ...` and `git setup` against the real daemon; the console plays the human.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg-home.js';
import { createRepo, importKey, runCli, SD_GPG, withDecision } from '../helpers/gpg-flow.js';

describe('signing keys in the companion', () => {
  let harness: DaemonHarness;
  let signer: GpgHome;
  let verifier: GpgHome;

  beforeAll(async () => {
    harness = await startDaemonHarness();
    signer = createGpgHome();
    verifier = createGpgHome();
  });
  afterAll(async () => {
    signer?.cleanup();
    verifier?.cleanup();
    await harness?.stop();
  });

  const listed = async () => (await runCli(harness, ['gpg', 'list']).done).stdout;

  it('passphrase_protected_key_asks_the_console_for_its_passphrase', async () => {
    const fpr = signer.generate('Locked Key <locked@example.org>', 'ed25519', 'key passphrase 42');
    const armored = signer.exportSecret(fpr, 'key passphrase 42');
    const wrong = await withDecision(harness, runCli(harness, ['gpg', 'import', '-'], { input: armored }), 'key', async (req) => {
      expect(req.key).toEqual({ action: 'import', fingerprint: fpr, userIds: ['Locked Key <locked@example.org>'], algorithm: 'ed25519', needsPassphrase: true });
      await harness.console.approveWithSecret(req.id, 'not it');
    });
    expect(wrong.result.code).toBe(1);
    expect(wrong.result.stderr).toMatch(/Wrong passphrase/);
    expect(await listed()).not.toContain(fpr);
    expect(await importKey(harness, armored, 'key passphrase 42')).toBe(fpr);
    expect(await listed()).toContain(fpr);
  });

  it('import_denied_stores_nothing', async () => {
    const fpr = signer.generate('Denied Key <denied@example.org>', 'ed25519');
    const { result } = await withDecision(harness, runCli(harness, ['gpg', 'import', '-'], { input: signer.exportSecret(fpr) }), 'key', (req) => harness.console.decide(req.id, 'deny'));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/denied/i);
    expect(await listed()).not.toContain(fpr);
  });

  it('importing_a_public_key_is_refused_before_asking', async () => {
    const fpr = signer.generate('Public Only <pub@example.org>', 'ed25519');
    const result = await runCli(harness, ['gpg', 'import', '-'], { input: signer.exportPublic(fpr) }).done;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/public key/);
    expect(await harness.console.listPending()).toEqual([]);
  });

  it('generate_export_sign_verify_and_remove', async () => {
    const generated = await withDecision(harness, runCli(harness, ['gpg', 'generate', '--name', 'Gen Erated', '--email', 'gen@example.org']), 'key', async (req) => {
      expect(req.key).toMatchObject({ action: 'generate', userIds: ['Gen Erated <gen@example.org>'], algorithm: 'ed25519' });
      await harness.console.decide(req.id, 'once');
    });
    expect(generated.result.code).toBe(0);
    const fpr = /generated ([0-9A-F]{40})/.exec(generated.result.stdout)![1]!;
    expect(await listed()).toMatch(new RegExp(`${fpr}  ed25519[\\s\\S]*Gen Erated <gen@example.org>`));

    const exported = await runCli(harness, ['gpg', 'export-public', fpr]).done;
    expect(exported.code).toBe(0);
    expect(exported.stdout).toMatch(/^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
    verifier.importKey(exported.stdout);
    verifier.gpg(['--import-ownertrust'], `${fpr}:6:\n`);

    const repo = createRepo(harness, verifier.dir, 'gen@example.org');
    try {
      const signed = await withDecision(harness, repo.start(['commit', '-S', '-q', '--allow-empty', '-m', 'with a generated key']), 'sign', (req) => harness.console.decide(req.id, 'once'));
      expect(signed.result.code).toBe(0);
      expect(repo.git(['log', '-1', '--format=%G? %GF'])).toBe(`G ${fpr}\n`);
    } finally {
      repo.cleanup();
    }

    const removed = await withDecision(harness, runCli(harness, ['gpg', 'rm', fpr]), 'key', async (req) => {
      expect(req.key).toMatchObject({ action: 'delete', fingerprint: fpr });
      await harness.console.decide(req.id, 'once');
    });
    expect(removed.result.code).toBe(0);
    expect(await listed()).not.toContain(fpr);
    const gone = await runCli(harness, ['gpg', 'export-public', fpr]).done;
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/No stored key matches/);
  });

  it('cli_usage_errors_exit_64', async () => {
    expect((await runCli(harness, ['gpg', 'frobnicate']).done).code).toBe(64);
    expect((await runCli(harness, ['gpg', 'rm']).done).code).toBe(64);
    expect((await runCli(harness, ['gpg', 'generate', '--name', 'x']).done).code).toBe(64);
    const help = await runCli(harness, ['gpg', '--help']).done;
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/export-public/);
  });

  it('daemon_unreachable_exits_2', async () => {
    const result = await runCli(harness, ['gpg', 'list'], { env: { ...harness.env, DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nonexistent/sock' } }).done;
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/sd-provision --check/);
  });

  it('git_setup_local_points_gpg_program_at_sd_gpg_and_says_so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-setup-'));
    const home = mkdtempSync(join(tmpdir(), 'sd-setup-home-'));
    try {
      const env = { ...harness.env, HOME: home, GIT_CONFIG_NOSYSTEM: '1' };
      execFileSync('git', ['init', '-q'], { cwd: dir, env });
      const first = await runCli(harness, ['git', 'setup', '--local'], { cwd: dir, env }).done;
      expect(first.code).toBe(0);
      const sdGpg = realpathSync(SD_GPG);
      expect(first.stdout).toContain(`gpg.program: (unset) -> ${sdGpg}`);
      expect(execFileSync('git', ['config', '--local', 'gpg.program'], { cwd: dir, env, encoding: 'utf8' }).trim()).toBe(sdGpg);
      const again = await runCli(harness, ['git', 'setup', '--local', '--signing-key', 'ABCDEF0123456789'], { cwd: dir, env }).done;
      // With exactly one stored key (the file's earlier tests leave one), setup offers it.
      const stored = [...(await listed()).matchAll(/^([0-9A-F]{40}) {2}/gm)].map((m) => m[1]);
      if (stored.length === 1) expect(first.stdout).toContain(`user.signingkey: (unset) -> ${stored[0]}`);
      else expect(first.stdout).not.toContain('user.signingkey:');
      expect(again.stdout).toMatch(/user\.signingkey: \S+ -> ABCDEF0123456789/);
      expect(again.stdout).not.toContain('gpg.program:');
      // --local left the global config alone.
      expect(spawnSync('git', ['config', '--global', '--get', 'gpg.program'], { cwd: dir, env }).status).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
    }
  });
});
