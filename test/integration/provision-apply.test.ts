// sd-provision applied for real to a throwaway Debian-shaped root (--prefix): the shadow tools
// create and delete the companion, files land with their modes and owners, a second run changes
// nothing, --uninstall restores every byte, and --check names each broken component with a fix
// that, when run, makes it pass again.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { isRoot } from '../helpers/root.js';
import { makeTestRoot, snapshot, trustedPackageRoot, DEBIAN_COMMON_SESSION, type TestRoot } from '../helpers/provision-root.js';
import { findUntrustedCode } from '../../provision/code-trust.js';
import { planInstall, planUninstall } from '../../provision/plan.js';
import { execute } from '../../provision/execute.js';
import { readRoot } from '../../provision/state.js';
import { resolveInputs } from '../../provision/inputs.js';
import { findPackageRoot, type Inputs } from '../../provision/render.js';
import { checkPackage, runChecks, type CheckResult } from '../../provision/check.js';
import { createLiveProbes } from '../../provision/probes.js';
import { PATHS, STORE_APPLICATION_ID } from '../../provision/layout.js';

// sd-provision refuses code a non-root user could change, so the tests install from a trusted copy
// when the checkout is not one (set in the first beforeAll below).
const checkout = findPackageRoot();
let packageRoot = checkout;
let bin = join(packageRoot, 'bin', 'sd-provision');
const SHADOW_BACKUP = /^etc\/(passwd|group|shadow|gshadow|subuid|subgid)-$/;

function provision(root: TestRoot, extra: Partial<Inputs> & { git?: boolean } = {}): { inputs: Inputs; steps: number } {
  const view = readRoot(root.dir);
  const inputs = { ...resolveInputs(view, { user: 'alice', packageRoot, git: extra.git ?? false }), ...extra };
  const actions = planInstall(view, inputs);
  execute(actions, { root: root.dir, report: () => undefined });
  return { inputs, steps: actions.length };
}

function uninstall(root: TestRoot, keepData = false): void {
  execute(planUninstall(readRoot(root.dir), { desktopUser: 'alice', companionUser: 'secrets-alice', vt: 8, keepData }), { root: root.dir, report: () => undefined });
}

async function check(root: TestRoot, inputs: Inputs): Promise<Map<string, CheckResult>> {
  const results = await runChecks({ view: readRoot(root.dir), inputs, probes: createLiveProbes(), provisionCommand: `${bin} --user alice --prefix ${root.dir}`, live: false });
  return new Map(results.map((r) => [r.component, r]));
}

function runCli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, SUDO_USER: '' }, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function makeStore(root: TestRoot, inputs: Inputs): void {
  const path = root.path(`${inputs.stateDir}/store.db`);
  const db = new Database(path);
  db.pragma(`application_id = ${STORE_APPLICATION_ID}`);
  db.exec('CREATE TABLE meta (name TEXT NOT NULL PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID');
  db.close();
  const uid = statSync(root.path(inputs.stateDir)).uid;
  chownSync(path, uid, uid);
}

describe.skipIf(!isRoot)('sd-provision into a temporary root (root: useradd/userdel --prefix)', () => {
  let root: TestRoot | undefined;
  let trusted: { root: string; remove(): void } | undefined;
  // Packages whose ownership a test changes live beside the checkout, whose parents are root's.
  const scratchDirs: string[] = [];
  const scratch = () => {
    mkdirSync(join(packageRoot, '.cache'), { recursive: true });
    const dir = mkdtempSync(join(packageRoot, '.cache', 'trust-'));
    chmodSync(dir, 0o755);
    scratchDirs.push(dir);
    return dir;
  };
  afterAll(() => { for (const d of scratchDirs) rmSync(d, { recursive: true, force: true }); });
  beforeAll(() => {
    // The CLI runs from dist/; CI has just built it, a developer may have edited provision/ since.
    if (!isRoot) return;
    const built = join(packageRoot, 'dist/provision/main.js');
    const newest = Math.max(...readdirSync(join(packageRoot, 'provision')).map((f) => statSync(join(packageRoot, 'provision', f)).mtimeMs));
    if (!existsSync(built) || statSync(built).mtimeMs < newest) {
      // tsc still emits when someone else's half-done file has type errors; ours are checked by the typecheck.
      try { execFileSync('npm', ['run', 'build', '--silent'], { cwd: packageRoot, stdio: 'ignore' }); } catch { /* see above */ }
    }
    trusted = trustedPackageRoot(checkout, process.execPath, (r) => findUntrustedCode(r, process.execPath) !== null);
    packageRoot = trusted.root;
    bin = join(packageRoot, 'bin', 'sd-provision');
  });
  afterAll(() => trusted?.remove());
  afterEach(() => root?.remove());

  it('installs the companion, files with their modes and owners, and a second run changes nothing', () => {
    root = makeTestRoot();
    const first = provision(root, { git: true });
    expect(first.steps).toBeGreaterThan(10);
    const companion = readFileSync(root.path('etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith('secrets-alice:'))!.split(':');
    expect(Number(companion[2])).toBeGreaterThanOrEqual(1000);
    expect(companion[5]).toBe('/var/lib/secrets-dispatcher/secrets-alice');
    expect(companion[6]).toBe('/usr/sbin/nologin');
    expect(readFileSync(root.path('etc/group'), 'utf8')).toMatch(/^tty:x:5:secrets-alice$/m);
    const home = statSync(root.path('var/lib/secrets-dispatcher/secrets-alice'));
    expect([home.mode & 0o7777, home.uid]).toEqual([0o700, Number(companion[2])]);
    expect(statSync(root.path(PATHS.hook)).mode & 0o7777).toBe(0o755);
    expect(readFileSync(root.path(PATHS.pamSession), 'utf8')).toContain(`\nsession optional pam_exec.so quiet ${PATHS.hook}\n`);
    expect(execFileSync('git', ['config', '--file', root.path('home/alice/.gitconfig'), '--get', 'gpg.program']).toString().trim()).toBe(join(packageRoot, 'bin/sd-gpg'));
    expect(statSync(root.path('home/alice/.gitconfig')).uid).toBe(1000);

    const before = snapshot(root.dir);
    expect(planInstall(readRoot(root.dir), first.inputs)).toEqual([]);
    const cli = runCli(['--prefix', root.dir, '--user', 'alice', '--git']);
    expect(cli).toMatchObject({ code: 0, stdout: 'Nothing to change: everything is installed as rendered.\n' });
    expect(snapshot(root.dir)).toEqual(before);
  });

  it('refuses root as the desktop user, a missing user, and running without root, each with advice', () => {
    root = makeTestRoot();
    const asRoot = spawnSync(process.execPath, [bin, '--prefix', root.dir], { encoding: 'utf8', env: { ...process.env, SUDO_USER: 'root' } });
    expect([asRoot.status, asRoot.stderr]).toEqual([64, expect.stringMatching(/^sd-provision: the desktop user must not be root .*Run `sudo sd-provision` from your own account, or pass --user NAME\.\n$/)]);
    const nobody = runCli(['--prefix', root.dir]);
    expect([nobody.code, nobody.stderr]).toEqual([64, "sd-provision: which desktop user? Run it with sudo from that user's session, or pass --user NAME.\n"]);
    const unprivileged = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, bin, '--user', 'alice', '--prefix', root.dir], { encoding: 'utf8' });
    expect([unprivileged.status, unprivileged.stderr]).toEqual([1, 'sd-provision: needs root to create users and write /etc. Run: sudo sd-provision (or --dry-run to see the plan).\n']);
    expect(runCli(['--help']).stdout).toMatch(/^Usage: sd-provision \[--user NAME\]/);
  });

  it('--dry-run prints the plan and changes nothing', () => {
    root = makeTestRoot();
    const before = snapshot(root.dir);
    const cli = runCli(['--prefix', root.dir, '--user', 'alice', '--dry-run']);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/^Would \(\d+ steps, root .*\):\n {2}create user secrets-alice/);
    expect(cli.stdout).toContain(`write PAM session stack ${PATHS.pamSession}`);
    expect(snapshot(root.dir)).toEqual(before);
  });

  it('--uninstall restores every edited file byte for byte and leaves no trace', () => {
    root = makeTestRoot();
    // The user's own git config and a PAM stack without a final newline must come back exactly.
    writeFileSync(root.path('home/alice/.gitconfig'), '[user]\n\tname = Alice\n[gpg]\n\tprogram = gpg2', { mode: 0o600 });
    chownSync(root.path('home/alice/.gitconfig'), 1000, 1000);
    writeFileSync(root.path(PATHS.pamSession), DEBIAN_COMMON_SESSION.trimEnd());
    const before = snapshot(root.dir);
    provision(root, { git: true });
    expect(execFileSync('git', ['config', '--file', root.path('home/alice/.gitconfig'), '--get', 'gpg.program']).toString().trim()).toBe(join(packageRoot, 'bin/sd-gpg'));
    makeStore(root, readRoot(root.dir) && { stateDir: '/var/lib/secrets-dispatcher/secrets-alice' } as Inputs);

    const cli = runCli(['--prefix', root.dir, '--uninstall']);
    expect(cli.code, cli.stderr).toBe(0);
    const after = snapshot(root.dir, (rel) => SHADOW_BACKUP.test(rel));
    expect(after).toEqual(new Map([...before].filter(([rel]) => !SHADOW_BACKUP.test(rel))));
    for (const name of ['passwd-', 'group-', 'shadow-', 'gshadow-', 'subuid-', 'subgid-']) expect(readFileSync(root.path(`etc/${name}`), 'utf8')).not.toContain('secrets-alice');
    expect(runCli(['--prefix', root.dir, '--uninstall']).stdout).toBe('Nothing of Secrets Dispatcher is installed here.\n');
  });

  it('--uninstall --keep-data keeps the companion and its store; a re-run picks them up', () => {
    root = makeTestRoot();
    const { inputs } = provision(root);
    makeStore(root, inputs);
    uninstall(root, true);
    expect(readFileSync(root.path('etc/passwd'), 'utf8')).toContain('secrets-alice:');
    expect(statSync(root.path(`${inputs.stateDir}/store.db`)).size).toBeGreaterThan(0);
    expect(readFileSync(root.path(PATHS.pamSession), 'utf8')).toBe(DEBIAN_COMMON_SESSION);
    const again = provision(root);
    expect(again.steps).toBeGreaterThan(0);
    expect(planInstall(readRoot(root.dir), again.inputs)).toEqual([]);
    uninstall(root);
    expect(readFileSync(root.path('etc/passwd'), 'utf8')).not.toContain('secrets-alice');
  });

  it('--check: all file components PASS after install, live ones SKIP under --prefix, and the CLI exit code follows FAIL', async () => {
    root = makeTestRoot();
    const { inputs } = provision(root, { git: true });
    makeStore(root, inputs);
    const results = await check(root, inputs);
    for (const c of ['package', 'user', 'home', 'groups', 'config', 'admin-rules', 'policy', 'unit:target', 'unit:daemon', 'unit:console', 'pam', 'store', 'git']) {
      expect(results.get(c), c).toMatchObject({ status: 'PASS' });
    }
    for (const c of ['daemon', 'console', 'agent']) expect(results.get(c)).toMatchObject({ status: 'SKIP', detail: '--prefix: not the live system' });
    const json = runCli(['--prefix', root.dir, '--check', '--json']);
    expect(json.code, json.stdout).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, desktopUser: 'alice', companionUser: 'secrets-alice' });
    chmodSync(root.path(inputs.stateDir), 0o755);
    const text = runCli(['--prefix', root.dir, '--check']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^FAIL home +\/var\/lib\/secrets-dispatcher\/secrets-alice has mode 0755, not 0700; fix: chmod 0700 /m);
  });

  it('--check: an admin rule file the daemon would refuse FAILs naming file, key and value; a valid one PASSes', async () => {
    root = makeTestRoot();
    const { inputs } = provision(root);
    const dir = root.path('etc/secrets-dispatcher/policy.d');
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, '10-ci.json'), JSON.stringify({ rules: [{ id: 'ci', effect: 'deny', match: { kind: 'secret', unti: 'ci.service' } }] }), { mode: 0o644 });
    expect((await check(root, inputs)).get('admin-rules')).toMatchObject({
      status: 'FAIL', detail: expect.stringMatching(/policy\.d\/10-ci\.json: unknown key "rules\.0\.match\.unti" \(rule "ci"\) with value "ci\.service"/), fix: expect.stringContaining('systemctl restart secrets-dispatcher-daemon.service'),
    });
    writeFileSync(join(dir, '10-ci.json'), JSON.stringify({ rules: [{ id: 'ci', effect: 'deny', match: { kind: 'secret', unit: 'ci.service' } }] }));
    expect((await check(root, inputs)).get('admin-rules')).toMatchObject({ status: 'PASS', detail: '1 admin rule in /etc/secrets-dispatcher/policy.d' });
  });

  // Each case breaks one component, expects FAIL naming it with a fix, runs that fix, expects PASS.
  const breakages: { component: string; breakIt(root: TestRoot, inputs: Inputs): void; fix: RegExp }[] = [
    { component: 'user', breakIt: (r) => execFileSync('usermod', ['--prefix', r.dir, '--shell', '/bin/bash', 'secrets-alice']), fix: /^usermod --prefix \S+ --shell \/usr\/sbin\/nologin secrets-alice$/ },
    { component: 'home', breakIt: (r, i) => chownSync(r.path(i.stateDir), 0, 0), fix: /^chown \d+:\d+ \S+secrets-alice$/ },
    { component: 'groups', breakIt: (r) => execFileSync('usermod', ['--prefix', r.dir, '--groups', '', 'secrets-alice']), fix: /^usermod --prefix \S+ --append --groups tty secrets-alice$/ },
    { component: 'config', breakIt: (r) => writeFileSync(r.path(PATHS.config), '{"desktopUser": "alice",'), fix: /bin\/sd-provision --user alice --prefix / },
    { component: 'config', breakIt: (r) => writeFileSync(r.path(PATHS.config), JSON.stringify({ ...JSON.parse(readFileSync(r.path(PATHS.config), 'utf8')), bogus: true })), fix: /bin\/sd-provision --user alice --prefix / },
    { component: 'policy', breakIt: (r) => appendFileSync(r.path(PATHS.policy), '<!-- edited -->\n'), fix: /bin\/sd-provision --user alice --prefix / },
    { component: 'unit:daemon', breakIt: (r) => writeFileSync(r.path('etc/systemd/system/secrets-dispatcher-daemon.service'), readFileSync(r.path('etc/systemd/system/secrets-dispatcher-daemon.service'), 'utf8').replace('NoNewPrivileges=yes\n', '')), fix: /bin\/sd-provision / },
    { component: 'unit:console', breakIt: (r) => execFileSync('rm', [r.path('etc/systemd/system/secrets-dispatcher-console@.service')]), fix: /bin\/sd-provision / },
    { component: 'pam', breakIt: (r) => writeFileSync(r.path(PATHS.pamSession), DEBIAN_COMMON_SESSION), fix: /bin\/sd-provision / },
    { component: 'pam', breakIt: (r) => chmodSync(r.path(PATHS.hook), 0o777), fix: /^chown root:root \S+pam-hook && chmod 0755 \S+pam-hook$/ },
    { component: 'git', breakIt: (r) => appendFileSync(r.path('home/alice/.gitconfig'), '[gpg]\n\tprogram = /usr/bin/gpg\n'), fix: /^git config --file \S+\.gitconfig --unset-all gpg\.program; \S+bin\/sd-provision .* --git$/ },
  ];
  describe('each broken component', () => {
    // One provisioned root for all cases: each case ends with everything passing again.
    let shared: { root: TestRoot; inputs: Inputs } | undefined;
    beforeAll(() => {
      if (!isRoot) return;
      const r = makeTestRoot();
      const { inputs } = provision(r, { git: true });
      makeStore(r, inputs);
      shared = { root: r, inputs };
    });
    afterAll(() => shared?.root.remove());
    for (const b of breakages) {
      it(`--check: a broken ${b.component} FAILs with a fix that works (${b.fix.source.slice(0, 40)})`, async () => {
        const { root: r, inputs } = shared!;
        b.breakIt(r, inputs);
        const broken = (await check(r, inputs)).get(b.component)!;
        expect(broken.status, broken.detail).toBe('FAIL');
        expect(broken.fix).toMatch(b.fix);
        execFileSync('sh', ['-c', broken.fix!], { stdio: 'pipe', env: { ...process.env, SUDO_USER: '' } });
        const results = await check(r, inputs);
        expect([...results.values()].filter((x) => x.status === 'FAIL')).toEqual([]);
      });
    }
  });

  it('--check: systemd-analyze verify rejects a unit whose program is missing; a missing store and a package under a sticky /tmp-like directory FAIL', async () => {
    root = makeTestRoot();
    const { inputs } = provision(root, { node: '/nonexistent/node' });
    const results = await check(root, inputs);
    expect(results.get('unit:daemon')).toMatchObject({ status: 'FAIL', detail: expect.stringContaining('/nonexistent/node is not executable') });
    expect(results.get('store')).toMatchObject({ status: 'FAIL', fix: 'log in as alice and create the store on VT8 (Ctrl+Alt+F8)' });
    // A package in a /tmp-style (sticky, world-writable) directory: anyone could create
    // node_modules/ next to it, which Node would search. (Beside the checkout: the real /tmp is such
    // a directory itself.)
    const tmpParent = scratch();
    chmodSync(tmpParent, 0o1777);
    const unsafe = join(tmpParent, 'pkg');
    mkdirSync(unsafe);
    expect(checkPackage(unsafe, process.execPath)).toMatchObject({
      status: 'FAIL', detail: expect.stringMatching(new RegExp(`^${tmpParent} is writable by everyone \\(mode 1777\\)`)), fix: expect.stringMatching(/^copy the package to a new root-owned directory/),
    });
  });

  it('refuses to install from a copy of the package that a non-root user can write, with the fix, and writes nothing', () => {
    root = makeTestRoot();
    const copy = join(scratch(), 'sd');
    mkdirSync(copy);
    execFileSync('cp', ['-R', ...['bin', 'dist', 'package.json', 'systemd', 'provision'].map((e) => join(packageRoot, e)), copy]);
    symlinkSync(join(packageRoot, 'node_modules'), join(copy, 'node_modules'));
    execFileSync('chown', ['-R', '1000:1000', copy]);
    const before = snapshot(root.dir);
    const r = spawnSync(process.execPath, [join(copy, 'bin/sd-provision'), '--prefix', root.dir, '--user', 'alice'], { encoding: 'utf8', env: { ...process.env, SUDO_USER: '' }, timeout: 60_000 });
    expect(r.status, r.stdout).toBe(1);
    expect(r.stderr).toBe(`sd-provision: refusing to install: ${copy} is owned by UID 1000, not root: whoever can change it runs code as root (the console unit's ExecStopPost=+) and as the companion.\n`
      + `Fix: copy the package to a new root-owned directory and run sd-provision from there: sudo cp -RL ${copy} /opt/secrets-dispatcher && sudo chmod -R go-w /opt/secrets-dispatcher && sudo /opt/secrets-dispatcher/bin/sd-provision … (or make this tree root's: sudo chown -R root:root ${copy} && sudo chmod -R go-w ${copy})\n`);
    expect(snapshot(root.dir)).toEqual(before);
  });

  it('refuses a symlink planted in the desktop user\'s home instead of writing through it as root', () => {
    root = makeTestRoot();
    const shadow = readFileSync(root.path('etc/shadow'));
    execFileSync('ln', ['-s', root.path('etc/shadow'), root.path('home/alice/.gitconfig')]);
    expect(() => provision(root!, { git: true })).toThrow(/\/home\/alice\/\.gitconfig is not a regular file/);
    expect(readFileSync(root.path('etc/shadow'))).toEqual(shadow);
  });
});
