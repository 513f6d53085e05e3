// `git commit -S` end to end: real git calls bin/sd-gpg, which asks the real daemon on a private
// system bus with our real policy; the scripted console plays the human; real gpg verifies.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Variant } from '../../core/dbus/bus.js';
import { startDaemonHarness, TEST_PASSPHRASE, type DaemonHarness } from '../helpers/daemon-harness.js';
import { startPrivateBus } from '../helpers/private-bus.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg-home.js';
import { createRepo, eventually, importKey, SD_GPG, start, withDecision, type TestRepo } from '../helpers/gpg-flow.js';
import type { PendingRequest } from '../../core/wire.js';

const headerOf = (req: PendingRequest, name: string) => req.sign?.headers.find(([n]) => n === name)?.[1];

describe('git signing through sd-gpg', () => {
  let harness: DaemonHarness;
  let signer: GpgHome;
  let verifier: GpgHome;
  let repo: TestRepo;
  let edFpr: string;
  let rsaFpr: string;

  beforeAll(async () => {
    harness = await startDaemonHarness();
    signer = createGpgHome();
    verifier = createGpgHome();
    edFpr = signer.generate('Ada Tester <ada@example.org>', 'ed25519');
    rsaFpr = signer.generate('Ada RSA <ada-rsa@example.org>', 'rsa3072');
    for (const fpr of [edFpr, rsaFpr]) {
      expect(await importKey(harness, signer.exportSecret(fpr))).toBe(fpr);
      verifier.importKey(signer.exportPublic(fpr));
      verifier.gpg(['--import-ownertrust'], `${fpr}:6:\n`);
    }
    repo = createRepo(harness, verifier.dir, edFpr);
  });

  afterAll(async () => {
    repo?.cleanup();
    signer?.cleanup();
    verifier?.cleanup();
    await harness?.stop();
  });

  const approveOnce = (req: PendingRequest) => harness.console.decide(req.id, 'once');

  it('commit_signed_after_approval_verifies_with_ed25519', async () => {
    writeFileSync(join(repo.dir, 'a.txt'), 'one\ntwo\n');
    repo.git(['add', 'a.txt']);
    const { result, request } = await withDecision(harness, repo.start(['commit', '-S', '-q', '-m', 'Add a.txt\n\nBody line.']), 'sign', approveOnce);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const sign = request.sign!;
    expect(sign.payloadKind).toBe('commit');
    expect(headerOf(request, 'author')).toMatch(/^Ada Tester <ada@example.org> \d+ [+-]\d{4}$/);
    expect(headerOf(request, 'parent')).toBe(repo.git(['rev-parse', 'HEAD~1']).trim());
    expect(sign.message).toBe('Add a.txt\n\nBody line.\n');
    expect(sign.key?.fingerprint).toBe(edFpr);
    expect(sign.reported).toEqual({ repository: repo.dir, branch: 'main', files: [{ path: 'a.txt', added: 2, removed: 0 }] });
    expect(sign.contradictions).toEqual([]);
    expect(request.requester.claimed.repository).toBe(repo.dir);
    expect((await repo.start(['verify-commit', 'HEAD']).done).code).toBe(0);
    expect(repo.git(['log', '-1', '--format=%G?'])).toBe('G\n');
    expect(repo.git(['log', '-1', '--format=%GF'])).toBe(`${edFpr}\n`);
  });

  it('commit_signed_with_rsa3072_key_verifies', async () => {
    const { result } = await withDecision(harness, repo.start(['-c', `user.signingkey=${rsaFpr}`, 'commit', '-S', '-q', '--allow-empty', '-m', 'RSA signed']), 'sign', async (req) => {
      expect(req.sign?.key?.fingerprint).toBe(rsaFpr);
      expect(req.sign?.key?.algorithm).toBe('rsa3072');
      await approveOnce(req);
    });
    expect(result.code).toBe(0);
    expect((await repo.start(['verify-commit', 'HEAD']).done).code).toBe(0);
    expect(repo.git(['log', '-1', '--format=%G?'])).toBe('G\n');
  });

  it('user_signingkey_may_name_a_subkey_and_a_bang_picks_exactly_that_key', async () => {
    const primary = signer.generate('Sub Signer <sub@example.org>', 'ed25519');
    signer.gpg(['--pinentry-mode', 'loopback', '--passphrase', '', '--quick-add-key', primary, 'ed25519', 'sign', '0']);
    const subkey = [...signer.gpg(['--with-colons', '--list-secret-keys', primary]).toString().matchAll(/^fpr:+([0-9A-F]{40}):/gm)].map((m) => m[1]!).pop()!;
    expect(subkey).not.toBe(primary);
    expect(await importKey(harness, signer.exportSecret(primary))).toBe(primary);
    verifier.importKey(signer.exportPublic(primary));
    verifier.gpg(['--import-ownertrust'], `${primary}:6:\n`);
    // gpg's meanings: a subkey id finds its key, which signs with its newest signing subkey;
    // "ID!" signs with exactly that (sub)key, the primary included.
    for (const [spec, signedBy] of [[subkey.slice(-16), subkey], [`${primary.slice(-16)}!`, primary], [`${subkey.slice(-8)}!`, subkey]] as const) {
      const { result, request } = await withDecision(harness, repo.start(['-c', `user.signingkey=${spec}`, 'commit', '-S', '-q', '--allow-empty', '-m', `signed by ${spec}`]), 'sign', approveOnce);
      expect(result.stderr, spec).toBe('');
      expect(request.sign?.key?.fingerprint).toBe(primary);
      expect((await repo.start(['verify-commit', 'HEAD']).done).code).toBe(0);
      expect(repo.git(['log', '-1', '--format=%G? %GF %GP']), spec).toBe(`G ${signedBy} ${primary}\n`);
    }
  });

  it('signed_tag_verifies', async () => {
    const { result, request } = await withDecision(harness, repo.start(['tag', '-s', 'v1.0', '-m', 'Release 1.0']), 'sign', approveOnce);
    expect(result.code).toBe(0);
    expect(request.sign?.payloadKind).toBe('tag');
    expect(headerOf(request, 'tag')).toBe('v1.0');
    expect(request.sign?.message).toBe('Release 1.0\n');
    expect(request.sign?.reported.files).toBeUndefined();
    expect((await repo.start(['verify-tag', 'v1.0']).done).code).toBe(0);
  });

  it('signed_push_certificate_verifies_on_the_receiving_side', async () => {
    const bare = mkdtempSync(join(tmpdir(), 'sd-bare-'));
    try {
      execFileSync('git', ['init', '-q', '--bare', bare], { env: repo.env });
      execFileSync('git', ['-C', bare, 'config', 'receive.certNonceSeed', 'test-seed'], { env: repo.env });
      const hook = join(bare, 'hooks', 'pre-receive');
      writeFileSync(hook, `#!/bin/sh\necho "$GIT_PUSH_CERT_STATUS $GIT_PUSH_CERT_KEY" > ${join(bare, 'cert-status')}\n`, { mode: 0o755 });
      const { result, request } = await withDecision(harness, repo.start(['push', '-q', '--signed=yes', bare, 'main']), 'sign', approveOnce);
      expect(result.code, result.stderr).toBe(0);
      expect(request.sign?.payloadKind).toBe('push-cert');
      expect(headerOf(request, 'pushee')).toBe(bare);
      expect(request.sign?.message).toMatch(/^0{40} [0-9a-f]{40} refs\/heads\/main\n$/);
      expect(readFileSync(join(bare, 'cert-status'), 'utf8')).toBe(`G ${edFpr.slice(-16)}\n`);
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });

  it('utf8_message_with_latin1_encoding_header_signs_and_verifies', async () => {
    const { result, request } = await withDecision(harness,
      repo.start(['-c', 'i18n.commitEncoding=ISO-8859-1', 'commit', '-S', '-q', '--allow-empty', '-m', 'Grüße aus Köln']), 'sign', approveOnce);
    expect(result.code).toBe(0);
    expect(headerOf(request, 'encoding')).toBe('ISO-8859-1');
    expect(request.sign?.contradictions.join()).toMatch(/labelled ISO-8859-1 but its bytes are UTF-8/);
    expect(repo.git(['cat-file', 'commit', 'HEAD'])).toMatch(/^encoding ISO-8859-1$/m);
    expect((await repo.start(['verify-commit', 'HEAD']).done).code).toBe(0);
    expect(repo.git(['log', '-1', '--format=%G?'])).toBe('G\n');
  });

  it('escape_sequences_in_message_and_file_names_reach_the_console_as_data', async () => {
    const hostileName = 'evil\x1b[2J\x1b[1;1H\u202Efdp.exe';
    writeFileSync(join(repo.dir, hostileName), 'x\n');
    repo.git(['add', '--', hostileName]);
    const message = 'Looks fine\x1b[2K\r\x1b]0;owned\x07 \u202Etxt.exe\n\nmore';
    writeFileSync(join(repo.home, 'msg'), message);
    const { result, request } = await withDecision(harness, repo.start(['commit', '-S', '-q', '--cleanup=verbatim', '-F', join(repo.home, 'msg')]), 'sign', approveOnce);
    expect(result.code).toBe(0);
    expect(request.sign?.message).toBe(message);
    expect(request.sign?.reported.files).toEqual([{ path: hostileName, added: 1, removed: 0 }]);
    expect(request.sign?.contradictions).toEqual([]);
    // The JSON the console receives holds the raw characters; rendering them inert is the console's job.
    expect(JSON.stringify(request)).toContain('\\u001b[2J');
    expect((await repo.start(['verify-commit', 'HEAD']).done).code).toBe(0);
  });

  it('rebase_re_signing_five_commits_needs_one_remembered_decision', async () => {
    for (let i = 1; i <= 5; i++) repo.git(['commit', '-q', '--allow-empty', '-m', `work ${i}`]);
    let asked = 0;
    const { result } = await withDecision(harness, repo.start(['-c', 'commit.gpgsign=true', 'rebase', '-q', '-f', 'HEAD~5']), 'sign', async (req) => {
      asked++;
      // What "a" covers is now said in full: the signer from the payload and the payload kind, not
      // only the client-reported repository and the key.
      // sd-gpg is a node script: the program is the script and its hash, within this session.
      expect(req.rememberScope?.description).toMatch(new RegExp(`^any process of uid ${process.getuid!()} that presents itself as ${process.execPath} running the script \\S*/bin/sd-gpg \\(as its command line reports\\) with contents sha256 [0-9a-f]{16}( in session \\d+|, in any session,) may sign commits whose committer is "Ada Tester <ada@example.org>", in the repository reported as ${repo.dir}, with key ${edFpr.slice(-16)} for 10 minutes$`));
      expect(req.sign?.reported.branch).toBe('main (rebasing)');
      await harness.console.decide(req.id, 'remember', 10);
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(asked).toBe(1);
    expect(repo.git(['log', '-5', '--format=%G? %s'])).toBe(['G work 5', 'G work 4', 'G work 3', 'G work 2', 'G work 1', ''].join('\n'));
    for (let i = 0; i < 5; i++) expect((await repo.start(['verify-commit', `HEAD~${i}`]).done).code).toBe(0);
    const history = await harness.console.history(20);
    expect(history.filter((h) => h.kind === 'sign' && h.outcome === 'remembered').length).toBeGreaterThanOrEqual(4);
    for (const grant of await harness.console.listRemembered()) await harness.console.revoke(grant.id);
  });

  it('rebase_exec_amend_signing_twenty_commits_asks_once_for_the_session', async () => {
    for (let i = 1; i <= 20; i++) repo.git(['commit', '-q', '--allow-empty', '-m', `step ${i}`]);
    const since = Date.now();
    // detached: git leads a session of its own (setsid), as a terminal's shell would.
    const running = repo.start(['-c', 'sequence.editor=true', 'rebase', '-q', '-i', '--exec', 'git commit -q --amend --allow-empty --no-edit -S', 'HEAD~20'], { detached: true });
    const { result } = await withDecision(harness, running, 'sign', async (req) => {
      const session = req.scopes?.find((o) => o.verb === 'session');
      expect(session?.line).toMatch(/^any process of uid \d+ in session \d+ \(led by pid \d+, git\), until that session ends, may sign commits whose committer is "Ada Tester <ada@example.org>", .* for at most 8 hours$/);
      await harness.console.decide(req.id, 'session');
    });
    // rebase prints "Executing: …" for each step; nothing else.
    expect(result.stderr.replace(/\r?\x1b\[K|Executing: [^\n]*\n?/g, '').trim()).toBe('');
    expect(result.code).toBe(0);
    const rows = (await harness.console.history(1000)).filter((r) => r.kind === 'sign' && r.createdAt >= since);
    expect(rows.filter((r) => r.outcome === 'approved')).toHaveLength(1);
    expect(rows.filter((r) => r.outcome === 'remembered' && /\(session\)/.test(r.scope ?? ''))).toHaveLength(19);
    for (let i = 0; i < 20; i++) expect((await repo.start(['verify-commit', `HEAD~${i}`]).done).code).toBe(0);
    for (const grant of await harness.console.listRemembered()) await harness.console.revoke(grant.id);
  });

  it('a_commit_grant_never_signs_a_tag_another_committer_or_another_repository', async () => {
    const { result } = await withDecision(harness, repo.start(['commit', '-S', '-q', '--allow-empty', '-m', 'remembered commit']), 'sign', (req) => harness.console.decide(req.id, 'remember'));
    expect(result.code).toBe(0);
    const tree = repo.git(['rev-parse', 'HEAD^{tree}']).trim();
    const head = repo.git(['rev-parse', 'HEAD']).trim();
    const client = await harness.client();
    const sign = (payload: string, repository: string, rememberedOnly = true) => client.call({
      member: 'Sign', signature: 'aysa{sv}', timeoutMs: 30_000,
      body: [Buffer.from(payload), edFpr, { repository: new Variant('s', repository), ...(rememberedOnly ? { rememberedOnly: new Variant('s', '1') } : {}) }],
    }).then(() => 'signed', (e: { dbusName?: string }) => e.dbusName);
    const ada = 'Ada Tester <ada@example.org> 1700000000 +0000';
    const tag = `object ${head}\ntype commit\ntag v6.6.6\ntagger ${ada}\n\nattacker's release\n`;
    const commitBy = (who: string) => `tree ${tree}\nparent ${head}\nauthor ${who}\ncommitter ${who}\n\nattacker's commit\n`;
    // A node script claiming the same repository: a tag, another committer, another repository
    // are not what the line said, so nothing is signed without asking.
    expect(await sign(tag, repo.dir)).toBe('net.mowaka.SecretsDispatcher1.Error.NotRemembered');
    expect(await sign(commitBy('Mallory <m@example.org> 1700000000 +0000'), repo.dir)).toBe('net.mowaka.SecretsDispatcher1.Error.NotRemembered');
    expect(await sign(commitBy(ada), '/home/ada/other')).toBe('net.mowaka.SecretsDispatcher1.Error.NotRemembered');
    const asked = sign(tag, repo.dir, false);
    const request = await harness.console.waitForPending((r) => r.kind === 'sign');
    expect(request.sign?.payloadKind).toBe('tag');
    await harness.console.decide(request.id, 'deny');
    expect(await asked).toBe('net.mowaka.SecretsDispatcher1.Error.Denied');
    // The line named sd-gpg's script and its hash: another node script (this test) asking for
    // exactly what the line said is another program, and is not covered either.
    expect(await sign(commitBy(ada), repo.dir)).toBe('net.mowaka.SecretsDispatcher1.Error.NotRemembered');
    for (const grant of await harness.console.listRemembered()) await harness.console.revoke(grant.id);
  });

  it('denied_signing_fails_git_with_our_reason', async () => {
    const { result } = await withDecision(harness, repo.start(['commit', '-S', '-q', '--allow-empty', '-m', 'will be denied'], { fifoStderr: true }), 'sign', (req) => harness.console.decide(req.id, 'deny'));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('gpg failed to sign the data');
    expect(result.stderr).toMatch(/sd-gpg: Denied: The request was denied on the console/);
    expect(repo.git(['log', '-1', '--format=%s'])).not.toContain('will be denied');
  });

  it('sd_gpg_exit_codes_denied_1', async () => {
    const payload = repo.git(['cat-file', 'commit', 'HEAD']).replace(/^gpgsig [\s\S]*?-----END PGP SIGNATURE-----\n/m, '');
    const running = start(SD_GPG, ['--status-fd=2', '-bsau', edFpr], { cwd: repo.dir, env: repo.env, input: payload });
    const { result } = await withDecision(harness, running, 'sign', (req) => harness.console.decide(req.id, 'deny'));
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('git_killed_while_pending_withdraws_the_request', async () => {
    const running = repo.start(['commit', '-S', '-q', '--allow-empty', '-m', 'git will die'], { detached: true });
    const request = await harness.console.waitForPending((r) => r.kind === 'sign', 20_000);
    const sdGpgPid = request.requester.process!.pid;
    running.child.kill('SIGKILL');
    await eventually('the request to leave the console', async () => (await harness.console.listPending()).length === 0);
    await eventually('sd-gpg to exit', () => {
      try {
        process.kill(sdGpgPid, 0);
        return false;
      } catch {
        return true;
      }
    });
    const entry = (await harness.console.history(20)).find((h) => h.id === request.id);
    expect(entry?.outcome).toBe('cancelled');
  });

  it('ctrl_c_while_pending_cancels_the_request', async () => {
    const running = repo.start(['commit', '-S', '-q', '--allow-empty', '-m', 'interrupted'], { detached: true });
    const request = await harness.console.waitForPending((r) => r.kind === 'sign', 20_000);
    process.kill(-running.child.pid!, 'SIGINT');
    const result = await running.done;
    expect(result.code === 0).toBe(false);
    await eventually('the request to leave the console', async () => (await harness.console.listPending()).length === 0);
    expect((await harness.console.history(20)).find((h) => h.id === request.id)?.outcome).toBe('cancelled');
  });

  it('direct_sign_call_with_contradicting_context_shows_the_payload_and_flags_it', async () => {
    const payload = Buffer.from(`tree ${repo.git(['rev-parse', 'HEAD^{tree}']).trim()}\nauthor Ada Tester <ada@example.org> 1700000000 +0000\ncommitter Ada Tester <ada@example.org> 1700000000 +0000\n\nAdd backdoor\n`);
    const client = await harness.client();
    const call = client.call({
      member: 'Sign', signature: 'aysa{sv}', timeoutMs: 30_000,
      body: [payload, edFpr, {
        author: new Variant('s', 'Bob Reviewer <bob@example.org>'),
        message: new Variant('s', 'Fix typo in README'),
        repository: new Variant('s', '/home/ada/harmless'),
        files: new Variant('s', JSON.stringify([[1, 1, 'README']])),
        filesTree: new Variant('s', '0'.repeat(40)),
      }],
    }).then(() => 'signed', (e: { dbusName?: string }) => e.dbusName);
    const request = await harness.console.waitForPending((r) => r.kind === 'sign');
    expect(headerOf(request, 'author')).toBe('Ada Tester <ada@example.org> 1700000000 +0000');
    expect(request.sign?.message).toBe('Add backdoor\n');
    const flags = request.sign!.contradictions.join('\n');
    expect(flags).toMatch(/claimed author "Bob Reviewer <bob@example.org>", the payload says "Ada Tester <ada@example.org>"/);
    expect(flags).toMatch(/claimed message "Fix typo in README" differs/);
    expect(flags).toMatch(/describe tree "0{40}"/);
    expect(request.sign?.reported.repository).toBe('/home/ada/harmless');
    await harness.console.decide(request.id, 'deny');
    expect(await call).toBe('net.mowaka.SecretsDispatcher1.Error.Denied');
  });

  it('remembered_only_probe_queues_nothing_when_no_decision_covers_it', async () => {
    const payload = Buffer.from(`tree ${repo.git(['rev-parse', 'HEAD^{tree}']).trim()}\nauthor A <a@example.org> 1 +0000\ncommitter A <a@example.org> 1 +0000\n\nprobe\n`);
    const client = await harness.client();
    const err = await client.call({ member: 'Sign', signature: 'aysa{sv}', body: [payload, edFpr, { repository: new Variant('s', repo.dir), rememberedOnly: new Variant('s', '1') }] })
      .then(() => null, (e: { dbusName?: string }) => e.dbusName);
    expect(err).toBe('net.mowaka.SecretsDispatcher1.Error.NotRemembered');
    expect(await harness.console.listPending()).toEqual([]);
  });

  it('not_a_commit_is_refused_with_BadPayload_before_asking', async () => {
    const running = start(SD_GPG, ['--status-fd=2', '-bsau', edFpr], { cwd: repo.dir, env: repo.env, input: 'please sign this\n' });
    const result = await running.done;
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/BadPayload/);
    expect(await harness.console.listPending()).toEqual([]);
  });

  it('daemon_unreachable_exits_2_with_advice', async () => {
    const noSocket = await start(SD_GPG, ['--status-fd=2', '-bsau', edFpr], { env: { ...repo.env, DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${join(repo.home, 'no.sock')}` }, input: 'x' }).done;
    expect(noSocket.code).toBe(2);
    expect(noSocket.stderr).toMatch(/is the companion running\? run `sd-provision --check`/);
    const emptyBus = await startPrivateBus();
    try {
      const noDaemon = await start(SD_GPG, ['--status-fd=2', '-bsau', edFpr], { env: { ...repo.env, DBUS_SYSTEM_BUS_ADDRESS: emptyBus.address }, input: 'x' }).done;
      expect(noDaemon.code).toBe(2);
      expect(noDaemon.stderr).toMatch(/ServiceUnknown.*sd-provision --check/);
      const viaGit = await start('bash', ['-c', 'set -o pipefail; git commit -S -q --allow-empty -m "no daemon" 2>&1 | cat >&2'], { cwd: repo.dir, env: { ...repo.env, DBUS_SYSTEM_BUS_ADDRESS: emptyBus.address } }).done;
      expect(viaGit.code).not.toBe(0);
      expect(viaGit.stderr).toContain('gpg failed to sign the data');
      expect(viaGit.stderr).toContain('sd-provision --check');
    } finally {
      await emptyBus.stop();
    }
  });

  it('locked_store_fails_with_our_reason_and_asks_nobody', async () => {
    await harness.console.lock();
    try {
      const result = await repo.start(['commit', '-S', '-q', '--allow-empty', '-m', 'store is locked'], { fifoStderr: true }).done;
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('gpg failed to sign the data');
      expect(result.stderr).toMatch(/sd-gpg: StoreLocked: The store is locked/);
      expect(await harness.console.listPending()).toEqual([]);
    } finally {
      await harness.console.unlock(TEST_PASSPHRASE);
    }
  });

  it('nobody_answering_times_out_and_git_fails_with_our_reason', async () => {
    const config = JSON.parse(readFileSync(harness.configPath, 'utf8'));
    writeFileSync(harness.configPath, JSON.stringify({ ...config, requestTimeoutSeconds: 2 }));
    await harness.restartDaemon();
    const started = Date.now();
    const result = await repo.start(['commit', '-S', '-q', '--allow-empty', '-m', 'nobody answers'], { fifoStderr: true }).done;
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('gpg failed to sign the data');
    expect(result.stderr).toMatch(/sd-gpg: Timeout: Nobody answered on the console before the deadline/);
    expect(await harness.console.listPending()).toEqual([]);
  });

  it('no_console_fails_at_once_with_our_reason', async () => {
    await harness.console.close();
    const result = await repo.start(['commit', '-S', '-q', '--allow-empty', '-m', 'no console'], { fifoStderr: true }).done;
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/sd-gpg: NoConsole: No approval console is connected/);
  });
});
