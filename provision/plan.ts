// The whole of sd-provision as a pure function: from the inputs and a snapshot of the root to
// the list of actions that would bring the root to the wanted state (or back, for --uninstall).
// An empty list means nothing to change; that is how idempotency is tested.
import { dirname } from 'node:path';
import { withBlock, withoutBlock } from './markers.js';
import { ACTIVATION_FILE, AGENT_UNIT, CONSOLE_TEMPLATE_UNIT, DAEMON_UNIT, PATHS, TARGET_UNIT, USER_SERVICES_DIR, consoleUnit } from './layout.js';
import { gitBlockBody, pamBlockBody, renderActivationFile, renderSystemFiles, type Inputs } from './render.js';
import { findUser, type RootView } from './state.js';
import { groupsOf } from './passwd.js';
import { ProvisionError } from './inputs.js';

export type Owner = string | number;

export type Action =
  | { kind: 'createUser'; user: string; home: string; shell: string; groups: string[]; comment: string }
  | { kind: 'modifyUser'; user: string; shell?: string; addGroups?: string[] }
  | { kind: 'deleteUser'; user: string }
  | { kind: 'mkdir'; path: string; mode: number; owner: Owner; group: Owner; inHome?: string }
  | { kind: 'setOwnerMode'; path: string; mode: number; owner: Owner; group: Owner }
  | { kind: 'writeFile'; path: string; content: string; mode: number; owner: Owner; group: Owner; label: string; inHome?: string }
  | { kind: 'removeFile'; path: string; label: string; inHome?: string }
  | { kind: 'removeDir'; path: string; recursive: boolean; onlyIfEmpty?: boolean }
  | { kind: 'systemctl'; args: string[]; why: string; mayFail?: boolean }
  | { kind: 'apparmor'; load: boolean; path: string; mayFail?: boolean }
  | { kind: 'reloadDbus' };

export const NOLOGIN = '/usr/sbin/nologin';
const NOLOGIN_SHELLS = new Set(['/usr/sbin/nologin', '/sbin/nologin', '/bin/false', '/usr/bin/false']);

export function describe(action: Action): string {
  const mode = (m: number) => m.toString(8).padStart(4, '0');
  switch (action.kind) {
    case 'createUser': return `create user ${action.user} (home ${action.home}, shell ${action.shell}, groups ${action.groups.join(',')})`;
    case 'modifyUser': return `change user ${action.user}:${action.shell ? ` shell ${action.shell}` : ''}${action.addGroups ? ` add to ${action.addGroups.join(',')}` : ''}`;
    case 'deleteUser': return `delete user ${action.user}`;
    case 'mkdir': return `create directory ${action.path} (${mode(action.mode)} ${action.owner}:${action.group})`;
    case 'setOwnerMode': return `set ${action.path} to ${mode(action.mode)} ${action.owner}:${action.group}`;
    case 'writeFile': return `write ${action.label} ${action.path} (${mode(action.mode)} ${action.owner}:${action.group}, ${Buffer.byteLength(action.content)} bytes)`;
    case 'removeFile': return `remove ${action.label} ${action.path}`;
    case 'removeDir': return `remove directory ${action.path}${action.recursive ? ' and everything in it' : ' (if empty)'}`;
    case 'systemctl': return `systemctl ${action.args.join(' ')} (${action.why})`;
    case 'apparmor': return action.load ? `load the AppArmor profile ${action.path} into the kernel` : `unload the AppArmor profile ${action.path}`;
    case 'reloadDbus': return 'reload the system bus configuration';
  }
}

function ownerMatches(actual: number, wanted: Owner, ids: Map<string, number>): boolean {
  return typeof wanted === 'number' ? actual === wanted : ids.get(wanted) === actual;
}

function idMaps(view: RootView): { uids: Map<string, number>; gids: Map<string, number> } {
  return { uids: new Map(view.users.map((u) => [u.name, u.uid])), gids: new Map(view.groups.map((g) => [g.name, g.gid])) };
}

function readRecord(view: RootView): string[] {
  return (view.read(PATHS.createdDirsRecord) ?? '').split('\n').filter((l) => l.startsWith('/'));
}

/** Directories missing on the way down to `dir` (parent first), starting below `from`. */
function missingDirs(view: RootView, from: string, dir: string): string[] {
  const missing: string[] = [];
  for (let d = dir; d !== from && d !== '/' && d.startsWith(`${from}/`); d = dirname(d)) {
    if (view.stat(d) === null) missing.unshift(d);
  }
  return missing;
}

export function planInstall(view: RootView, inputs: Inputs): Action[] {
  const actions: Action[] = [];
  const { uids, gids } = idMaps(view);
  const companion = findUser(view, inputs.companionUser);
  if (!companion) {
    actions.push({ kind: 'createUser', user: inputs.companionUser, home: inputs.stateDir, shell: NOLOGIN, groups: ['tty'], comment: `Secrets Dispatcher companion of ${inputs.desktopUser}` });
  } else {
    const shell = NOLOGIN_SHELLS.has(companion.shell) ? undefined : NOLOGIN;
    const addGroups = groupsOf(companion, view.groups).includes('tty') ? undefined : ['tty'];
    if (shell || addGroups) actions.push({ kind: 'modifyUser', user: inputs.companionUser, ...(shell ? { shell } : {}), ...(addGroups ? { addGroups } : {}) });
  }

  const record = readRecord(view);
  const recordAdd: string[] = [];
  const plannedDirs = new Set<string>();
  const ensureDir = (path: string, mode: number, owner: Owner, group: Owner, opts: { ours: boolean; inHome?: string }) => {
    const st = view.stat(path);
    if (plannedDirs.has(path)) return;
    if (st === null) {
      plannedDirs.add(path);
      actions.push({ kind: 'mkdir', path, mode, owner, group, ...(opts.inHome ? { inHome: opts.inHome } : {}) });
      if (!opts.ours && !record.includes(path)) recordAdd.push(path);
    } else if (st.kind !== 'dir') {
      throw new ProvisionError(`sd-provision: ${path} exists and is not a directory; move it away and run again.`);
    } else if (opts.ours && (st.mode !== mode || !ownerMatches(st.uid, owner, uids) || !ownerMatches(st.gid, group, gids))) {
      actions.push({ kind: 'setOwnerMode', path, mode, owner, group });
    }
  };
  ensureDir(PATHS.configDir, 0o755, 'root', 'root', { ours: true });
  for (const dir of [PATHS.stateRoot, '/etc/dbus-1/system.d', PATHS.systemUnitDir, PATHS.userUnitDir, dirname(PATHS.hookDir)]) {
    for (const d of missingDirs(view, '', dir)) ensureDir(d, 0o755, 'root', 'root', { ours: false });
  }
  ensureDir(inputs.stateDir, 0o700, inputs.companionUser, inputs.companionUser, { ours: true });
  ensureDir(PATHS.hookDir, 0o755, 'root', 'root', { ours: true });

  const changed = new Set<string>();
  const ensureFile = (file: { path: string; content: string; mode: number; owner: Owner; group: Owner; label: string; inHome?: string }) => {
    const current = view.read(file.path);
    const st = view.stat(file.path);
    if (st && st.kind !== 'file') throw new ProvisionError(`sd-provision: ${file.path} is not a regular file; move it away and run again.`);
    if (current !== file.content) {
      actions.push({ kind: 'writeFile', ...file });
      changed.add(file.path);
    } else if (st && (st.mode !== file.mode || !ownerMatches(st.uid, file.owner, uids) || !ownerMatches(st.gid, file.group, gids))) {
      actions.push({ kind: 'setOwnerMode', path: file.path, mode: file.mode, owner: file.owner, group: file.group });
    }
  };
  for (const file of renderSystemFiles(inputs, view.read(PATHS.config))) ensureFile(file);

  const pam = view.read(PATHS.pamSession);
  if (pam === null) {
    throw new ProvisionError(`sd-provision: ${PATHS.pamSession} does not exist, so this is not a Debian-style PAM stack. Add this line to the session stack your login uses, after pam_systemd: ${pamBlockBody().trim()}`);
  }
  const pamWanted = withBlock(pam, pamBlockBody(), PATHS.pamAnchor);
  if (pamWanted !== pam) {
    const st = view.stat(PATHS.pamSession)!;
    ensureFile({ path: PATHS.pamSession, content: pamWanted, mode: st.mode, owner: st.uid, group: st.gid, label: 'PAM session stack' });
  }

  const home = inputs.desktopHome;
  const desktopGid = findUser(view, inputs.desktopUser)!.gid;
  const activation = renderActivationFile(inputs);
  if (activation !== null) {
    const dir = `${home}/${USER_SERVICES_DIR}`;
    if (view.stat(home)?.kind !== 'dir') throw new ProvisionError(`sd-provision: the home of ${inputs.desktopUser} (${home}) does not exist; create it first.`);
    for (const d of missingDirs(view, home, dir)) ensureDir(d, 0o755, inputs.desktopUid, desktopGid, { ours: false, inHome: home });
    ensureFile({ path: `${dir}/${ACTIVATION_FILE}`, content: activation, mode: 0o644, owner: inputs.desktopUid, group: desktopGid, label: 'Secret Service activation file', inHome: home });
  }

  if (inputs.git) {
    const path = `${home}/.gitconfig`;
    const current = view.read(path);
    const wanted = withBlock(current, gitBlockBody(inputs));
    if (wanted !== current) {
      const st = view.stat(path);
      ensureFile({ path, content: wanted, mode: st?.mode ?? 0o644, owner: st?.uid ?? inputs.desktopUid, group: st?.gid ?? desktopGid, label: 'git config', inHome: home });
    }
  }

  if (recordAdd.length) {
    // Written before the directories are made, so an install that stops half-way can still be undone.
    const content = [...record, ...recordAdd].map((d) => `${d}\n`).join('');
    const at = actions.findIndex((a) => a.kind === 'mkdir' && a.path === PATHS.configDir) + 1;
    actions.splice(at, 0, { kind: 'writeFile', path: PATHS.createdDirsRecord, content, mode: 0o644, owner: 'root', group: 'root', label: 'record of created directories' });
  }
  // Loaded before the units are reloaded: a daemon started next must find its profile.
  if (changed.has(PATHS.apparmorProfile)) actions.push({ kind: 'apparmor', load: true, path: PATHS.apparmorProfile });
  if (!inputs.apparmor && view.stat(PATHS.apparmorProfile) !== null) {
    // AppArmor is gone since the last run: the unit no longer names the profile.
    actions.push({ kind: 'apparmor', load: false, path: PATHS.apparmorProfile, mayFail: true }, { kind: 'removeFile', path: PATHS.apparmorProfile, label: 'AppArmor profile' });
  }
  if ([...changed].some((p) => p.startsWith(`${PATHS.systemUnitDir}/`) || p.startsWith(`${PATHS.userUnitDir}/`))) {
    actions.push({ kind: 'systemctl', args: ['daemon-reload'], why: 'load the new unit files' });
  }
  if (changed.has(PATHS.policy)) actions.push({ kind: 'reloadDbus' });
  return actions;
}

export interface UninstallInputs {
  desktopUser?: string;
  companionUser?: string;
  vt: number;
  keepData: boolean;
}

/** Reads who was installed from the config (falling back to the options) and undoes it all. */
export function planUninstall(view: RootView, inputs: UninstallInputs): Action[] {
  const actions: Action[] = [];
  const unitFiles = [TARGET_UNIT, DAEMON_UNIT, CONSOLE_TEMPLATE_UNIT].map((u) => `${PATHS.systemUnitDir}/${u}`);
  const agentUnit = `${PATHS.userUnitDir}/${AGENT_UNIT}`;
  const present = (p: string) => view.stat(p) !== null;

  // The PAM line goes first: `systemctl --user -M USER@` below opens a PAM session for the desktop
  // user, and with our hook still in the stack that session would start the companion again, after
  // which userdel refuses to remove a user with running processes (seen in the VM test).
  const pam = view.read(PATHS.pamSession);
  if (pam !== null) {
    const restored = withoutBlock(pam);
    if (restored) {
      const st = view.stat(PATHS.pamSession)!;
      actions.push({ kind: 'writeFile', path: PATHS.pamSession, content: restored.text, mode: st.mode, owner: st.uid, group: st.gid, label: 'PAM session stack (our line removed)' });
    }
  }
  if (unitFiles.some(present)) {
    actions.push({ kind: 'systemctl', args: ['stop', TARGET_UNIT, DAEMON_UNIT, consoleUnit(inputs.vt)], why: 'stop the companion before its files go', mayFail: true });
  }
  if (present(agentUnit) && inputs.desktopUser) {
    // Only reaches a running user manager (the user is logged in); otherwise there is nothing to stop.
    actions.push({ kind: 'systemctl', args: ['--user', '-M', `${inputs.desktopUser}@`, 'stop', AGENT_UNIT], why: 'stop the agent in the desktop session', mayFail: true });
  }
  if (present(PATHS.apparmorProfile)) actions.push({ kind: 'apparmor', load: false, path: PATHS.apparmorProfile, mayFail: true });
  const files: [string, string][] = [
    [PATHS.hook, 'PAM hook'],
    [PATHS.apparmorProfile, 'AppArmor profile'],
    ...unitFiles.map((p): [string, string] => [p, 'unit']),
    [agentUnit, 'agent user unit'],
    [PATHS.policy, 'system-bus policy'],
    [PATHS.config, 'config'],
  ];
  for (const [path, label] of files) if (present(path)) actions.push({ kind: 'removeFile', path, label });

  const desktop = inputs.desktopUser ? findUser(view, inputs.desktopUser) : undefined;
  if (desktop) {
    const activation = `${desktop.home}/${USER_SERVICES_DIR}/${ACTIVATION_FILE}`;
    if (present(activation)) actions.push({ kind: 'removeFile', path: activation, label: 'Secret Service activation file', inHome: desktop.home });
    const gitconfig = `${desktop.home}/.gitconfig`;
    const git = view.read(gitconfig);
    const restored = git === null ? null : withoutBlock(git);
    if (restored?.delete) actions.push({ kind: 'removeFile', path: gitconfig, label: 'git config (created by sd-provision)', inHome: desktop.home });
    else if (restored) {
      const st = view.stat(gitconfig)!;
      actions.push({ kind: 'writeFile', path: gitconfig, content: restored.text, mode: st.mode, owner: st.uid, group: st.gid, label: 'git config (our block removed)', inHome: desktop.home });
    }
  }
  if (present(PATHS.hookDir)) actions.push({ kind: 'removeDir', path: PATHS.hookDir, recursive: false });
  if (actions.some((a) => a.kind === 'removeFile' && (a.path.startsWith(`${PATHS.systemUnitDir}/`) || a.path.startsWith(`${PATHS.userUnitDir}/`)))) {
    actions.push({ kind: 'systemctl', args: ['daemon-reload'], why: 'forget the removed unit files' });
  }
  if (actions.some((a) => a.kind === 'removeFile' && a.path === PATHS.policy)) actions.push({ kind: 'reloadDbus' });

  if (!inputs.keepData && inputs.companionUser) {
    const stateDir = `${PATHS.stateRoot}/${inputs.companionUser}`;
    if (findUser(view, inputs.companionUser)) actions.push({ kind: 'deleteUser', user: inputs.companionUser });
    if (present(stateDir)) actions.push({ kind: 'removeDir', path: stateDir, recursive: true });
  }
  // Directories we had to create (deepest first), each only if nothing else was put in it since.
  for (const dir of readRecord(view).reverse()) {
    if (present(dir)) actions.push({ kind: 'removeDir', path: dir, recursive: false, onlyIfEmpty: true });
  }
  if (present(PATHS.createdDirsRecord)) actions.push({ kind: 'removeFile', path: PATHS.createdDirsRecord, label: 'record of created directories' });
  if (present(PATHS.configDir)) actions.push({ kind: 'removeDir', path: PATHS.configDir, recursive: false });
  return actions;
}
