// `secrets-dispatcher tui`: argv → config → console app → run until SIGTERM/SIGINT/Ctrl+C.
import { existsSync, readFileSync } from 'node:fs';
import { parseCommandLine } from '../core/command-line.js';
import { configSchema, DEFAULT_CONFIG_PATH, parseConfigText } from '../core/config.js';
import { EXIT } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { forbidCoreDumps } from '../core/process-guard.js';
import { startConsoleApp } from './app.js';
import { resetVt } from './vt.js';

interface TuiArgs { tty?: string; config?: string; resetVt?: boolean }

// One paragraph per line: yargs wraps it to the terminal.
const USAGE = `$0 [--tty [/dev/ttyN]] [--config FILE]

Run the approval console: shows every pending request from the companion daemon (system bus, DBUS_SYSTEM_BUS_ADDRESS honoured) and sends the human's decisions. Without --tty it runs in this terminal; with --tty it takes over that virtual console (bare --tty: the configured VT, default 8).`;

type ConsoleConfig = ReturnType<typeof configSchema.shape.console.parse>;

function loadConsoleConfig(path: string | undefined): ConsoleConfig {
  const file = path ?? DEFAULT_CONFIG_PATH;
  if (path === undefined && !existsSync(file)) return configSchema.shape.console.parse({});
  return parseConfigText(readFileSync(file, 'utf8'), file).console;
}

export async function main(args: string[]): Promise<number> {
  const parsed = await parseCommandLine<TuiArgs>(args, {
    command: 'secrets-dispatcher tui',
    usage: USAGE,
    options: {
      tty: { type: 'string', describe: 'terminal device to take over, e.g. /dev/tty8 (bare: the configured VT)' },
      config: { type: 'string', describe: `JSON config file (default ${DEFAULT_CONFIG_PATH}, optional); uses its "console" keys` },
      'reset-vt': { type: 'boolean', describe: 'only set the --tty VT back to VT_AUTO and exit (for the unit\'s ExecStopPost=)' },
    },
  });
  if (parsed.kind === 'help') {
    process.stdout.write(`${parsed.text}\n`);
    return EXIT.ok;
  }
  if (parsed.kind === 'usage') {
    process.stderr.write(`secrets-dispatcher tui: ${parsed.message} (see --help)\n`);
    return EXIT.usage;
  }
  // Before a passphrase is typed or a request is shown.
  try {
    forbidCoreDumps();
  } catch (err) {
    process.stderr.write(`secrets-dispatcher tui: ${(err as Error).message}\n`);
    return EXIT.failure;
  }
  let config: ConsoleConfig;
  try {
    config = loadConsoleConfig(parsed.argv.config);
  } catch (err) {
    process.stderr.write(`secrets-dispatcher tui: ${(err as Error).message}\n`);
    return EXIT.config;
  }
  const ttyPath = parsed.argv.tty === undefined ? undefined : parsed.argv.tty || `/dev/tty${config.vt}`;

  if (parsed.argv.resetVt) {
    if (!ttyPath) {
      process.stderr.write('secrets-dispatcher tui: --reset-vt needs --tty /dev/ttyN\n');
      return EXIT.usage;
    }
    try {
      resetVt(ttyPath);
      return EXIT.ok;
    } catch (err) {
      process.stderr.write(`secrets-dispatcher tui: cannot reset ${ttyPath}: ${(err as Error).message}\n`);
      return EXIT.failure;
    }
  }
  if (!ttyPath && !process.stdin.isTTY) {
    process.stderr.write('secrets-dispatcher tui: stdin is not a terminal; run it in a terminal or pass --tty /dev/ttyN\n');
    return EXIT.usage;
  }

  // On a VT, stderr is the journal; in this terminal it is the screen, so stay quiet there.
  const logger = createLogger({ component: 'tui', write: ttyPath ? undefined : () => undefined });
  let app;
  try {
    app = await startConsoleApp({ guardMs: config.guardMs, ttyPath, switchToVt: config.switchToVt, logger });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const advice = e.code === 'EACCES' ? ` (run as the companion user with access to ${ttyPath}, or as root)` : e.code === 'ENOENT' ? ' (no such terminal)' : '';
    process.stderr.write(`secrets-dispatcher tui: cannot start: ${e.message}${advice}\n`);
    return EXIT.failure;
  }
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
    process.once('SIGHUP', () => resolve());
    void app.quit.then(() => resolve());
  });
  await app.stop();
  return EXIT.ok;
}
