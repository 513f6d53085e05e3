// The daemon and its commands as a user meets them: --help, config errors, a second instance
// (on the same bus, or on another bus with the same state directory), the introspection contract, the history command, export → import into a fresh daemon, and a
// wrong passphrase that changes nothing.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIntrospection } from '../../core/dbus/introspection.js';
import { AUDIT_DB_FILE } from '../../core/audit.js';
import { connectBus, disconnectBus, nameHasOwner } from '../../core/dbus/bus.js';
import { CONSOLE_INTERFACE, DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH, REQUEST_INTERFACE } from '../../core/names.js';
import type { BusClient } from '../helpers/bus-client.js';
import { CLI, ensureBuilt, REPO_ROOT, startDaemonHarness, TEST_PASSPHRASE, type DaemonHarness } from '../helpers/daemon-harness.js';
import { currentUserName, startPrivateBus, type PrivateBus } from '../helpers/private-bus.js';
import { createThrowawayUser, isRoot } from '../helpers/root.js';

const ERR = 'net.mowaka.SecretsDispatcher1.Error.';

interface Run { code: number | null; stdout: string; stderr: string }

function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], cwd: '/',
      ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not finish: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const createItem = async (c: BusClient, label: string, attributes: Record<string, string>, secret: string) =>
  (await c.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', label, attributes, Buffer.from(secret), 'text/plain', false, {}] }))[0] as string;

/** SHA-256 of each file the daemon writes in the state directory (absent ones too). */
function stateFiles(stateDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['store.db', 'store.db-wal', AUDIT_DB_FILE, `${AUDIT_DB_FILE}-wal`]) {
    const path = join(stateDir, name);
    out[name] = existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'absent';
  }
  return out;
}

let tmp: string;
beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'sd-cli-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('command line', () => {
  it('--help works on daemon, history, export and import', async () => {
    for (const command of ['daemon', 'history', 'export', 'import']) {
      const r = await runCli([command, '--help']);
      expect(r.code, command).toBe(0);
      expect(r.stdout).toContain(`secrets-dispatcher ${command}`);
      expect(r.stdout).toContain('--help');
    }
  });

  it('a bad config file → one line naming the key and value, exit 78', async () => {
    const me = currentUserName();
    const cases: Array<[object | string, RegExp]> = [
      [{ desktopUser: me, companionUser: me, stateDir: 'relative/dir' }, /"stateDir".*"relative\/dir"/],
      [{ desktopUser: me, companionUser: me, stateDir: tmp, requestTimeoutSeconds: -5 }, /"requestTimeoutSeconds".*-5/],
      [{ desktopUser: me, companionUser: me, stateDir: tmp, colour: 'blue' }, /unknown key "colour"/],
      [{ desktopUser: 'no-such-user-here', companionUser: me, stateDir: tmp }, /"desktopUser".*no-such-user-here/],
      ['{ not json', /not valid JSON/],
    ];
    for (const [content, pattern] of cases) {
      const file = join(tmp, 'bad.json');
      writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
      const r = await runCli(['daemon', '--config', file], { env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nonexistent' } });
      expect(r.code, r.stderr).toBe(78);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    }
    const missing = await runCli(['daemon', '--config', join(tmp, 'absent.json')]);
    expect(missing.code).toBe(78);
    expect(missing.stderr).toMatch(/absent\.json: cannot read/);
  });

  it('an unknown option is a usage error', async () => {
    const r = await runCli(['daemon', '--frobnicate']);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/frobnicate/);
  });
});

describe('a running daemon', () => {
  let h: DaemonHarness;
  let desktop: BusClient;
  let itemIds: string[];

  beforeAll(async () => {
    h = await startDaemonHarness();
    desktop = await h.client();
    itemIds = [
      await createItem(desktop, 'GitHub token', { service: 'github', user: 'nb' }, 'gh-secret-value'),
      await createItem(desktop, 'Mail', { service: 'mail' }, 'mail-secret-value'),
    ];
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('a second instance → "another instance is running", exit 75', async () => {
    const r = await runCli(['daemon', '--config', h.configPath], { env: h.env });
    expect(r.code).toBe(75);
    expect(r.stderr).toMatch(/another instance is running/);
    expect(await desktop.call({ member: 'Ping' })).toEqual(['pong']);
  });

  it('introspection returns exactly the checked-in interfaces', async () => {
    const [xml] = await desktop.call({ interface: 'org.freedesktop.DBus.Introspectable', member: 'Introspect', path: DISPATCHER_OBJECT_PATH });
    const served = parseIntrospection(xml);
    const checkedIn = new Map([
      ...parseIntrospection(readFileSync(join(REPO_ROOT, 'daemon/introspection/net.mowaka.SecretsDispatcher1.xml'), 'utf8')),
      ...parseIntrospection(readFileSync(join(REPO_ROOT, 'daemon/introspection/net.mowaka.SecretsDispatcher1.Console.xml'), 'utf8')),
    ]);
    expect([...served.keys()].sort()).toEqual(['org.freedesktop.DBus.Introspectable', 'org.freedesktop.DBus.Peer', REQUEST_INTERFACE, CONSOLE_INTERFACE].sort());
    for (const name of [REQUEST_INTERFACE, CONSOLE_INTERFACE]) {
      const shape = (spec: ReturnType<typeof parseIntrospection> extends Map<string, infer S> ? S : never) => ({
        methods: [...spec.methods.values()].map((m) => [m.name, m.inArgs, m.outArgs]),
        signals: [...spec.signals.values()].map((s) => [s.name, s.args]),
        properties: [...spec.properties.values()],
      });
      expect(shape(served.get(name)!)).toEqual(shape(checkedIn.get(name)!));
    }
  });

  it('wrong passphrase → WrongPassphrase and nothing changes', async () => {
    await h.console.lock();
    await expect(h.console.unlock('not the passphrase')).rejects.toMatchObject({ dbusName: `${ERR}WrongPassphrase` });
    expect(await h.console.status()).toMatchObject({ initialized: true, locked: true });
    await expect(desktop.call({ member: 'SearchItems', signature: 'sa{ss}', body: ['', {}] })).rejects.toMatchObject({ dbusName: `${ERR}StoreLocked` });
    // The failure delay grows after repeated failures; the right passphrase still opens the same store.
    await new Promise((r) => setTimeout(r, 1500));
    await h.console.unlock(TEST_PASSPHRASE);
    const [ids] = await desktop.call({ member: 'SearchItems', signature: 'sa{ss}', body: ['', {}] });
    expect([...ids].sort()).toEqual([...itemIds].sort());
    const reading = desktop.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [[itemIds[0]], {}] });
    await h.console.decide((await h.console.waitForPending()).id, 'once');
    expect(Buffer.from((await reading)[0][0][1]).toString()).toBe('gh-secret-value');
  });

  it('history prints the audit log for the companion or root, never a secret', async () => {
    const json = await runCli(['history', '--json', '--state-dir', h.stateDir, '--limit', '50']);
    expect(json.code).toBe(0);
    const rows = JSON.parse(json.stdout);
    expect(rows.some((r: { kind: string; outcome: string }) => r.kind === 'secret' && r.outcome === 'approved')).toBe(true);
    expect(rows.some((r: { kind: string; outcome: string; detail: string }) => r.kind === 'store' && r.outcome === 'failed' && r.detail === 'WrongPassphrase')).toBe(true);
    const text = await runCli(['history', '--state-dir', h.stateDir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/secret\s+approved\s+uid \d+ pid \d+ .*'GitHub token'/);
    const verify = await runCli(['history', '--verify', '--state-dir', h.stateDir]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/The audit log is intact: \d+ chained rows/);
    const auditPath = join(h.stateDir, AUDIT_DB_FILE);
    expect(statSync(auditPath).mode & 0o777).toBe(0o600);
    for (const file of [auditPath, `${auditPath}-wal`]) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch {
        continue;
      }
      expect(bytes.includes(Buffer.from('gh-secret-value'))).toBe(false);
      expect(bytes.includes(Buffer.from(TEST_PASSPHRASE))).toBe(false);
    }
  });

  it.skipIf(!isRoot)('history refuses anyone but the companion and root (needs root to make a user; skipped otherwise)', async () => {
    const stranger = createThrowawayUser('sdh');
    try {
      const r = await runCli(['history', '--state-dir', h.stateDir], { uid: stranger.uid, gid: stranger.gid });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/only the companion user .* or root may read the audit log/);
    } finally {
      stranger.remove();
    }
  });

  it('export → import into a fresh daemon gives the same items and secrets', async () => {
    const passFile = join(tmp, 'bundle-pass');
    writeFileSync(passFile, 'bundle passphrase\n', { mode: 0o600 });
    const bundle = join(tmp, 'store.bundle');
    const exporting = runCli(['export', bundle, '--passphrase-file', passFile], { env: h.env });
    const exportReq = await h.console.waitForPending((r) => r.kind === 'export');
    // Honest about what leaves: every secret, and that the requester chose the passphrase.
    expect(exportReq.summary).toMatch(/wants every secret in the store \(2 items\).*passphrase it chose itself: to it, the bundle is plaintext/);
    expect(exportReq.bundle).toMatchObject({ direction: 'export', counts: { items: 2, keys: 0 } });
    expect(exportReq.bundle!.entries.map((e) => e.label).sort()).toEqual(['GitHub token', 'Mail']);
    await h.console.decide(exportReq.id, 'once');
    const exported = await exporting;
    expect(exported.code, exported.stderr).toBe(0);
    expect(statSync(bundle).mode & 0o777).toBe(0o600);
    expect(readFileSync(bundle).includes(Buffer.from('gh-secret-value'))).toBe(false);

    const fresh = await startDaemonHarness();
    try {
      const importing = runCli(['import', bundle, '--passphrase-file', passFile], { env: fresh.env });
      const importReq = await fresh.console.waitForPending((r) => r.kind === 'import');
      // Decrypted before asking: the console says what the bundle holds, not its size.
      expect(importReq.summary).toMatch(/wants to import 2 items from a bundle, overwriting nothing/);
      expect(importReq.bundle).toMatchObject({ direction: 'import', counts: { items: 2, overwrites: 0 } });
      await fresh.console.decide(importReq.id, 'once');
      const imported = await importing;
      expect(imported.code, imported.stderr).toBe(0);
      expect(imported.stdout).toMatch(/Imported 2 items/);

      const client = await fresh.client();
      const [ids] = await client.call({ member: 'SearchItems', signature: 'sa{ss}', body: ['', {}] });
      const [items] = await client.call({ member: 'GetItems', signature: 'as', body: [ids] });
      const summary = items.map((i: any[]) => [i[2], i[3]]).sort();
      expect(summary).toEqual([['GitHub token', { service: 'github', user: 'nb' }], ['Mail', { service: 'mail' }]]);
      const reading = client.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [ids, {}] });
      await fresh.console.decide((await fresh.console.waitForPending((r) => r.kind === 'secret')).id, 'once');
      const secrets = (await reading)[0].map((s: any[]) => Buffer.from(s[1]).toString()).sort();
      expect(secrets).toEqual(['gh-secret-value', 'mail-secret-value']);

      // Again, into a store that now holds them, one label changed here: the overwrites come first, with what they replace.
      const renaming = client.call({ member: 'UpdateItem', signature: 'ssa{ss}a{sv}', body: [items[0][0], 'renamed here', items[0][3], {}] });
      await fresh.console.decide((await fresh.console.waitForPending((r) => r.kind === 'write')).id, 'once');
      await renaming;
      const again = runCli(['import', bundle, '--passphrase-file', passFile], { env: fresh.env });
      const overwrite = await fresh.console.waitForPending((r) => r.kind === 'import');
      const { overwrites } = overwrite.bundle!.counts;
      expect(overwrites).toBe(2);
      expect(overwrite.summary).toContain(`OVERWRITING ${overwrites} that exist here`);
      expect(overwrite.bundle!.entries.slice(0, overwrites).every((e) => e.action === 'overwrite')).toBe(true);
      expect(overwrite.bundle!.entries.find((e) => e.was === 'renamed here')).toMatchObject({ what: 'item', action: 'overwrite' });
      await fresh.console.decide(overwrite.id, 'deny');
      expect((await again).code).toBe(1);
    } finally {
      await fresh.stop();
    }
  });

  it('a wrong bundle passphrase → BadBundle and nothing imported', async () => {
    const bundle = join(tmp, 'store.bundle');
    const wrong = join(tmp, 'wrong-pass');
    writeFileSync(wrong, 'not it\n', { mode: 0o600 });
    // The bundle is opened before anyone is asked, so a wrong passphrase never reaches the console.
    const r = await runCli(['import', bundle, '--passphrase-file', wrong], { env: h.env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bundle/i);
    expect((await h.console.listPending()).filter((p) => p.kind === 'import')).toEqual([]);
    const [ids] = await desktop.call({ member: 'SearchItems', signature: 'sa{ss}', body: ['', {}] });
    expect(ids).toHaveLength(2);
  });

  it('restart keeps the items; a denied export writes no file', async () => {
    await h.restartDaemon();
    const [ids] = await desktop.call({ member: 'SearchItems', signature: 'sa{ss}', body: ['', {}] });
    expect([...ids].sort()).toEqual([...itemIds].sort());
    const passFile = join(tmp, 'denied-pass');
    writeFileSync(passFile, 'bundle passphrase\n', { mode: 0o600 });
    const target = join(tmp, 'denied.bundle');
    const exporting = runCli(['export', target, '--passphrase-file', passFile], { env: h.env });
    await h.console.decide((await h.console.waitForPending((r) => r.kind === 'export')).id, 'deny');
    const r = await exporting;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/denied/i);
    expect(() => statSync(target)).toThrow();
  });
});

describe('one daemon per state directory', () => {
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

  it('a second daemon on another bus but the same state directory refuses with the holder PID and changes nothing', async () => {
    const before = await createItem(desktop, 'before the second daemon', { when: 'before' }, 'secret-one');
    // The item is committed when CreateItem returns; its audit row lands with the next batch.
    // Once it is there the first daemon has nothing left to write.
    for (;;) {
      const history = await runCli(['history', '--json', '--state-dir', h.stateDir]);
      if (history.stdout.includes('before the second daemon')) break;
    }
    const files = stateFiles(h.stateDir);

    const second = await runCli(['daemon', '--config', h.configPath], { env: { ...h.env, DBUS_SYSTEM_BUS_ADDRESS: other.address } });
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

    // The first keeps serving.
    const after = await createItem(desktop, 'after the second daemon', { when: 'after' }, 'secret-two');
    expect(await desktop.call({ member: 'Ping' })).toEqual(['pong']);

    // Afterwards: a restart unlocks (the row digest covers every row) and both items read back;
    // the audit chain verifies.
    await h.restartDaemon();
    const [items] = await desktop.call({ member: 'GetItems', signature: 'as', body: [[before, after]] });
    expect(items.map((i: unknown[]) => i[0]).sort()).toEqual([before, after].sort());
    const verify = await runCli(['history', '--verify', '--state-dir', h.stateDir]);
    expect(verify.code, verify.stderr).toBe(0);
  });

  it('once the first daemon has died, even by kill -9, the next one gets the state directory', async () => {
    await h.restartDaemon('SIGKILL');
    expect(await desktop.call({ member: 'Ping' })).toEqual(['pong']);
  });
});
