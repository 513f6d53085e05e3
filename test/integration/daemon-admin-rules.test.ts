// Root's admin rules in policy.d with the real daemon: a file with a typo stops it with file, key
// and value (exit 78, so systemd does not restart it in a loop); a valid file is applied: a denied
// kind is refused at once without a prompt and says why, in the error and in history; a
// neverRemember rule offers no remember scope; a rule that needs a reason refuses a request
// without one; an edited file takes effect at the next start. The daemon trusts only root's files,
// so this needs root (as CI runs it).
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Variant } from '../../core/dbus/bus.js';
import { currentUserName } from '../helpers/private-bus.js';
import { connectAsUser, type BusClient } from '../helpers/bus-client.js';
import { CLI, ensureBuilt, startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';
import { createRepo, importKey, withDecision, type TestRepo } from '../helpers/gpg-flow.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg-home.js';
import { createThrowawayUser, isRoot, type ThrowawayUser } from '../helpers/root.js';

const ERR = 'net.mowaka.SecretsDispatcher1.Error.';

let root: string;
beforeAll(() => {
  if (!isRoot) return;
  ensureBuilt();
  // Root's own directory, as /etc/secrets-dispatcher is (the daemon refuses anything else).
  root = mkdtempSync(join(tmpdir(), 'sd-admin-it-'));
  chmodSync(root, 0o755);
});
afterAll(() => { if (root) rmSync(root, { recursive: true, force: true }); });

function policyDir(name: string, files: Record<string, unknown>): string {
  const dir = join(root, name);
  mkdirSync(dir, { mode: 0o755 });
  for (const [file, body] of Object.entries(files)) writePolicy(dir, file, body);
  return dir;
}

function writePolicy(dir: string, file: string, body: unknown): string {
  const path = join(dir, file);
  writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body, null, 2));
  chmodSync(path, 0o644);
  return path;
}

/** Run the daemon to its exit; the bus address leads nowhere, so only a start-up error can end it early. */
function runDaemon(dir: string, as?: { uid: number; gid: number }): Promise<{ code: number | null; stderr: string }> {
  const me = currentUserName();
  const config = join(root, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(config, JSON.stringify({ desktopUser: me, companionUser: me, stateDir: join(root, 'state') }));
  const child = spawn(process.execPath, [CLI, 'daemon', '--config', config, '--policy-dir', dir], {
    env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${join(root, 'no-bus.sock')}`, NOTIFY_SOCKET: '' },
    stdio: ['ignore', 'ignore', 'pipe'], cwd: '/', ...(as ? { uid: as.uid, gid: as.gid } : {}),
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
}

describe.skipIf(!isRoot)('a bad admin rule file stops the daemon (exit 78) and says file, key and value', () => {
  it('a typo in a matcher name', async () => {
    const dir = policyDir('typo.d', {
      '10-ok.json': { rules: [{ id: 'fine', effect: 'deny', match: { kind: 'export' } }] },
      '20-ci.json': { rules: [{ id: 'ci-high', effect: 'deny', match: { tier: 'high', unti: 'ci-*.service' } }] },
    });
    const { code, stderr } = await runDaemon(dir);
    expect(code, stderr).toBe(78);
    expect(stderr).toContain(join(dir, '20-ci.json'));
    expect(stderr).toContain('unknown key "rules.0.match.unti"');
    expect(stderr).toContain('"ci-*.service"');
  });

  it('a bad value, and a file that is not JSON', async () => {
    const bad = await runDaemon(policyDir('value.d', { 'x.json': { rules: [{ id: 'a', effect: 'deny', match: { kind: 'secrets' } }] } }));
    expect(bad.code, bad.stderr).toBe(78);
    expect(bad.stderr).toMatch(/value\.d\/x\.json: key "rules\.0\.match\.kind" \(rule "a"\) has bad value "secrets"/);
    const notJson = await runDaemon(policyDir('json.d', { 'x.json': '{ "rules": [ { "id": "a", ' }));
    expect(notJson.code, notJson.stderr).toBe(78);
    expect(notJson.stderr).toMatch(/json\.d\/x\.json: not valid JSON/);
  });

  it('a file the desktop user owns or could write is refused, however valid', async () => {
    const dir = policyDir('owner.d', { 'x.json': { rules: [] } });
    chownSync(join(dir, 'x.json'), 1000, 1000);
    const owned = await runDaemon(dir);
    expect(owned.code, owned.stderr).toBe(78);
    expect(owned.stderr).toMatch(/owner\.d\/x\.json: owned by UID 1000, not root/);
    chownSync(join(dir, 'x.json'), 0, 0);
    chmodSync(join(dir, 'x.json'), 0o666);
    const writable = await runDaemon(dir);
    expect(writable.code, writable.stderr).toBe(78);
    expect(writable.stderr).toMatch(/x\.json: writable by everyone \(mode 0666\)/);
  });

  it('a --policy-dir that does not exist is an error too (a typo must not silently mean "no rules")', async () => {
    const { code, stderr } = await runDaemon(join(root, 'polcy.d'));
    expect(code, stderr).toBe(78);
    expect(stderr).toMatch(/polcy\.d: cannot read the admin rules directory \(ENOENT\)/);
  });
});

describe.skipIf(!isRoot)('a valid admin rule file is applied', () => {
  let h: DaemonHarness;
  let dir: string;
  let desktop: BusClient;
  let exeDir: string;
  let otherNode: string;
  const ids = { mail: '', prod: '', audited: '' };
  const rules = {
    rules: [
      { id: 'no-deletes', effect: 'deny', match: { kind: 'delete' }, note: 'Ask the admin to remove items.' },
      { id: 'prod-every-time', effect: 'neverRemember', match: { kind: 'secret', itemLabel: 'Prod *' } },
      { id: 'audit-needs-why', effect: 'requireReason', match: { attributes: { audit: 'yes' } } },
    ],
  };
  const createItem = async (label: string, attributes: Record<string, string>) =>
    (await desktop.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', label, attributes, Buffer.from('s3cret'), 'text/plain', false, {}] }))[0] as string;
  const getSecrets = (c: BusClient, id: string) => c.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [[id], {}], timeoutMs: 20_000 });

  beforeAll(async () => {
    dir = policyDir('valid.d', { '50-site.json': rules });
    h = await startDaemonHarness({ policyDir: dir, config: { requestTimeoutSeconds: 20 } });
    desktop = await h.client();
    ids.mail = await createItem('Mail', { service: 'mail' });
    ids.prod = await createItem('Prod DB', { service: 'postgres' });
    ids.audited = await createItem('Ledger', { audit: 'yes' });
    exeDir = mkdtempSync(join(tmpdir(), 'sd-exe-'));
    otherNode = join(exeDir, 'ci-node');
    try {
      linkSync(process.execPath, otherNode);
    } catch {
      copyFileSync(process.execPath, otherNode);
    }
  });
  afterAll(async () => {
    await h?.stop();
    if (exeDir) rmSync(exeDir, { recursive: true, force: true });
  });

  it('a denied kind is refused at once, with the rule and its file in the error; nobody is asked; history says why', async () => {
    const deleting = desktop.call({ member: 'DeleteItem', signature: 'sa{sv}', body: [ids.mail, {}] });
    const err = await deleting.catch((e) => e);
    expect(err).toMatchObject({ dbusName: `${ERR}DeniedByRule` });
    expect(err.message).toContain(`admin rule "no-deletes" in ${join(dir, '50-site.json')}`);
    expect(err.message).toContain('Ask the admin to remove items.');
    // The console is connected and unlocked: without the rule this would have waited there.
    expect(await h.console.listPending()).toEqual([]);
    const row = (await h.console.history(20)).find((e) => e.kind === 'delete');
    expect(row).toMatchObject({ outcome: 'refused', detail: `DeniedByRule: admin rule "no-deletes" in ${join(dir, '50-site.json')}` });
    // The journal says at start which rules are in force.
    expect(h.daemonLog()).toMatch(new RegExp(`admin rules count=3 files=${join(dir, '50-site.json')}`));
    // The item is still there.
    const [items] = await desktop.call({ member: 'GetItems', signature: 'as', body: [[ids.mail]] });
    expect(items).toHaveLength(1);
  });

  it('`secrets-dispatcher history` shows the refusal and its rule', async () => {
    const out = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'history', '--state-dir', h.stateDir, '--limit', '20'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout!.on('data', (d: Buffer) => { text += d.toString(); });
      child.once('exit', () => resolve(text));
    });
    expect(out).toMatch(/delete\s+refused .*\[DeniedByRule: admin rule "no-deletes" in /);
  });

  it('neverRemember: the request is asked with no remember scope, "remember" is refused; other items still offer one', async () => {
    const reading = getSecrets(desktop, ids.prod);
    const pending = await h.console.waitForPending((r) => r.items.some((i) => i.itemId === ids.prod));
    expect(pending.rememberScope).toBeNull();
    await expect(h.console.decide(pending.id, 'remember', 10)).rejects.toMatchObject({ dbusName: `${ERR}InvalidArgs` });
    await h.console.decide(pending.id, 'once');
    const [secrets] = await reading;
    expect(Buffer.from(secrets[0][1]).toString()).toBe('s3cret');
    expect(await h.console.listRemembered()).toEqual([]);

    const control = getSecrets(desktop, ids.mail);
    const other = await h.console.waitForPending((r) => r.items.some((i) => i.itemId === ids.mail));
    expect(other.rememberScope).not.toBeNull();
    await h.console.decide(other.id, 'once');
    await control;
  });

  it('requireReason: a request without a reason is refused at once, saying a reason is required and which rule wants it', async () => {
    const err = await getSecrets(desktop, ids.audited).catch((e) => e);
    expect(err).toMatchObject({ dbusName: `${ERR}ReasonRequired` });
    expect(err.message).toMatch(/needs a reason/);
    expect(err.message).toContain('nobody was asked. Admin rule "audit-needs-why"');
    expect(await h.console.listPending()).toEqual([]);
  });

  it('an exe rule matches the executable the daemon read, not the program name a client claims', async () => {
    writePolicy(dir, '60-exe.json', { rules: [{ id: 'no-ci-node', effect: 'deny', match: { exe: join(exeDir, 'ci-*') } }] });
    // Read once at start: the new file counts only after a restart.
    await h.restartDaemon();
    const ci = await connectAsUser(h.busAddress, undefined, { execPath: otherNode });
    try {
      const refused = await ci.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [[ids.mail], {}], timeoutMs: 20_000 }).catch((e) => e);
      expect(refused).toMatchObject({ dbusName: `${ERR}DeniedByRule` });
      expect(refused.message).toContain('"no-ci-node"');
    } finally {
      await ci.close();
    }
    // The test's own node, claiming to be the CI one, is not matched by the claim.
    const me = await h.client();
    const reading = me.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [[ids.mail], { 'requester.exe': new Variant('s', otherNode) }], timeoutMs: 20_000 });
    const pending = await h.console.waitForPending((r) => r.items.some((i) => i.itemId === ids.mail));
    await h.console.decide(pending.id, 'once');
    await reading;
  });

  it('a file removed takes effect at the next start too', async () => {
    rmSync(join(dir, '50-site.json'));
    await h.restartDaemon();
    desktop = await h.client();
    const deleting = desktop.call({ member: 'DeleteItem', signature: 'sa{sv}', body: [ids.mail, {}], timeoutMs: 20_000 });
    const pending = await h.console.waitForPending((r) => r.kind === 'delete');
    await h.console.decide(pending.id, 'once');
    await deleting;
  });
});

describe.skipIf(!isRoot)('as deployed: the daemon runs as the companion user and reads root\'s rules', () => {
  let companion: ThrowawayUser;
  let h: DaemonHarness | undefined;
  beforeAll(() => {
    companion = createThrowawayUser('sdc');
  });
  afterAll(async () => {
    await h?.stop();
    companion?.remove();
  });

  it('root\'s files, readable by all and writable by root alone, are applied', async () => {
    const dir = policyDir('companion.d', { '10-exports.json': { rules: [{ id: 'no-exports', effect: 'deny', match: { kind: 'export' } }] } });
    h = await startDaemonHarness({ companion, policyDir: dir });
    const desktop = await h.client();
    const err = await desktop.call({ member: 'ExportStore', signature: 'aya{sv}', body: [Buffer.from('bundle passphrase 123'), {}], timeoutMs: 20_000 }).catch((e) => e);
    expect(err).toMatchObject({ dbusName: `${ERR}DeniedByRule` });
    expect(err.message).toContain('"no-exports"');
    expect(await h.console.listPending()).toEqual([]);
  });

  it('a directory the companion cannot read stops it with a hint, not with "no rules"', async () => {
    const dir = policyDir('private.d', { 'x.json': { rules: [] } });
    chmodSync(dir, 0o700);
    const { code, stderr } = await runDaemon(dir, companion);
    expect(code, stderr).toBe(78);
    expect(stderr).toMatch(/private\.d: cannot list \(EACCES: the daemon runs as the companion user; make it readable/);
  });
});

describe.skipIf(!isRoot)('"never remember signing with key X", with real git and sd-gpg', () => {
  let h: DaemonHarness | undefined;
  let signer: GpgHome;
  let repo: TestRepo;
  let guarded: string;
  let everyday: string;

  beforeAll(async () => {
    signer = createGpgHome();
    guarded = signer.generate('Release Key <release@example.org>', 'ed25519');
    everyday = signer.generate('Ada Tester <ada@example.org>', 'ed25519');
    // The long key ID, grouped as gpg prints it: the rule is written before the key is imported.
    const keyId = guarded.slice(-16).replace(/(.{4})(?=.)/g, '$1 ');
    const dir = policyDir('signing.d', { '10-release.json': { rules: [{ id: 'release-key-every-time', effect: 'neverRemember', match: { kind: 'sign', keyFingerprint: keyId } }] } });
    h = await startDaemonHarness({ policyDir: dir, config: { requestTimeoutSeconds: 30 } });
    for (const fpr of [guarded, everyday]) expect(await importKey(h, signer.exportSecret(fpr))).toBe(fpr);
    repo = createRepo(h, signer.dir, guarded);
  });
  afterAll(async () => {
    repo?.cleanup();
    signer?.cleanup();
    await h?.stop();
  });

  it('a commit signed with that key offers no remember scope; one with another key does', async () => {
    const commit = (key: string, message: string) => repo.start(['-c', `user.signingkey=${key}`, 'commit', '-S', '-q', '--allow-empty', '-m', message]);
    const first = await withDecision(h!, commit(guarded, 'release 1'), 'sign', async (req) => {
      expect(req.sign?.key?.fingerprint).toBe(guarded);
      expect(req.rememberScope).toBeNull();
      await expect(h!.console.decide(req.id, 'remember', 60)).rejects.toMatchObject({ dbusName: `${ERR}InvalidArgs` });
      await h!.console.decide(req.id, 'once');
    });
    expect(first.result.code, first.result.stderr).toBe(0);

    const other = await withDecision(h!, commit(everyday, 'everyday'), 'sign', async (req) => {
      expect(req.rememberScope).not.toBeNull();
      await h!.console.decide(req.id, 'once');
    });
    expect(other.result.code, other.result.stderr).toBe(0);
  });
});
