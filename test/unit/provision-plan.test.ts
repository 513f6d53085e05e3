// sd-provision's pure parts: marker edits undo byte for byte, the renderings say what the issue
// demands of each unit, and the plan for a fresh Debian-like root (read, never applied here).
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findBlock, withBlock, withoutBlock } from '../../provision/markers.js';
import { findPackageRoot, fill, renderPamHook, renderSystemFiles, pamBlockBody, type Inputs } from '../../provision/render.js';
import { describe as describeAction, planInstall, planUninstall } from '../../provision/plan.js';
import { readRoot } from '../../provision/state.js';
import { resolveInputs, ProvisionError } from '../../provision/inputs.js';
import { PATHS } from '../../provision/layout.js';
import { parseConfigText } from '../../core/config.js';
import { describePtraceScope, formatResults } from '../../provision/check.js';
import { renderPolicy } from '../../dbus-policy/render.js';
import { DEBIAN_COMMON_SESSION, makeTestRoot, type TestRoot } from '../helpers/provision-root.js';

const packageRoot = findPackageRoot();
const inputs: Inputs = {
  desktopUser: 'alice', desktopUid: 1000, desktopHome: '/home/alice', companionUser: 'secrets-alice',
  stateDir: '/var/lib/secrets-dispatcher/secrets-alice', vt: 8, packageRoot, node: '/usr/bin/node', git: false, apparmor: true, systemctl: '/usr/bin/systemctl',
};

describe('marker edits', () => {
  const originals: [string, string | null][] = [
    ['Debian common-session', DEBIAN_COMMON_SESSION],
    ['no final newline', 'a\nb'],
    ['empty file', ''],
    ['missing file', null],
    ['single line no newline', 'only'],
    ['CRLF lines', 'x\r\ny\r\n'],
  ];
  for (const [name, original] of originals) {
    it(`removing the block restores the exact bytes: ${name}`, () => {
      for (const anchor of [undefined, '# end of pam-auth-update config', 'b', 'only']) {
        const edited = withBlock(original, 'session optional pam_exec.so quiet /x\n', anchor);
        expect(edited).not.toBe(original);
        expect(findBlock(edited)?.body).toBe('session optional pam_exec.so quiet /x\n');
        const restored = withoutBlock(edited)!;
        if (original === null) expect(restored).toEqual({ text: '', delete: true });
        else expect(restored).toEqual({ text: original, delete: false });
      }
    });
  }

  it('puts the PAM line after pam-auth-update\'s block, i.e. after pam_systemd', () => {
    const edited = withBlock(DEBIAN_COMMON_SESSION, pamBlockBody(), PATHS.pamAnchor);
    const lines = edited.split('\n');
    expect(lines.findIndex((l) => l.includes('pam_exec.so'))).toBeGreaterThan(lines.findIndex((l) => l.includes('pam_systemd.so')));
    expect(edited.startsWith(DEBIAN_COMMON_SESSION)).toBe(true);
  });

  it('replaces a changed block in place and is stable when unchanged', () => {
    const once = withBlock('a\nb\n', 'old\n');
    const twice = withBlock(once, 'new\n');
    expect(twice).toBe(withBlock('a\nb\n', 'new\n'));
    expect(withBlock(twice, 'new\n')).toBe(twice);
    expect(withoutBlock(twice)!.text).toBe('a\nb\n');
    const noNl = withBlock('a', 'old\n');
    expect(withoutBlock(withBlock(noNl, 'new\n'))!.text).toBe('a');
  });

  it('keeps lines someone added after the block of a file it created', () => {
    const created = withBlock(null, '[gpg]\n\tprogram = /x\n');
    expect(withoutBlock(`${created}[user]\n\tname = A\n`)).toEqual({ text: '[user]\n\tname = A\n', delete: false });
  });
});

describe('renderings', () => {
  const files = new Map(renderSystemFiles(inputs, null).map((f) => [f.path, f]));
  const unit = (name: string) => files.get(`${PATHS.systemUnitDir}/${name}`)!.content;

  it('leaves no placeholder in any installed file and refuses unknown ones', () => {
    for (const f of files.values()) expect(f.content, f.path).not.toMatch(/@[A-Z][A-Z0-9_]*@/);
    expect(() => fill('x @NOPE@', {}, 't')).toThrow(/unknown placeholder @NOPE@/);
  });

  it('daemon unit: notify with watchdog, bus name, companion user, restart (not after a config error), hardening, small young generation, never MemoryDenyWriteExecute', () => {
    const text = unit('secrets-dispatcher-daemon.service');
    for (const line of [
      'Type=notify', 'NotifyAccess=main', 'BusName=net.mowaka.SecretsDispatcher1', 'User=secrets-alice', 'Restart=on-failure',
      // A bad config or admin rule file exits 78: not a restart loop.
      'RestartPreventExitStatus=78',
      `ExecStart=/usr/bin/node ${join(packageRoot, 'bin/secrets-dispatcher')} daemon`, 'NoNewPrivileges=yes', 'ProtectSystem=strict',
      'ProtectHome=yes', 'ReadWritePaths=/var/lib/secrets-dispatcher/secrets-alice', 'PrivateTmp=yes', 'PrivateNetwork=yes',
      'RestrictAddressFamilies=AF_UNIX', 'PartOf=secrets-dispatcher.target',
      // The idle memory budget (< 80 MiB with 10,000 items) depends on the 1 MiB young generation.
      'Environment=NODE_OPTIONS=--max-semi-space-size=1',
    ]) expect(text.split('\n'), line).toContain(line);
    expect(text).toMatch(/^WatchdogSec=\d+$/m);
    expect(text).not.toMatch(/^MemoryDenyWriteExecute/m);
  });

  it('daemon unit: CAP_SYS_PTRACE only inside the AppArmor profile, whose only ptrace rule is read', () => {
    const lines = unit('secrets-dispatcher-daemon.service').split('\n');
    for (const line of ['CapabilityBoundingSet=CAP_SYS_PTRACE', 'AmbientCapabilities=CAP_SYS_PTRACE', 'AppArmorProfile=secrets-dispatcher-daemon']) expect(lines, line).toContain(line);
    expect(lines).toContain('After=dbus.socket apparmor.service');
    const profile = files.get(PATHS.apparmorProfile)!;
    expect(profile).toMatchObject({ mode: 0o644, owner: 'root', group: 'root' });
    const rules = profile.content.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(rules.filter((r) => /^(deny\s+)?(audit\s+)?ptrace\b/.test(r))).toEqual(['ptrace (read),']);
    expect(rules.filter((r) => r.startsWith('capability'))).toEqual(['capability sys_ptrace,']);
    expect(rules).toContain('profile secrets-dispatcher-daemon flags=(attach_disconnected) {');

    // Where AppArmor cannot confine it, the daemon gets no capability at all (and no profile is written).
    const bare = renderSystemFiles({ ...inputs, apparmor: false }, null);
    const bareLines = bare.find((f) => f.path === `${PATHS.systemUnitDir}/secrets-dispatcher-daemon.service`)!.content.split('\n');
    expect(bareLines).toContain('CapabilityBoundingSet=');
    expect(bareLines.filter((l) => !l.startsWith('#') && /^(AmbientCapabilities|AppArmorProfile)=|CAP_SYS_PTRACE/.test(l))).toEqual([]);
    expect(bare.some((f) => f.path === PATHS.apparmorProfile)).toBe(false);
  });

  it('daemon, console and agent units: no core files, bounded memory and tasks', () => {
    const agent = files.get(`${PATHS.userUnitDir}/secrets-dispatcher-agent.service`)!.content;
    const bounds = (text: string) => ({
      core: /^LimitCORE=(.*)$/m.exec(text)?.[1],
      memory: /^MemoryMax=(\d+)([MG])$/m.exec(text)?.slice(1).join(''),
      tasks: Number(/^TasksMax=(\d+)$/m.exec(text)?.[1]),
    });
    expect(bounds(unit('secrets-dispatcher-daemon.service'))).toEqual({ core: '0', memory: '1G', tasks: 64 });
    expect(bounds(unit('secrets-dispatcher-console@.service'))).toEqual({ core: '0', memory: '256M', tasks: 32 });
    expect(bounds(agent)).toEqual({ core: '0', memory: '256M', tasks: 32 });
  });

  it('console unit: getty-style on the VT, reset after any stop', () => {
    const text = unit('secrets-dispatcher-console@.service');
    for (const line of ['TTYPath=/dev/tty%I', 'TTYReset=yes', 'TTYVHangup=yes', 'TTYVTDisallocate=yes', 'StandardInput=tty', 'User=secrets-alice', 'SupplementaryGroups=tty', 'Restart=always']) {
      expect(text.split('\n'), line).toContain(line);
    }
    expect(text).toMatch(/^ExecStopPost=\+\S+ \S+secrets-dispatcher tui --reset-vt --tty \/dev\/tty%I$/m);
    expect(text).toMatch(/^Conflicts=getty@tty%i\.service autovt@tty%i\.service$/m);
    expect(text).not.toMatch(/^MemoryDenyWriteExecute/m);
  });

  it('target: bound to the desktop user\'s service manager, wants daemon and the console on the chosen VT', () => {
    const text = unit('secrets-dispatcher.target');
    expect(text.split('\n')).toContain('BindsTo=user@1000.service');
    expect(text.split('\n')).toContain('Wants=secrets-dispatcher-daemon.service secrets-dispatcher-console@8.service');
  });

  it('policy and config are the shared renderings', () => {
    expect(files.get(PATHS.policy)!.content).toBe(renderPolicy({ companionUser: 'secrets-alice', desktopUser: 'alice' }));
    const config = parseConfigText(files.get(PATHS.config)!.content, 'rendered');
    expect(config).toMatchObject({ desktopUser: 'alice', companionUser: 'secrets-alice', stateDir: inputs.stateDir, console: { vt: 8 } });
  });

  it('config keeps settings an admin added', () => {
    const existing = JSON.stringify({ desktopUser: 'bob', companionUser: 'x', stateDir: '/y', requestTimeoutSeconds: 60, console: { guardMs: 500, vt: 3 } });
    const merged = renderSystemFiles(inputs, existing).find((f) => f.path === PATHS.config)!.content;
    expect(JSON.parse(merged)).toEqual({ desktopUser: 'alice', companionUser: 'secrets-alice', stateDir: inputs.stateDir, requestTimeoutSeconds: 60, console: { guardMs: 500, vt: 8 } });
  });

  it('config drops keys the schema rejects, so a re-run is a fix for a broken config', () => {
    const render = (existing: object) => JSON.parse(renderSystemFiles(inputs, JSON.stringify(existing)).find((f) => f.path === PATHS.config)!.content);
    expect(render({ bogus: 1, logLevel: 'debug', console: { nope: true } })).toEqual({ desktopUser: 'alice', companionUser: 'secrets-alice', stateDir: inputs.stateDir, logLevel: 'debug', console: { vt: 8 } });
    expect(render({ requestTimeoutSeconds: -5 })).toEqual({ desktopUser: 'alice', companionUser: 'secrets-alice', stateDir: inputs.stateDir, console: { vt: 8 } });
  });

  it('PAM hook acts for the desktop user at session open only and always exits 0', () => {
    const hook = renderPamHook(inputs);
    expect(hook).toContain('[ "$PAM_USER" = "alice" ] || exit 0');
    expect(hook).toContain('[ "$PAM_TYPE" = open_session ] || exit 0');
    expect(hook).toContain('/usr/bin/systemctl start --no-block secrets-dispatcher.target secrets-dispatcher-daemon.service secrets-dispatcher-console@8.service');
    expect(hook.trimEnd().endsWith('exit 0')).toBe(true);
  });
});

describe('plan', () => {
  let root: TestRoot | undefined;
  afterEach(() => root?.remove());

  it('for a fresh root: companion user, state dir, every file, the PAM edit, then the reloads', () => {
    root = makeTestRoot();
    const view = readRoot(root.dir);
    const actions = planInstall(view, resolveInputs(view, { user: 'alice', packageRoot, apparmor: false }));
    const lines = actions.map(describeAction);
    expect(actions[0]).toMatchObject({ kind: 'createUser', user: 'secrets-alice', home: '/var/lib/secrets-dispatcher/secrets-alice', shell: '/usr/sbin/nologin', groups: ['tty'] });
    expect(actions).toContainEqual(expect.objectContaining({ kind: 'mkdir', path: '/var/lib/secrets-dispatcher/secrets-alice', mode: 0o700, owner: 'secrets-alice' }));
    for (const path of [PATHS.config, PATHS.policy, PATHS.hook, PATHS.pamSession, '/etc/systemd/system/secrets-dispatcher-daemon.service', '/etc/systemd/system/secrets-dispatcher-console@.service', '/etc/systemd/system/secrets-dispatcher.target']) {
      expect(lines.some((l) => l.includes(` ${path} `)), path).toBe(true);
    }
    // The agent's user unit and its activation file, in the desktop user's own data dir.
    expect(lines.some((l) => l.startsWith('write agent user unit /etc/systemd/user/secrets-dispatcher-agent.service (0644 root:root'))).toBe(true);
    expect(actions).toContainEqual(expect.objectContaining({ kind: 'writeFile', path: '/home/alice/.local/share/dbus-1/services/org.freedesktop.secrets.service', owner: 1000, group: 1000, inHome: '/home/alice' }));
    expect(actions.at(-2)).toMatchObject({ kind: 'systemctl', args: ['daemon-reload'] });
    expect(actions.at(-1)).toMatchObject({ kind: 'reloadDbus' });
    expect(actions.some((a) => a.kind === 'writeFile' && a.path.endsWith('.gitconfig'))).toBe(false);
    expect(planInstall(view, resolveInputs(view, { user: 'alice', packageRoot, git: true })).some((a) => a.kind === 'writeFile' && a.path === '/home/alice/.gitconfig')).toBe(true);
  });

  it('with AppArmor: the profile is written, loaded before the units are reloaded, and unloaded before it is removed', () => {
    root = makeTestRoot();
    const view = readRoot(root.dir);
    const actions = planInstall(view, resolveInputs(view, { user: 'alice', packageRoot, apparmor: true }));
    const write = actions.findIndex((a) => a.kind === 'writeFile' && a.path === PATHS.apparmorProfile);
    const load = actions.findIndex((a) => a.kind === 'apparmor' && a.load);
    const reload = actions.findIndex((a) => a.kind === 'systemctl' && a.args[0] === 'daemon-reload');
    expect(write).toBeGreaterThan(-1);
    expect(write < load && load < reload).toBe(true);
    expect(describeAction(actions[load]!)).toBe(`load the AppArmor profile ${PATHS.apparmorProfile} into the kernel`);

    mkdirSync(root.path('etc/apparmor.d'), { recursive: true });
    writeFileSync(root.path(PATHS.apparmorProfile), 'profile x {}\n');
    const removal = planUninstall(readRoot(root.dir), { desktopUser: 'alice', companionUser: 'secrets-alice', vt: 8, keepData: false });
    const unload = removal.findIndex((a) => a.kind === 'apparmor' && !a.load);
    expect(unload).toBeGreaterThan(-1);
    expect(unload).toBeLessThan(removal.findIndex((a) => a.kind === 'removeFile' && a.path === PATHS.apparmorProfile));
    // A re-run on a machine that lost AppArmor takes the profile away with the capability.
    const without = planInstall(readRoot(root.dir), resolveInputs(readRoot(root.dir), { user: 'alice', packageRoot, apparmor: false }));
    expect(without).toContainEqual({ kind: 'removeFile', path: PATHS.apparmorProfile, label: 'AppArmor profile' });
  });

  it('uninstall of a root where nothing is installed is empty', () => {
    root = makeTestRoot();
    expect(planUninstall(readRoot(root.dir), { desktopUser: 'alice', companionUser: 'secrets-alice', vt: 8, keepData: false })).toEqual([]);
  });

  it('refuses root as the desktop user, unknown users and bad options, naming the option', () => {
    root = makeTestRoot();
    const view = readRoot(root.dir);
    expect(() => resolveInputs(view, { packageRoot })).toThrow(/which desktop user\?.*--user NAME/);
    expect(() => resolveInputs(view, { sudoUser: 'root', packageRoot })).toThrow(/must not be root/);
    expect(() => resolveInputs(view, { user: 'bob', packageRoot })).toThrow(/--user bob: no such user/);
    expect(() => resolveInputs(view, { user: 'alice', companion: 'alice', packageRoot })).toThrow(/--companion must differ/);
    expect(() => resolveInputs(view, { user: 'alice', vt: 0, packageRoot })).toThrow(/--vt 0 must be a whole number from 1 to 63/);
    expect(() => resolveInputs(view, { user: 'Alice;rm', packageRoot })).toThrow(ProvisionError);
    expect(resolveInputs(view, { sudoUser: 'alice', packageRoot }).companionUser).toBe('secrets-alice');
  });
});

describe('--check: Yama ptrace_scope', () => {
  it('says what each value means for a program that asks, and never FAILs on it', () => {
    const of = (scope: number | null) => describePtraceScope(scope);
    expect(of(0)).toMatchObject({ component: 'yama', status: 'NOTE', detail: expect.stringMatching(/^ptrace_scope 0: any desktop process may attach to another of its UID \(the agent, a running git\) and ask in its name/), fix: expect.stringContaining('kernel.yama.ptrace_scope=1') });
    expect(of(null)).toMatchObject({ status: 'NOTE', detail: expect.stringMatching(/^no Yama in this kernel, so as with ptrace_scope 0/) });
    expect(of(1)).toMatchObject({ status: 'PASS', detail: expect.stringContaining('only to its own descendants') });
    expect(of(2)).toMatchObject({ status: 'PASS', detail: expect.stringContaining('only CAP_SYS_PTRACE may attach') });
    expect(of(3)).toMatchObject({ status: 'PASS', detail: expect.stringContaining('no process may attach') });
    expect(formatResults([of(0)])).toMatch(/^NOTE yama {2}ptrace_scope 0: .*; fix: sysctl -w kernel\.yama\.ptrace_scope=1/);
  });
});
