// Options normalised and checked one by one against the root, each error naming the option and
// its value (execa's habit). The result is everything the renderings and the plan need.
import { existsSync } from 'node:fs';
import { EXIT } from '../core/errors.js';
import { PATHS } from './layout.js';
import { apparmorConfines } from './probes.js';
import { findPackageRoot, type Inputs } from './render.js';
import { findGroup, findUser, type RootView } from './state.js';

export class ProvisionError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.failure) {
    super(message);
    this.name = 'ProvisionError';
  }
}

export interface ProvisionOptions {
  user?: string;
  companion?: string;
  vt?: number;
  git?: boolean;
  /** Usually $SUDO_USER. */
  sudoUser?: string;
  packageRoot?: string;
  node?: string;
  /** Default: whether AppArmor confines processes on the live system. */
  apparmor?: boolean;
}

const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

export function companionName(desktopUser: string): string {
  return `secrets-${desktopUser}`.slice(0, 32);
}

/**
 * Whose installation --check looks at: --user, else the one the installed config names, else
 * $SUDO_USER, else the account running it unless that is root. A desktop user checking their own
 * setup before (or without) sudo needs no flag; root alone has nobody to default to.
 */
export function desktopUserForCheck(given: { user?: string | undefined; installed?: string | undefined; sudoUser?: string | undefined; runningAs: { uid: number; name: string } }): string | undefined {
  return given.user || given.installed || given.sudoUser || (given.runningAs.uid === 0 ? undefined : given.runningAs.name);
}

/** The desktop user named by --user, else $SUDO_USER, else the one in an installed config. */
export function chooseDesktopUser(options: ProvisionOptions, installedConfig: string | null): string {
  let name = options.user ?? options.sudoUser;
  if (!name && installedConfig) {
    try {
      const parsed = JSON.parse(installedConfig) as { desktopUser?: unknown };
      if (typeof parsed.desktopUser === 'string') name = parsed.desktopUser;
    } catch {
      // fall through to the error below
    }
  }
  if (!name) throw new ProvisionError('sd-provision: which desktop user? Run it with sudo from that user\'s session, or pass --user NAME.', EXIT.usage);
  return name;
}

export function resolveInputs(view: RootView, options: ProvisionOptions, installedConfig: string | null = null): Inputs {
  const desktopUser = chooseDesktopUser(options, installedConfig);
  if (!USER_NAME.test(desktopUser)) throw new ProvisionError(`sd-provision: --user ${JSON.stringify(desktopUser)} is not a POSIX user name.`, EXIT.usage);
  const desktop = findUser(view, desktopUser);
  if (!desktop) throw new ProvisionError(`sd-provision: --user ${desktopUser}: no such user in ${view.root === '/' ? '' : view.root}${PATHS.passwd}.`, EXIT.usage);
  if (desktop.uid === 0) {
    throw new ProvisionError(`sd-provision: the desktop user must not be root (--user ${desktopUser} has UID 0): secrets would be guarded from nobody. Run \`sudo sd-provision\` from your own account, or pass --user NAME.`, EXIT.usage);
  }
  const companionUser = options.companion ?? companionName(desktopUser);
  if (!USER_NAME.test(companionUser)) throw new ProvisionError(`sd-provision: --companion ${JSON.stringify(companionUser)} is not a POSIX user name.`, EXIT.usage);
  if (companionUser === desktopUser) throw new ProvisionError(`sd-provision: --companion must differ from the desktop user (${desktopUser}): the separation is the point.`, EXIT.usage);
  const stateDir = `${PATHS.stateRoot}/${companionUser}`;
  const companion = findUser(view, companionUser);
  if (companion) {
    if (companion.uid === 0) throw new ProvisionError(`sd-provision: --companion ${companionUser} has UID 0; choose another name.`, EXIT.usage);
    if (companion.home !== stateDir) {
      throw new ProvisionError(`sd-provision: user ${companionUser} already exists with home ${companion.home}, not ${stateDir}. Pass another --companion, or move its home: usermod --home ${stateDir} --move-home ${companionUser}`, EXIT.usage);
    }
  }
  if (!findGroup(view, 'tty')) throw new ProvisionError('sd-provision: there is no "tty" group; the console needs it to own the VT.');
  const vt = options.vt ?? 8;
  if (!Number.isInteger(vt) || vt < 1 || vt > 63) throw new ProvisionError(`sd-provision: --vt ${String(options.vt)} must be a whole number from 1 to 63.`, EXIT.usage);
  const packageRoot = options.packageRoot ?? findPackageRoot();
  return {
    desktopUser,
    desktopUid: desktop.uid,
    desktopHome: desktop.home,
    companionUser,
    stateDir,
    vt,
    packageRoot,
    node: options.node ?? process.execPath,
    git: options.git ?? false,
    apparmor: options.apparmor ?? apparmorConfines(),
    systemctl: existsSync('/usr/bin/systemctl') ? '/usr/bin/systemctl' : '/bin/systemctl',
  };
}
