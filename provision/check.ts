// `sd-provision --check`: one line per component, PASS, FAIL with the command that fixes it, or
// SKIP with the reason it could not be judged. Files are compared with the same renderings the
// plan installs; the running parts are asked through LiveProbes.
import { execFileSync } from 'node:child_process';
import { DEFAULT_POLICY_DIR, loadAdminRules } from '../core/admin-rules.js';
import { parseConfigText } from '../core/config.js';
import { DISPATCHER_BUS_NAME, SECRET_SERVICE_BUS_NAME } from '../core/names.js';
import { findUntrustedCode, PACKAGE_CODE, type TrustOptions } from './code-trust.js';
import { findBlock } from './markers.js';
import { ACTIVATION_FILE, AGENT_UNIT, APPARMOR_PROFILE, CONSOLE_TEMPLATE_UNIT, DAEMON_UNIT, PATHS, STORE_APPLICATION_ID, STORE_FILE, TARGET_UNIT, USER_SERVICES_DIR, consoleUnit, under } from './layout.js';
import { gitBlockBody, pamBlockBody, renderActivationFile, renderSystemFiles, type Inputs } from './render.js';
import { findUser, type RootView } from './state.js';
import { groupsOf } from './passwd.js';
import type { LiveProbes } from './probes.js';

/** NOTE: a property of this machine worth knowing that no install can change; never fails --check. */
export type Status = 'PASS' | 'FAIL' | 'SKIP' | 'NOTE';
export interface CheckResult { component: string; status: Status; detail: string; fix?: string }

export interface CheckContext {
  view: RootView;
  inputs: Inputs;
  probes: LiveProbes;
  /** The sd-provision command line that installs this configuration (used as the usual fix). */
  provisionCommand: string;
  /** The running system can be asked (false for --prefix). */
  live: boolean;
}

const octal = (m: number) => m.toString(8).padStart(4, '0');
const pass = (component: string, detail: string): CheckResult => ({ component, status: 'PASS', detail });
const fail = (component: string, detail: string, fix: string): CheckResult => ({ component, status: 'FAIL', detail, fix });
const skip = (component: string, detail: string): CheckResult => ({ component, status: 'SKIP', detail });
const note = (component: string, detail: string, fix?: string): CheckResult => ({ component, status: 'NOTE', detail, ...(fix ? { fix } : {}) });

/** Yama's ptrace_scope, and what it means for whoever claims to be the program asking. */
export function describePtraceScope(scope: number | null): CheckResult {
  const narrow = 'sysctl -w kernel.yama.ptrace_scope=1 and the same in /etc/sysctl.d/ (narrows it to a process\'s own children)';
  switch (scope) {
    case null: return note('yama', 'no Yama in this kernel, so as with ptrace_scope 0: any desktop process may attach to another of its UID (the agent, a running git) and ask in its name');
    case 0: return note('yama', 'ptrace_scope 0: any desktop process may attach to another of its UID (the agent, a running git) and ask in its name; what the console shows about a program is as strong as the UID', narrow);
    case 1: return pass('yama', 'ptrace_scope 1: a desktop process may attach only to its own descendants, not to the running agent or a git it did not start');
    case 2: return pass('yama', 'ptrace_scope 2: only CAP_SYS_PTRACE may attach; the daemon only reads /proc/PID/exe and cwd, which Yama never restricts');
    default: return pass('yama', `ptrace_scope ${scope}: no process may attach; the daemon only reads /proc/PID/exe and cwd, which Yama never restricts`);
  }
}

/** Code run as root and as the companion must not be writable by anyone else (code-trust.ts). */
export function checkPackage(packageRoot: string, node: string, options: TrustOptions = {}): CheckResult {
  const unsafe = findUntrustedCode(packageRoot, node, options);
  if (unsafe) return fail('package', unsafe.why, unsafe.fix);
  return pass('package', `${node}, ${packageRoot} (${PACKAGE_CODE.join(', ')}) and every directory above them are root-owned and writable by nobody else`);
}

export async function runChecks(ctx: CheckContext): Promise<CheckResult[]> {
  const { view, inputs, probes } = ctx;
  const fixAll = ctx.provisionCommand;
  const shown = (p: string) => under(view.root, p);
  const shadowPrefix = view.root === '/' ? '' : ` --prefix ${view.root}`;
  const results: CheckResult[] = [checkPackage(inputs.packageRoot, inputs.node)];

  const companion = findUser(view, inputs.companionUser);
  if (!companion) results.push(fail('user', `no user ${inputs.companionUser}`, fixAll));
  else if (companion.uid === 0) results.push(fail('user', `${inputs.companionUser} has UID 0`, `userdel${shadowPrefix} ${inputs.companionUser} && ${fixAll}`));
  else if (!/nologin$|\/false$/.test(companion.shell)) results.push(fail('user', `${inputs.companionUser} has login shell ${companion.shell}`, `usermod${shadowPrefix} --shell /usr/sbin/nologin ${inputs.companionUser}`));
  else results.push(pass('user', `${inputs.companionUser} (UID ${companion.uid}, shell ${companion.shell})`));

  const home = view.stat(inputs.stateDir);
  if (!home || home.kind !== 'dir') results.push(fail('home', `${inputs.stateDir} does not exist`, fixAll));
  else if (!companion || home.uid !== companion.uid || home.gid !== companion.gid) {
    // Under --prefix the companion exists only in that root's passwd, so the fix uses numbers.
    const owner = view.root === '/' || !companion ? `${inputs.companionUser}:${inputs.companionUser}` : `${companion.uid}:${companion.gid}`;
    results.push(fail('home', `${inputs.stateDir} is owned by ${home.uid}:${home.gid}, not ${inputs.companionUser}`, `chown ${owner} ${shown(inputs.stateDir)}`));
  } else if (home.mode !== 0o700) results.push(fail('home', `${inputs.stateDir} has mode ${octal(home.mode)}, not 0700`, `chmod 0700 ${shown(inputs.stateDir)}`));
  else results.push(pass('home', `${inputs.stateDir} 0700 ${inputs.companionUser}`));

  if (!companion) results.push(fail('groups', `no user ${inputs.companionUser}`, fixAll));
  else {
    const groups = groupsOf(companion, view.groups);
    results.push(groups.includes('tty')
      ? pass('groups', `${inputs.companionUser} is in ${groups.join(',')}`)
      : fail('groups', `${inputs.companionUser} is not in the tty group (in ${groups.join(',') || 'none'})`, `usermod${shadowPrefix} --append --groups tty ${inputs.companionUser}`));
  }

  const configText = view.read(PATHS.config);
  if (configText === null) results.push(fail('config', `${PATHS.config} does not exist`, fixAll));
  else {
    try {
      const config = parseConfigText(configText, PATHS.config);
      const wrong = [
        config.desktopUser !== inputs.desktopUser && `desktopUser is ${config.desktopUser}`,
        config.companionUser !== inputs.companionUser && `companionUser is ${config.companionUser}`,
        config.stateDir !== inputs.stateDir && `stateDir is ${config.stateDir}`,
        config.console.vt !== inputs.vt && `console.vt is ${config.console.vt}`,
      ].filter(Boolean);
      results.push(wrong.length ? fail('config', `${PATHS.config}: ${wrong.join(', ')}`, fixAll) : pass('config', `${PATHS.config} is valid`));
    } catch (err) {
      results.push(fail('config', (err as Error).message, fixAll));
    }
  }

  // Root's admin rules: the daemon refuses to start (exit 78) on the first bad or unsafe file.
  try {
    const rules = loadAdminRules(shown(DEFAULT_POLICY_DIR), { mayBeAbsent: true });
    results.push(pass('admin-rules', rules.length ? `${rules.length} admin rule${rules.length === 1 ? '' : 's'} in ${DEFAULT_POLICY_DIR}` : `no admin rules in ${DEFAULT_POLICY_DIR}`));
  } catch (err) {
    results.push(fail('admin-rules', (err as Error).message.replace(/^The configuration is not valid\. /, ''), `correct the file named, then: systemctl restart ${DAEMON_UNIT}`));
  }

  const rendered = new Map(renderSystemFiles(inputs, configText).map((f) => [f.path, f]));
  const sameFile = (component: string, path: string): boolean => {
    const want = rendered.get(path)!;
    const text = view.read(path);
    if (text === null) results.push(fail(component, `${path} does not exist`, fixAll));
    else if (text !== want.content) results.push(fail(component, `${path} differs from what sd-provision renders`, fixAll));
    else {
      const st = view.stat(path)!;
      if (st.mode !== want.mode || st.uid !== 0) results.push(fail(component, `${path} has mode ${octal(st.mode)} owner ${st.uid}`, `chown root:root ${shown(path)} && chmod ${octal(want.mode)} ${shown(path)}`));
      else return true;
    }
    return false;
  };
  if (sameFile('policy', PATHS.policy)) results.push(pass('policy', `${PATHS.policy} matches the rendering for ${inputs.desktopUser}/${inputs.companionUser}`));

  const units: [string, string, string][] = [
    ['unit:target', `${PATHS.systemUnitDir}/${TARGET_UNIT}`, TARGET_UNIT],
    ['unit:daemon', `${PATHS.systemUnitDir}/${DAEMON_UNIT}`, DAEMON_UNIT],
    ['unit:console', `${PATHS.systemUnitDir}/${CONSOLE_TEMPLATE_UNIT}`, consoleUnit(inputs.vt)],
  ];
  if (rendered.has(`${PATHS.userUnitDir}/${AGENT_UNIT}`)) units.push(['unit:agent', `${PATHS.userUnitDir}/${AGENT_UNIT}`, AGENT_UNIT]);
  // Verified in parallel: systemd-analyze takes a few hundred milliseconds per unit.
  const matching = units.filter(([component, path]) => sameFile(component, path));
  const verdicts = await Promise.all(matching.map(([, path, name]) => probes.verifyUnits([{ name, path: shown(path) }])));
  matching.forEach(([component, path, name], i) => {
    const verdict = verdicts[i]!;
    if (!verdict.known) results.push(skip(component, `${path} matches; not verified: ${verdict.why}`));
    else if (verdict.value) results.push(fail(component, `systemd-analyze verify ${name}: ${verdict.value.replace(/\n/g, '; ')}`, fixAll));
    else results.push(pass(component, `${path} matches and systemd-analyze verify accepts it`));
  });

  if (!inputs.apparmor) {
    results.push(note('apparmor', 'AppArmor does not confine processes here (not enabled in the kernel, or apparmor_parser missing), so the daemon runs without CAP_SYS_PTRACE: the console cannot verify which program asks, and no decision can be remembered',
      `apt install apparmor, boot with AppArmor enabled, then ${fixAll}`));
  } else if (sameFile('apparmor', PATHS.apparmorProfile)) {
    const mode = ctx.live ? probes.apparmorProfileMode(APPARMOR_PROFILE) : null;
    if (!mode) results.push(skip('apparmor', `${PATHS.apparmorProfile} matches; --prefix: not the live system`));
    else if (!mode.known) results.push(skip('apparmor', `${PATHS.apparmorProfile} matches; not verified: ${mode.why}`));
    else if (mode.value !== 'enforce') {
      results.push(fail('apparmor', `profile ${APPARMOR_PROFILE} is ${mode.value === null ? 'not loaded' : `in ${mode.value} mode`}, so the daemon would not start (or its CAP_SYS_PTRACE would reach root)`, `apparmor_parser --replace ${PATHS.apparmorProfile}`));
    } else results.push(pass('apparmor', `profile ${APPARMOR_PROFILE} is enforced: the daemon's CAP_SYS_PTRACE reads /proc/PID/exe and cwd, never another process's memory`));
  }
  const scope = probes.ptraceScope();
  results.push(scope.known ? describePtraceScope(scope.value) : skip('yama', scope.why));

  const activation = renderActivationFile(inputs);
  if (activation !== null) {
    const path = `${inputs.desktopHome}/${USER_SERVICES_DIR}/${ACTIVATION_FILE}`;
    const text = view.read(path);
    results.push(text === activation ? pass('activation', `${path} matches`) : fail('activation', `${path} ${text === null ? 'does not exist' : 'differs from the rendering'}`, fixAll));
  }

  if (sameFile('pam', PATHS.hook)) {
    const stack = view.read(PATHS.pamSession);
    const block = stack === null ? null : findBlock(stack);
    if (!block || block.body !== pamBlockBody()) results.push(fail('pam', `${PATHS.pamSession} has no \`${pamBlockBody().trim()}\` between our markers`, fixAll));
    else results.push(pass('pam', `${PATHS.pamSession} runs ${PATHS.hook} at session open`));
  }

  if (!ctx.live) {
    for (const c of ['daemon', 'console', 'agent']) results.push(skip(c, '--prefix: not the live system'));
  } else {
    const loggedIn = probes.userLoggedIn(inputs.desktopUid);
    const notRunningWhy = `${inputs.desktopUser} is not logged in; the companion runs only during their sessions`;
    const owner = await probes.systemBusOwnerUid(DISPATCHER_BUS_NAME);
    if (!owner.known) results.push(skip('daemon', owner.why));
    else if (owner.value === null) {
      results.push(loggedIn ? fail('daemon', `nobody owns ${DISPATCHER_BUS_NAME} on the system bus`, `systemctl start ${TARGET_UNIT}; journalctl -u ${DAEMON_UNIT}`) : skip('daemon', notRunningWhy));
    } else if (!companion || owner.value !== companion.uid) {
      results.push(fail('daemon', `${DISPATCHER_BUS_NAME} is owned by UID ${owner.value}, not ${inputs.companionUser}`, `${fixAll}  (the policy lets only ${inputs.companionUser} own it)`));
    } else results.push(pass('daemon', `${inputs.companionUser} owns ${DISPATCHER_BUS_NAME} on the system bus`));

    if (!companion) results.push(fail('console', `no user ${inputs.companionUser}`, fixAll));
    else {
      const onVt = probes.processesOnVt(inputs.vt, companion.uid);
      if (!onVt.known) results.push(skip('console', onVt.why));
      else if (onVt.value.length) results.push(pass('console', `${inputs.companionUser} runs on /dev/tty${inputs.vt} (pid ${onVt.value.join(',')})`));
      else results.push(loggedIn ? fail('console', `nothing of ${inputs.companionUser} runs on /dev/tty${inputs.vt}`, `systemctl restart ${consoleUnit(inputs.vt)}; journalctl -u ${consoleUnit(inputs.vt)}`) : skip('console', notRunningWhy));
    }

    const agent = await probes.sessionBusOwnerCommand(inputs.desktopUid, SECRET_SERVICE_BUS_NAME);
    if (!agent.known) results.push(skip('agent', agent.why));
    else if (agent.value === null) results.push(fail('agent', `nobody owns ${SECRET_SERVICE_BUS_NAME} in ${inputs.desktopUser}'s session`, `systemctl --user -M ${inputs.desktopUser}@ start ${AGENT_UNIT}`));
    else if (!/secrets-dispatcher.* agent/.test(agent.value)) {
      results.push(fail('agent', `${SECRET_SERVICE_BUS_NAME} is owned by another program: ${agent.value}`, `stop it (e.g. remove gnome-keyring's secrets component from autostart), then: systemctl --user -M ${inputs.desktopUser}@ restart ${AGENT_UNIT}`));
    } else results.push(pass('agent', `the agent owns ${SECRET_SERVICE_BUS_NAME} in ${inputs.desktopUser}'s session`));
  }

  const storePath = `${inputs.stateDir}/${STORE_FILE}`;
  if (home?.kind === 'dir' && process.getuid?.() !== 0 && companion && process.getuid?.() !== companion.uid) {
    results.push(skip('store', `only root or ${inputs.companionUser} can look inside ${inputs.stateDir}`));
  } else {
    const header = storeHeader(view, storePath);
    if (header === null || header.length < 72) {
      results.push(fail('store', `${storePath} does not exist yet`, `log in as ${inputs.desktopUser} and create the store on VT${inputs.vt} (Ctrl+Alt+F${inputs.vt})`));
    } else if (header.readUInt32BE(68) !== STORE_APPLICATION_ID) {
      results.push(fail('store', `${storePath} is not a secrets-dispatcher store`, `move ${shown(storePath)} away and create the store on VT${inputs.vt}`));
    } else results.push(pass('store', `${storePath} is initialised`));
  }

  const gitconfigPath = `${inputs.desktopHome}/.gitconfig`;
  const gitconfig = view.read(gitconfigPath);
  const gitBlock = gitconfig === null ? null : findBlock(gitconfig);
  if (!gitBlock) results.push(skip('git', `not requested (sd-provision --git points ${inputs.desktopUser}'s git at sd-gpg)`));
  else if (gitBlock.body !== gitBlockBody(inputs)) results.push(fail('git', `${gitconfigPath}: our block does not set gpg.program to ${gitBlockBody(inputs).split('= ')[1]!.trim()}`, `${fixAll} --git`));
  else {
    const effective = lastGpgProgram(shown(gitconfigPath));
    const want = gitBlockBody(inputs).split('= ')[1]!.trim();
    results.push(effective === want ? pass('git', `gpg.program = ${want}`) : fail('git', `${gitconfigPath}: a later gpg.program (${effective}) overrides ours`, `git config --file ${shown(gitconfigPath)} --unset-all gpg.program; ${fixAll} --git`));
  }
  return results;
}

/** The value git itself reads from the file (the last one wins). */
function lastGpgProgram(path: string): string | undefined {
  try {
    return execFileSync('git', ['config', '--file', path, '--get', 'gpg.program'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return undefined;
  }
}

export function formatResults(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.component.length));
  return results.map((r) => `${r.status} ${r.component.padEnd(width)}  ${r.detail}${r.fix ? `; fix: ${r.fix}` : ''}\n`).join('');
}

/**
 * Page 1 of the store as SQLite would see it. The store runs in WAL mode, so until a checkpoint the
 * newest copy of page 1 (with the application id) may live only in the -wal file: the last frame
 * for page 1 there wins over the main file.
 */
export function storeHeader(view: RootView, storePath: string): Buffer | null {
  const main = view.readBytes(storePath, 100);
  const wal = view.readBytes(`${storePath}-wal`, 64 * 1024 * 1024);
  if (!wal || wal.length < 32 || (wal.readUInt32BE(0) & 0xfffffffe) !== 0x377f0682) return main;
  const pageSize = wal.readUInt32BE(8) || 65536;
  let latest: Buffer | null = null;
  for (let frame = 32; frame + 24 + pageSize <= wal.length; frame += 24 + pageSize) {
    if (wal.readUInt32BE(frame) === 1) latest = wal.subarray(frame + 24, frame + 24 + 100);
  }
  return latest ?? main;
}
