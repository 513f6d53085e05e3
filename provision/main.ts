// sd-provision: argv → inputs → plan → print or apply. Root-only except --check and --dry-run.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { parseCommandLine } from '../core/command-line.js';
import { EXIT } from '../core/errors.js';
import { formatResults, runChecks } from './check.js';
import { findUntrustedCode } from './code-trust.js';
import { execute, systemdIsRunning } from './execute.js';
import { desktopUserForCheck, ProvisionError, resolveInputs, type ProvisionOptions } from './inputs.js';
import { PATHS, TARGET_UNIT } from './layout.js';
import { describe, planInstall, planUninstall } from './plan.js';
import { createLiveProbes } from './probes.js';
import { findPackageRoot } from './render.js';
import { readRoot } from './state.js';

interface Argv {
  user?: string;
  companion?: string;
  vt?: number;
  git: boolean;
  dryRun: boolean;
  prefix?: string;
  check: boolean;
  json: boolean;
  uninstall: boolean;
  keepData: boolean;
}

// yargs wraps a multi-line usage text as one paragraph, so only the first line goes through it.
const USAGE = 'Usage: sd-provision [--user NAME] [--companion NAME] [--vt 8] [--git] [--dry-run]';
const ABOUT = `       sd-provision --check [--user NAME] [--json]
       sd-provision --uninstall [--keep-data]

Installs Secrets Dispatcher for one desktop user (default: $SUDO_USER): the companion user, the
system-bus policy, the systemd units, the PAM session hook and the config. Run it again at any
time: it changes only what differs. --check says what is wrong and how to fix it; exit status 1
when anything FAILs. It checks the installed user (else $SUDO_USER, else you when not root).`;

const OPTIONS = {
  user: { type: 'string', describe: 'desktop user whose secrets are guarded (default: $SUDO_USER)' },
  companion: { type: 'string', describe: 'companion user that holds them (default: secrets-<user>)' },
  vt: { type: 'number', describe: 'virtual console of the approval console (default: 8)' },
  git: { type: 'boolean', default: false, describe: "set the desktop user's git gpg.program to sd-gpg" },
  'dry-run': { type: 'boolean', default: false, describe: 'print the plan and change nothing' },
  prefix: { type: 'string', describe: 'apply to this directory as the root instead of / (tests)' },
  check: { type: 'boolean', default: false, describe: 'report each component as PASS, FAIL (with its fix) or SKIP' },
  json: { type: 'boolean', default: false, describe: 'with --check: machine-readable output' },
  uninstall: { type: 'boolean', default: false, describe: 'remove everything sd-provision added' },
  'keep-data': { type: 'boolean', default: false, describe: 'with --uninstall: keep the companion user and its store' },
} as const;

export async function main(args: string[]): Promise<number> {
  const parsed = await parseCommandLine<Argv>(args, { command: 'sd-provision', usage: USAGE, options: OPTIONS as never });
  if (parsed.kind === 'help') {
    process.stdout.write(`${parsed.text.replace(USAGE, `${USAGE}\n${ABOUT}`)}\n`);
    return EXIT.ok;
  }
  if (parsed.kind === 'usage') {
    process.stderr.write(`sd-provision: ${parsed.message}\n`);
    return EXIT.usage;
  }
  try {
    return await run(parsed.argv);
  } catch (err) {
    if (err instanceof ProvisionError) {
      process.stderr.write(`${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}

function commandFor(argv: Argv, inputs: { desktopUser: string; companionUser: string; vt: number }, packageRoot: string): string {
  const parts = [join(packageRoot, 'bin', 'sd-provision'), '--user', inputs.desktopUser];
  if (argv.companion) parts.push('--companion', inputs.companionUser);
  if (inputs.vt !== 8) parts.push('--vt', String(inputs.vt));
  if (argv.prefix) parts.push('--prefix', argv.prefix);
  return parts.join(' ');
}

async function run(argv: Argv): Promise<number> {
  if (argv.json && !argv.check) throw new ProvisionError('sd-provision: --json goes with --check.', EXIT.usage);
  if (argv.keepData && !argv.uninstall) throw new ProvisionError('sd-provision: --keep-data goes with --uninstall.', EXIT.usage);
  if ([argv.check, argv.uninstall].filter(Boolean).length > 1) throw new ProvisionError('sd-provision: choose one of --check and --uninstall.', EXIT.usage);
  const root = argv.prefix ?? '/';
  if (argv.prefix !== undefined && (!argv.prefix.startsWith('/') || !existsSync(argv.prefix) || !statSync(argv.prefix).isDirectory())) {
    throw new ProvisionError(`sd-provision: --prefix ${JSON.stringify(argv.prefix)} must be an existing directory given as an absolute path.`, EXIT.usage);
  }
  const isRoot = process.getuid?.() === 0;
  if (!isRoot && !argv.check && !argv.dryRun) {
    throw new ProvisionError('sd-provision: needs root to create users and write /etc. Run: sudo sd-provision (or --dry-run to see the plan).', EXIT.failure);
  }
  const view = readRoot(root);
  const installedConfig = view.read(PATHS.config);
  const installed = parseInstalled(installedConfig);
  const packageRoot = findPackageRoot();
  const options: ProvisionOptions = {
    ...(argv.companion !== undefined ? { companion: argv.companion } : {}),
    ...(argv.vt !== undefined ? { vt: argv.vt } : {}),
    git: argv.git,
    packageRoot,
  };

  if (argv.check) {
    // An installed config names the users; --user/--companion/--vt override it.
    const inputs = resolveInputs(view, {
      ...options,
      user: desktopUserForCheck({ user: argv.user, installed: installed.desktopUser, sudoUser: process.env.SUDO_USER, runningAs: { uid: process.getuid?.() ?? 0, name: userInfo().username } }),
      ...(argv.companion === undefined && installed.companionUser ? { companion: installed.companionUser } : {}),
      ...(argv.vt === undefined && installed.vt ? { vt: installed.vt } : {}),
    });
    const results = await runChecks({ view, inputs, probes: createLiveProbes(), provisionCommand: commandFor(argv, inputs, packageRoot), live: root === '/' });
    const ok = results.every((r) => r.status !== 'FAIL');
    process.stdout.write(argv.json ? `${JSON.stringify({ ok, desktopUser: inputs.desktopUser, companionUser: inputs.companionUser, results }, null, 2)}\n` : formatResults(results));
    return ok ? EXIT.ok : EXIT.failure;
  }

  if (argv.uninstall) {
    const actions = planUninstall(view, {
      desktopUser: argv.user ?? installed.desktopUser ?? process.env.SUDO_USER,
      companionUser: argv.companion ?? installed.companionUser,
      vt: argv.vt ?? installed.vt ?? 8,
      keepData: argv.keepData,
    });
    return apply(actions, argv, root, 'Nothing of Secrets Dispatcher is installed here.');
  }

  const inputs = resolveInputs(view, { ...options, user: argv.user ?? process.env.SUDO_USER ?? installed.desktopUser });
  // The units would point at this code (and at this node) and run it as root and as the companion.
  const unsafe = findUntrustedCode(inputs.packageRoot, inputs.node);
  if (unsafe) throw new ProvisionError(`sd-provision: refusing to install: ${unsafe.why}.\nFix: ${unsafe.fix}`);
  const actions = planInstall(view, inputs);
  const noAppArmor = inputs.apparmor ? '' : '\nNote: AppArmor does not confine processes here, so the daemon gets no CAP_SYS_PTRACE: the console cannot verify which program asks (see --check, apparmor).';
  const code = apply(actions, argv, root, 'Nothing to change: everything is installed as rendered.', `Next: ${commandFor(argv, inputs, packageRoot)} --check${noAppArmor}`);
  if (actions.length && !argv.dryRun && root === '/') startForCurrentSession(inputs.desktopUser, inputs.desktopUid);
  return code;
}

/** The PAM hook starts the companion at the next login; a user installing from a session wants it now. */
function startForCurrentSession(user: string, uid: number): void {
  if (!systemdIsRunning() || !existsSync(`/run/user/${uid}`)) return;
  const r = spawnSync('systemctl', ['start', '--no-block', TARGET_UNIT], { encoding: 'utf8', timeout: 10_000 });
  process.stdout.write(r.status === 0
    ? `Started the companion for ${user}'s current session (systemctl start --no-block ${TARGET_UNIT}).\n`
    : `Could not start ${TARGET_UNIT} now (${(r.stderr ?? '').trim()}); it starts at ${user}'s next login.\n`);
}

function apply(actions: ReturnType<typeof planInstall>, argv: Argv, root: string, nothing: string, next?: string): number {
  if (actions.length === 0) {
    process.stdout.write(`${nothing}\n`);
    return EXIT.ok;
  }
  if (argv.dryRun) {
    process.stdout.write(`Would (${actions.length} steps${root === '/' ? '' : `, root ${root}`}):\n${actions.map((a) => `  ${describe(a)}\n`).join('')}`);
    return EXIT.ok;
  }
  execute(actions, { root, report: (line) => process.stdout.write(`  ${line}\n`) });
  process.stdout.write(`Done (${actions.length} steps).${next ? ` ${next}` : ''}\n`);
  return EXIT.ok;
}

function parseInstalled(text: string | null): { desktopUser?: string; companionUser?: string; vt?: number } {
  if (text === null) return {};
  try {
    const c = JSON.parse(text) as { desktopUser?: unknown; companionUser?: unknown; console?: { vt?: unknown } };
    return {
      ...(typeof c.desktopUser === 'string' ? { desktopUser: c.desktopUser } : {}),
      ...(typeof c.companionUser === 'string' ? { companionUser: c.companionUser } : {}),
      ...(typeof c.console?.vt === 'number' ? { vt: c.console.vt } : {}),
    };
  } catch {
    return {};
  }
}
