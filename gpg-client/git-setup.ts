// `secrets-dispatcher git setup [--global|--local]`: point git's gpg.program at sd-gpg (by
// absolute path, so it works from any shell and from IDEs without our bin/ on PATH), offer
// user.signingkey from the keys the companion holds, and say exactly what changed.
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandLine } from '../core/command-line.js';
import { callMethod, connectBus, disconnectBus } from '../core/dbus/bus.js';
import { EXIT } from '../core/errors.js';
import { DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH, REQUEST_INTERFACE } from '../core/names.js';

const USAGE = `$0 <command> [options]

Commands:
  setup [--global|--local] [--signing-key KEY]
      Set git's gpg.program to sd-gpg so that \`git commit -S\` and \`git tag -s\` are signed by the
      companion after approval on the console. --global (the default) writes ~/.gitconfig, --local
      this repository's .git/config. With --signing-key, or when the companion holds exactly one key
      and user.signingkey is unset, user.signingkey is set too.`;

const OPTIONS = {
  global: { type: 'boolean', describe: 'write ~/.gitconfig (default)', conflicts: 'local' },
  local: { type: 'boolean', describe: 'write this repository\'s .git/config' },
  'signing-key': { type: 'string', describe: 'also set user.signingkey to this key (fingerprint or key id)' },
} as const;

interface SetupArgs { _: (string | number)[]; global?: boolean; local?: boolean; signingKey?: string }

/** bin/sd-gpg of this installation (dist/gpg-client/git-setup.js → ../../bin/sd-gpg). */
export function sdGpgPath(): string {
  const path = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'sd-gpg');
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function gitConfigGet(scope: string, key: string): string | null {
  try {
    return execFileSync('git', ['config', scope, '--get', key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function gitConfigSet(scope: string, key: string, value: string): void {
  execFileSync('git', ['config', scope, key, value], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The only stored key's fingerprint, or null when there are none, several, or no daemon. */
async function onlyStoredKey(): Promise<string | null> {
  let bus;
  try {
    bus = await connectBus('system');
  } catch {
    return null;
  }
  try {
    const [keys] = await callMethod(bus, { destination: DISPATCHER_BUS_NAME, path: DISPATCHER_OBJECT_PATH, interface: REQUEST_INTERFACE, member: 'ListKeys', timeoutMs: 5000 });
    return (keys as string[][]).length === 1 ? keys[0][0] : null;
  } catch {
    return null;
  } finally {
    disconnectBus(bus);
  }
}

/** The help text, as --help prints it: the usage, the subcommands and the options. */
async function helpText(): Promise<string> {
  const parsed = await parseCommandLine(['--help'], { command: 'secrets-dispatcher git', usage: USAGE, options: OPTIONS });
  return parsed.kind === 'help' ? parsed.text : USAGE.replace('$0', 'secrets-dispatcher git');
}

export async function main(args: string[]): Promise<number> {
  // Without a subcommand, or with one we do not have, the person needs the list of subcommands,
  // not yargs' "missing setup".
  const first = args.find((a, i) => !a.startsWith('-') && args[i - 1] !== '--signing-key');
  if (!args.includes('--help') && !args.includes('-h') && first !== 'setup') {
    process.stderr.write(`${first === undefined ? '' : `secrets-dispatcher git: unknown command "${first}"\n\n`}${await helpText()}\n`);
    return EXIT.usage;
  }
  const parsed = await parseCommandLine<SetupArgs>(args, {
    command: 'secrets-dispatcher git',
    usage: USAGE,
    options: OPTIONS,
    positional: { name: 'setup', describe: 'the only subcommand', demand: true },
  });
  if (parsed.kind === 'help') {
    process.stdout.write(`${parsed.text}\n`);
    return EXIT.ok;
  }
  if (parsed.kind === 'usage') {
    process.stderr.write(`secrets-dispatcher git: ${parsed.message} (see --help)\n`);
    return EXIT.usage;
  }
  const positional = parsed.argv._.map(String);
  if (positional.length !== 1 || positional[0] !== 'setup') {
    process.stderr.write('secrets-dispatcher git: usage: secrets-dispatcher git setup [--global|--local] [--signing-key KEY] (see --help)\n');
    return EXIT.usage;
  }
  const scope = parsed.argv.local ? '--local' : '--global';
  const changes: string[] = [];
  try {
    const program = sdGpgPath();
    const before = gitConfigGet(scope, 'gpg.program');
    if (before !== program) {
      gitConfigSet(scope, 'gpg.program', program);
      changes.push(`gpg.program: ${before ?? '(unset)'} -> ${program}`);
    }
    const currentKey = gitConfigGet(scope, 'user.signingkey');
    const wantedKey = parsed.argv.signingKey ?? (currentKey ? null : await onlyStoredKey());
    if (wantedKey && wantedKey !== currentKey) {
      gitConfigSet(scope, 'user.signingkey', wantedKey);
      changes.push(`user.signingkey: ${currentKey ?? '(unset)'} -> ${wantedKey}`);
    }
  } catch (err) {
    const detail = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
    process.stderr.write(`secrets-dispatcher git: git config ${scope} failed: ${detail.split('\n')[0]}\n`);
    return EXIT.failure;
  }
  const where = scope === '--local' ? 'this repository (.git/config)' : 'your global git config (~/.gitconfig)';
  if (changes.length === 0) process.stdout.write(`Nothing to change in ${where}: gpg.program is already sd-gpg.\n`);
  else process.stdout.write(`Changed in ${where}:\n${changes.map((c) => `  ${c}\n`).join('')}`);
  if (!gitConfigGet(scope, 'user.signingkey')) {
    process.stdout.write('user.signingkey is not set: git will ask for the key matching your committer email. To choose one: secrets-dispatcher gpg list, then git config user.signingkey FINGERPRINT.\n');
  }
  process.stdout.write('Sign with: git commit -S (or git config commit.gpgsign true)\n');
  return EXIT.ok;
}
