// Reasons on the paths that talk to the daemon directly: `secrets-dispatcher gpg import --reason`
// and sd-gpg, which git starts without a way to pass words, so it takes SECRETS_DISPATCHER_REASON.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg-home.js';
import { createRepo, runCli, start, withDecision, type TestRepo } from '../helpers/gpg-flow.js';

describe('reasons for signing and keys', () => {
  let harness: DaemonHarness;
  let signer: GpgHome;
  let repo: TestRepo;
  let fpr: string;

  beforeAll(async () => {
    harness = await startDaemonHarness();
    signer = createGpgHome();
    fpr = signer.generate('Ada Tester <ada@example.org>', 'ed25519');
  });

  afterAll(async () => {
    repo?.cleanup();
    signer?.cleanup();
    await harness?.stop();
  });

  it('gpg import --reason reaches the console; an over-long one is refused before anything is asked', async () => {
    const tooLong = await runCli(harness, ['gpg', 'import', '-', '--reason', 'k'.repeat(301)], { input: signer.exportSecret(fpr) }).done;
    expect(tooLong.code).toBe(64);
    expect(tooLong.stderr).toMatch(/--reason: .*Reason is 301 characters \(limit 300\)/);
    expect(await harness.console.listPending()).toEqual([]);

    const { result, request } = await withDecision(harness, runCli(harness, ['gpg', 'import', '-', '--reason', 'moving to the new laptop'], { input: signer.exportSecret(fpr) }), 'key',
      (req) => harness.console.decide(req.id, 'once'));
    expect(result.code).toBe(0);
    expect(request.reason).toBe('moving to the new laptop');
    expect((await harness.console.history(5)).find((e) => e.kind === 'key' && e.outcome === 'approved')?.reason).toBe('moving to the new laptop');
  });

  it('sd-gpg sends SECRETS_DISPATCHER_REASON with the signature request, kept apart from the repository claims', async () => {
    repo = createRepo(harness, signer.dir, fpr);
    writeFileSync(join(repo.dir, 'a.txt'), 'one\n');
    repo.git(['add', 'a.txt']);
    const commit = start('git', ['commit', '-S', '-q', '-m', 'Add a.txt'], { cwd: repo.dir, env: { ...repo.env, SECRETS_DISPATCHER_REASON: 'release 1.2 \x1b[31mred' } });
    const { result, request } = await withDecision(harness, commit, 'sign', (req) => harness.console.decide(req.id, 'once'));
    expect(result.code).toBe(0);
    expect(request.reason).toBe('release 1.2 \x1b[31mred');
    expect(request.requester.claimed.reason).toBeUndefined();
    expect(request.sign?.reported.repository).toBe(repo.dir);
  });
});
