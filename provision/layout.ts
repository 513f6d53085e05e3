// Where sd-provision puts things on the target system (absolute paths as seen inside the root).
import { DEFAULT_CONFIG_PATH } from '../core/config.js';
import { POLICY_INSTALL_PATH } from '../dbus-policy/render.js';

export const PATHS = {
  configDir: '/etc/secrets-dispatcher',
  config: DEFAULT_CONFIG_PATH,
  policy: POLICY_INSTALL_PATH,
  systemUnitDir: '/etc/systemd/system',
  userUnitDir: '/etc/systemd/user',
  stateRoot: '/var/lib/secrets-dispatcher',
  hookDir: '/usr/local/lib/secrets-dispatcher',
  hook: '/usr/local/lib/secrets-dispatcher/pam-hook',
  /** Included by login, sshd and display managers on Debian; pam-auth-update keeps lines after its block. */
  pamSession: '/etc/pam.d/common-session',
  pamAnchor: '# end of pam-auth-update config',
  passwd: '/etc/passwd',
  group: '/etc/group',
  /** The daemon's AppArmor profile (apparmor.service loads this directory at boot). */
  apparmorProfile: '/etc/apparmor.d/secrets-dispatcher-daemon',
  /** Directories created inside the desktop user's home, so --uninstall removes exactly those. */
  createdDirsRecord: '/etc/secrets-dispatcher/created-dirs',
} as const;

export const TARGET_UNIT = 'secrets-dispatcher.target';
export const DAEMON_UNIT = 'secrets-dispatcher-daemon.service';
export const CONSOLE_TEMPLATE_UNIT = 'secrets-dispatcher-console@.service';
export const AGENT_UNIT = 'secrets-dispatcher-agent.service';
/** The profile's name, as the daemon unit's AppArmorProfile= names it. */
export const APPARMOR_PROFILE = 'secrets-dispatcher-daemon';
export const ACTIVATION_FILE = 'org.freedesktop.secrets.service';
/** Relative to the desktop user's home: the session bus looks here first ($XDG_DATA_HOME). */
export const USER_SERVICES_DIR = '.local/share/dbus-1/services';

export const consoleUnit = (vt: number): string => `secrets-dispatcher-console@${vt}.service`;
/** Written by the daemon (daemon/server.ts STORE_DB_FILE) inside the state directory. */
export const STORE_FILE = 'store.db';
/** PRAGMA application_id of the store (daemon/store/schema.ts), at byte 68 of an SQLite header. */
export const STORE_APPLICATION_ID = 0x53447374;

/** The path of `path` (absolute on the target) under `root`. */
export function under(root: string, path: string): string {
  return root === '/' ? path : `${root.replace(/\/+$/, '')}${path}`;
}
