// Renders every file sd-provision installs from the templates in systemd/ and provision/. The
// same functions feed the plan and `--check`, so "installed" and "matches" mean the same text.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../core/config.js';
import { renderPolicy } from '../dbus-policy/render.js';
import { ACTIVATION_FILE, AGENT_UNIT, APPARMOR_PROFILE, CONSOLE_TEMPLATE_UNIT, DAEMON_UNIT, PATHS, TARGET_UNIT } from './layout.js';

/** The checkout or installed package: the directory holding package.json (source or dist/). */
export function findPackageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'secrets-dispatcher'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`sd-provision: no package root above ${from}`);
    dir = parent;
  }
}

export interface Inputs {
  desktopUser: string;
  desktopUid: number;
  desktopHome: string;
  companionUser: string;
  stateDir: string;
  vt: number;
  packageRoot: string;
  node: string;
  git: boolean;
  /**
   * AppArmor confines processes here (enabled in the kernel, apparmor_parser installed): only then
   * does the daemon get CAP_SYS_PTRACE, inside a profile that allows ptrace read only.
   */
  apparmor: boolean;
  /** The systemctl the PAM hook runs (absolute). */
  systemctl: string;
}

export function placeholders(inputs: Inputs): Record<string, string> {
  return {
    NODE: inputs.node,
    PACKAGE_ROOT: inputs.packageRoot,
    SECRETS_DISPATCHER: join(inputs.packageRoot, 'bin', 'secrets-dispatcher'),
    SD_GPG: join(inputs.packageRoot, 'bin', 'sd-gpg'),
    DESKTOP_USER: inputs.desktopUser,
    DESKTOP_UID: String(inputs.desktopUid),
    DESKTOP_HOME: inputs.desktopHome,
    COMPANION_USER: inputs.companionUser,
    STATE_DIR: inputs.stateDir,
    CONFIG_PATH: PATHS.config,
    VT: String(inputs.vt),
    HOOK_PATH: PATHS.hook,
    PAM_FILE: PATHS.pamSession,
    SYSTEMCTL: inputs.systemctl,
    PTRACE_READ: ptraceReadLines(inputs.apparmor),
  };
}

/** The daemon unit's capability lines: CAP_SYS_PTRACE only inside the read-only-ptrace profile. */
function ptraceReadLines(apparmor: boolean): string {
  if (!apparmor) return '# No AppArmor here (sd-provision --check says so): no capability.\nCapabilityBoundingSet=';
  return `CapabilityBoundingSet=CAP_SYS_PTRACE\nAmbientCapabilities=CAP_SYS_PTRACE\nAppArmorProfile=${APPARMOR_PROFILE}`;
}

/** Replaces @NAME@ placeholders; an unknown one is an error, never left in an installed file. */
export function fill(template: string, values: Record<string, string>, source: string): string {
  return template.replace(/@([A-Z][A-Z0-9_]*)@/g, (whole, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`${source}: unknown placeholder ${whole}`);
    return value;
  });
}

export interface RenderedFile {
  path: string;
  content: string;
  mode: number;
  owner: string;
  group: string;
  /** What it is, for plan lines and --check. */
  label: string;
}

function template(packageRoot: string, relative: string): string | null {
  const path = join(packageRoot, relative);
  return existsSync(path) ? readFileSync(path, 'utf8') : null;
}

export function renderConfig(inputs: Inputs, existing: string | null): string {
  const ours = { desktopUser: inputs.desktopUser, companionUser: inputs.companionUser, stateDir: inputs.stateDir, console: { vt: inputs.vt } };
  let base: Record<string, unknown> = {};
  if (existing !== null) {
    try {
      const parsed: unknown = JSON.parse(existing);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) base = parsed as Record<string, unknown>;
    } catch {
      // An unreadable config is replaced by ours.
    }
  }
  // Settings an admin added (timeouts, log level) survive a re-run; the identity keys are ours.
  // Keys the schema does not know, or a value it rejects, would stop the daemon: those go.
  const known = (obj: Record<string, unknown>, shape: Record<string, unknown>) => Object.fromEntries(Object.entries(obj).filter(([k]) => k in shape));
  const consoleShape = (configSchema.shape.console as unknown as { def: { innerType: { shape: Record<string, unknown> } } }).def.innerType.shape;
  const consoleBase = base.console && typeof base.console === 'object' ? known(base.console as Record<string, unknown>, consoleShape) : {};
  const merged = { ...known(base, configSchema.shape), ...ours, console: { ...consoleBase, vt: inputs.vt } };
  return `${JSON.stringify(configSchema.safeParse(merged).success ? merged : ours, null, 2)}\n`;
}

export function pamBlockBody(): string {
  return `session optional pam_exec.so quiet ${PATHS.hook}\n`;
}

export function gitBlockBody(inputs: Inputs): string {
  return `[gpg]\n\tprogram = ${placeholders(inputs).SD_GPG}\n`;
}

export function renderPamHook(inputs: Inputs): string {
  const text = template(inputs.packageRoot, 'provision/pam-hook.sh');
  if (text === null) throw new Error(`sd-provision: provision/pam-hook.sh is missing from ${inputs.packageRoot}`);
  return fill(text, placeholders(inputs), 'provision/pam-hook.sh');
}

/**
 * Root-owned files under /etc and /usr/local. The agent's unit and activation file are included
 * once their templates exist in systemd/.
 */
export function renderSystemFiles(inputs: Inputs, existingConfig: string | null): RenderedFile[] {
  const values = placeholders(inputs);
  const files: RenderedFile[] = [
    { path: PATHS.config, content: renderConfig(inputs, existingConfig), mode: 0o644, owner: 'root', group: 'root', label: 'config' },
    { path: PATHS.policy, content: renderPolicy({ companionUser: inputs.companionUser, desktopUser: inputs.desktopUser }), mode: 0o644, owner: 'root', group: 'root', label: 'system-bus policy' },
  ];
  const units: [string, string, string][] = [
    [TARGET_UNIT, PATHS.systemUnitDir, 'lifecycle target'],
    [DAEMON_UNIT, PATHS.systemUnitDir, 'daemon unit'],
    [CONSOLE_TEMPLATE_UNIT, PATHS.systemUnitDir, 'console unit'],
    [AGENT_UNIT, PATHS.userUnitDir, 'agent user unit'],
  ];
  for (const [name, dir, label] of units) {
    const text = template(inputs.packageRoot, `systemd/${name}`);
    if (text === null) {
      if (name === AGENT_UNIT) continue;
      throw new Error(`sd-provision: systemd/${name} is missing from ${inputs.packageRoot}`);
    }
    files.push({ path: `${dir}/${name}`, content: fill(text, values, `systemd/${name}`), mode: 0o644, owner: 'root', group: 'root', label });
  }
  files.push({ path: PATHS.hook, content: renderPamHook(inputs), mode: 0o755, owner: 'root', group: 'root', label: 'PAM hook' });
  if (inputs.apparmor) {
    const profile = template(inputs.packageRoot, 'provision/apparmor-daemon.profile');
    if (profile === null) throw new Error(`sd-provision: provision/apparmor-daemon.profile is missing from ${inputs.packageRoot}`);
    files.push({ path: PATHS.apparmorProfile, content: fill(profile, values, 'provision/apparmor-daemon.profile'), mode: 0o644, owner: 'root', group: 'root', label: 'AppArmor profile' });
  }
  return files;
}

/** The Secret Service activation file, installed in the desktop user's own data dir. */
export function renderActivationFile(inputs: Inputs): string | null {
  const text = template(inputs.packageRoot, `systemd/${ACTIVATION_FILE}`);
  return text === null ? null : fill(text, placeholders(inputs), `systemd/${ACTIVATION_FILE}`);
}
