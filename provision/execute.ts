// Applies a plan to a root. For a temporary root (tests) user changes go through the same shadow
// tools with --prefix, and nothing on the live system (systemd, the system bus) is touched.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { describe, type Action, type Owner } from './plan.js';
import { under } from './layout.js';
import { parseGroup, parsePasswd } from './passwd.js';
import { ProvisionError } from './inputs.js';
import { apparmorParser } from './probes.js';

export interface ExecuteOptions {
  root: string;
  /** One line per step (what was done or why it was skipped). */
  report: (line: string) => void;
  /** Is systemd PID 1 here? Defaults to checking /run/systemd/system. */
  systemdRunning?: boolean;
  systemBusSocket?: string;
}

export function systemdIsRunning(): boolean {
  return existsSync('/run/systemd/system');
}

function run(argv: string[]): void {
  try {
    execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    const detail = e.stderr?.toString().trim() || e.message;
    throw new ProvisionError(`sd-provision: \`${argv.join(' ')}\` failed: ${detail}`);
  }
}

/** Anything in a user's home could be a symlink the user planted to make root write elsewhere. */
function assertNoSymlink(root: string, home: string, path: string): void {
  const rel = relative(home, path).split('/');
  let cur = home;
  for (const part of ['', ...rel]) {
    cur = part ? `${cur}/${part}` : cur;
    const full = under(root, cur);
    if (!existsSync(full) && part) continue;
    if (lstatSync(full, { throwIfNoEntry: false })?.isSymbolicLink()) {
      throw new ProvisionError(`sd-provision: ${cur} is a symbolic link; refusing to write through it as root. Replace it with a real directory or file.`);
    }
  }
}

export function execute(actions: Action[], options: ExecuteOptions): void {
  const { root, report } = options;
  const live = root === '/';
  const systemd = options.systemdRunning ?? systemdIsRunning();
  const prefix = live ? [] : ['--prefix', root];
  // Re-read on every lookup: a user created a step earlier must resolve.
  const ids = () => ({
    users: parsePasswd(readFileSync(under(root, '/etc/passwd'), 'utf8')),
    groups: parseGroup(readFileSync(under(root, '/etc/group'), 'utf8')),
  });
  const uid = (o: Owner) => (typeof o === 'number' ? o : (ids().users.find((u) => u.name === o)?.uid ?? fail(`no user ${o}`)));
  const gid = (o: Owner) => (typeof o === 'number' ? o : (ids().groups.find((g) => g.name === o)?.gid ?? fail(`no group ${o}`)));

  for (const action of actions) {
    const path = 'path' in action ? under(root, action.path) : '';
    if ('inHome' in action && action.inHome) assertNoSymlink(root, action.inHome, action.path);
    switch (action.kind) {
      case 'createUser':
        run(['useradd', ...prefix, '--home-dir', action.home, '--no-create-home', '--shell', action.shell, '--groups', action.groups.join(','), '--user-group', '--comment', action.comment, action.user]);
        break;
      case 'modifyUser':
        run(['usermod', ...prefix, ...(action.shell ? ['--shell', action.shell] : []), ...(action.addGroups ? ['--append', '--groups', action.addGroups.join(',')] : []), action.user]);
        break;
      case 'deleteUser':
        run(['userdel', ...prefix, action.user]);
        forgetInShadowBackups(root);
        break;
      case 'mkdir':
        mkdirSync(path, { mode: action.mode });
        chmodSync(path, action.mode);
        chownSync(path, uid(action.owner), gid(action.group));
        break;
      case 'setOwnerMode':
        chownSync(path, uid(action.owner), gid(action.group));
        chmodSync(path, action.mode);
        break;
      case 'writeFile': {
        // Written beside the target and renamed over it, so a crash never leaves half a PAM stack.
        const tmp = `${path}.sd-provision-${process.pid}`;
        writeFileSync(tmp, action.content, { mode: action.mode, flag: 'wx' });
        chownSync(tmp, uid(action.owner), gid(action.group));
        chmodSync(tmp, action.mode);
        renameSync(tmp, path);
        break;
      }
      case 'removeFile':
        if (existsSync(path)) unlinkSync(path);
        break;
      case 'removeDir':
        if (action.recursive) rmSync(path, { recursive: true, force: true });
        else {
          try {
            rmdirSync(path);
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            if (code === 'ENOENT') break;
            if ((code === 'ENOTEMPTY' || code === 'EEXIST') && action.onlyIfEmpty) {
              report(`kept ${action.path}: something else is in it now`);
              continue;
            }
            throw new ProvisionError(`sd-provision: cannot remove ${action.path}: ${(err as Error).message}`);
          }
        }
        break;
      case 'systemctl':
        if (!live) { report(`skipped: ${describe(action)}: --prefix is not the live system`); continue; }
        if (!systemd) { report(`skipped: ${describe(action)}: systemd is not running here`); continue; }
        try {
          run(['systemctl', ...action.args]);
        } catch (err) {
          if (!action.mayFail) throw err;
          report(`${describe(action)}: ${(err as Error).message.replace(/^sd-provision: /, '')} (going on)`);
          continue;
        }
        break;
      case 'apparmor': {
        if (!live) { report(`skipped: ${describe(action)}: --prefix is not the live system`); continue; }
        const parser = apparmorParser();
        if (!parser) { report(`skipped: ${describe(action)}: apparmor_parser is not installed`); continue; }
        try {
          run([parser, action.load ? '--replace' : '--remove', path]);
        } catch (err) {
          if (!action.mayFail) throw err;
          report(`${describe(action)}: ${(err as Error).message.replace(/^sd-provision: /, '')} (going on)`);
          continue;
        }
        break;
      }
      case 'reloadDbus': {
        if (!live) { report(`skipped: ${describe(action)}: --prefix is not the live system`); continue; }
        const socket = options.systemBusSocket ?? '/run/dbus/system_bus_socket';
        if (systemd) run(['systemctl', 'reload', 'dbus.service']);
        else if (existsSync(socket)) run(['dbus-send', '--system', '--type=method_call', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.ReloadConfig']);
        else { report(`skipped: ${describe(action)}: no system bus is running here`); continue; }
        break;
      }
    }
    report(describe(action));
  }
}

/**
 * userdel leaves the previous passwd/group/shadow/gshadow/subuid/subgid as `passwd-` etc., which list the
 * companion. Refreshing those backups from the current files removes that trace; they hold no
 * older state worth keeping (the state before userdel is the one with the companion in it).
 */
function forgetInShadowBackups(root: string): void {
  for (const name of ['passwd', 'group', 'shadow', 'gshadow', 'subuid', 'subgid']) {
    const current = under(root, `/etc/${name}`);
    const backup = `${current}-`;
    if (!existsSync(backup) || !existsSync(current)) continue;
    const st = lstatSync(backup);
    if (!st.isFile()) continue;
    const tmp = `${backup}.sd-provision-${process.pid}`;
    writeFileSync(tmp, readFileSync(current), { mode: st.mode & 0o7777, flag: 'wx' });
    chownSync(tmp, st.uid, st.gid);
    chmodSync(tmp, st.mode & 0o7777);
    renameSync(tmp, backup);
  }
}

function fail(message: string): never {
  throw new ProvisionError(`sd-provision: ${message}`);
}
