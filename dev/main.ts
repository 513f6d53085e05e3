// `secrets-dispatcher dev` (= `npm start`): the whole system in this terminal, no root. argv →
// directories → components (dev/components.ts) in order → env file → wait for the console to end
// or SIGTERM/SIGINT → stop everything started, in reverse, by PID.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { homedir, tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandLine } from '../core/command-line.js';
import { EXIT } from '../core/errors.js';
import { acquireStateLock, StateDirInUse, type StateLock } from '../core/state-lock.js';
import { COMPONENTS, type DevContext, type Running } from './components.js';

/** Held in the dev state directory by the one sandbox using it (core/state-lock.ts). */
const DEV_LOCK_FILE = 'dev.lock';

interface DevArgs { state?: string; passphraseFile?: string; envFile?: string }

// One paragraph per line: yargs wraps it to the terminal.
const USAGE = `$0 [--state DIR] [--passphrase-file FILE] [--env-file FILE]

The whole system in this terminal, without root: a private system bus loaded with the real policy (you as both the companion and the desktop user), the companion daemon, and the approval console here. Ctrl+C in the console (or SIGTERM) stops everything it started. Another terminal uses it with \`. ENV_FILE\` (DBUS_SYSTEM_BUS_ADDRESS and whatever else a client needs).`;

function defaultStateDir(): string {
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'secrets-dispatcher-dev');
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function renderEnvFile(env: Record<string, string>): string {
  return `# Written by secrets-dispatcher dev; source it: . ${'<this file>'}\n${Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`).join('\n')}\n`;
}

/** Removes the env file only if it still holds what this run wrote (another sandbox may have replaced it). */
function removeIfOurs(path: string, written: string): void {
  let current: string;
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    return;
  }
  if (current === written) rmSync(path, { force: true });
}

export async function main(args: string[]): Promise<number> {
  const parsed = await parseCommandLine<DevArgs>(args, {
    command: 'secrets-dispatcher dev',
    usage: USAGE,
    options: {
      state: { type: 'string', describe: `dev state directory: store, audit log, daemon log (default ${defaultStateDir()})` },
      'passphrase-file': { type: 'string', describe: 'dev only: create or unlock the store with the passphrase in this file, no prompt' },
      'env-file': { type: 'string', describe: 'write shell `export` lines for clients here once everything is ready (default: env in the state directory)' },
    },
  });
  if (parsed.kind === 'help') {
    process.stdout.write(`${parsed.text}\n`);
    return EXIT.ok;
  }
  if (parsed.kind === 'usage') {
    process.stderr.write(`secrets-dispatcher dev: ${parsed.message} (see --help)\n`);
    return EXIT.usage;
  }
  if (!process.stdin.isTTY) {
    process.stderr.write('secrets-dispatcher dev: the console needs a terminal; run it in one\n');
    return EXIT.usage;
  }
  const stateDir = resolve(parsed.argv.state ?? defaultStateDir());
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  // One sandbox per state directory, checked before anything is started or written.
  let stateLock: StateLock;
  try {
    stateLock = acquireStateLock(stateDir, DEV_LOCK_FILE);
  } catch (err) {
    if (!(err instanceof StateDirInUse)) throw err;
    const holder = err.holderPid === null ? 'another process' : `pid ${err.holderPid}`;
    process.stderr.write(`secrets-dispatcher dev: another sandbox is running on ${stateDir} (${holder}); stop it first, or pass another --state\n`);
    return EXIT.alreadyRunning;
  }
  const runDir = mkdtempSync(join(tmpdir(), 'sd-dev-'));
  // Always written (default: beside the state) so a second terminal can find the sandbox without flags.
  const envFile: string | null = resolve(parsed.argv.envFile ?? join(stateDir, 'env'));
  const say = (line: string) => process.stdout.write(`secrets-dispatcher dev: ${line}\n`);
  const ctx: DevContext = {
    root: join(dirname(fileURLToPath(import.meta.url)), '..', '..'),
    runDir, stateDir, user: userInfo().username, env: {},
    passphraseFile: parsed.argv.passphraseFile ? resolve(parsed.argv.passphraseFile) : null,
    say,
  };
  say(`state in ${stateDir}`);
  if (envFile) say(`env file ${envFile} is written once everything is ready`);

  const started: Running[] = [];
  /** What this run wrote to the env file, if it got that far. */
  let envText: string | null = null;
  let code: number = EXIT.ok;
  let stopRequested = false;
  let wake: () => void = () => undefined;
  const stopSignal = new Promise<void>((r) => { wake = r; });
  const onSignal = () => { stopRequested = true; wake(); };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    for (const component of COMPONENTS) {
      if (stopRequested) break;
      started.push(await component.start(ctx));
    }
    if (!stopRequested) {
      if (envFile) {
        const tmp = `${envFile}.tmp-${process.pid}`;
        envText = renderEnvFile(ctx.env);
        writeFileSync(tmp, envText, { mode: 0o600 });
        renameSync(tmp, envFile);
      }
      // Whichever ends first: a signal, or any part (the console on Ctrl+C, or a crash).
      await Promise.race([stopSignal, ...started.map((r) => r.exited)]);
    }
  } catch (err) {
    process.stderr.write(`secrets-dispatcher dev: ${(err as Error).message}\n`);
    code = EXIT.failure;
  } finally {
    for (const running of [...started].reverse()) await running.stop();
    rmSync(runDir, { recursive: true, force: true });
    if (envFile && envText !== null) removeIfOurs(envFile, envText);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGHUP', onSignal);
    stateLock.release();
  }
  say(`stopped ${started.filter((r) => r.pid !== null).map((r) => `${r.name} (pid ${r.pid})`).join(', ') || 'nothing'}`);
  return code;
}
