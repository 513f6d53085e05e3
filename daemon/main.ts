// `secrets-dispatcher daemon`: argv → config → bus → daemon → wait for SIGTERM.
import { existsSync, readFileSync } from 'node:fs';
import { parseSimpleCommandLine } from '../core/command-line.js';
import { DEFAULT_POLICY_DIR, loadAdminRules, type LoadedAdminRule } from '../core/admin-rules.js';
import { DEFAULT_CONFIG_PATH, parseConfig, type Config } from '../core/config.js';
import { connectBus, disconnectBus } from '../core/dbus/bus.js';
import { EXIT, isSdError, SdError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { forbidCoreDumps } from '../core/process-guard.js';
import { IdleCollector, idleGarbageCollection } from './idle-collector.js';
import { createNotifier } from './notify.js';
import { createSigningMethods } from './signing/methods.js';
import { clockFromEnvironment, TEST_CLOCK_ENV } from './test-clock.js';
import { AlreadyRunningError, startDaemon } from './server.js';
import { UserTable } from './users.js';

interface DaemonArgs { config?: string; stateDir?: string; desktopUser?: string; companionUser?: string; policyDir?: string }

const USAGE = `$0 [options]

Run the companion daemon as the companion user: it owns net.mowaka.SecretsDispatcher1 on the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured) and keeps the encrypted store, the approval queue and the audit log. Options override the config file's keys.`;

function loadConfig(args: DaemonArgs): Config {
  const path = args.config ?? DEFAULT_CONFIG_PATH;
  let fromFile: Record<string, unknown> = {};
  if (args.config !== undefined || existsSync(path)) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new SdError('Config', `${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`);
    }
    try {
      fromFile = JSON.parse(text);
    } catch (err) {
      throw new SdError('Config', `${path}: not valid JSON (${(err as Error).message}).`);
    }
  }
  const merged = { ...fromFile };
  if (args.desktopUser !== undefined) merged.desktopUser = args.desktopUser;
  if (args.companionUser !== undefined) merged.companionUser = args.companionUser;
  if (args.stateDir !== undefined) merged.stateDir = args.stateDir;
  const config = parseConfig(merged, existsSync(path) ? path : 'command line');
  // Checked before touching the bus so a typo in a user name is a config error, not a bus error.
  const users = new UserTable();
  for (const key of ['desktopUser', 'companionUser'] as const) {
    if (!users.byUserName(config[key])) throw new SdError('Config', `${existsSync(path) ? path : 'command line'}: key "${key}" has bad value ${JSON.stringify(config[key])}: no such user on this system.`);
  }
  return config;
}

export async function main(args: string[]): Promise<number> {
  const parsed = parseSimpleCommandLine<DaemonArgs>(args, {
    command: 'secrets-dispatcher daemon',
    usage: USAGE,
    options: {
      config: { type: 'string', describe: `JSON config file (default ${DEFAULT_CONFIG_PATH}; may be absent if the options give the required keys)` },
      'state-dir': { type: 'string', describe: 'where the store and the audit log live (config key stateDir)' },
      'desktop-user': { type: 'string', describe: 'the desktop user whose requests are served (desktopUser)' },
      'companion-user': { type: 'string', describe: 'the companion user, who may use the console interface (companionUser)' },
      'policy-dir': { type: 'string', describe: `root's admin rules, *.json, read once at start (default ${DEFAULT_POLICY_DIR}, which may be absent)` },
    },
  });
  if (parsed.kind === 'help') {
    process.stdout.write(`${parsed.text}\n`);
    return EXIT.ok;
  }
  if (parsed.kind === 'usage') {
    process.stderr.write(`secrets-dispatcher daemon: ${parsed.message} (see --help)\n`);
    return EXIT.usage;
  }

  // Before the store's key or any request exists in memory.
  try {
    forbidCoreDumps();
  } catch (err) {
    process.stderr.write(`secrets-dispatcher daemon: ${(err as Error).message}\n`);
    return EXIT.failure;
  }
  let config: Config;
  let adminRules: LoadedAdminRule[];
  let clock;
  try {
    config = loadConfig(parsed.argv);
    clock = clockFromEnvironment(process.env);
    // Read once: a changed file takes effect when the daemon restarts. A bad one stops it here
    // (exit 78), and the unit's RestartPreventExitStatus=78 keeps systemd from retrying.
    const policyDir = parsed.argv.policyDir ?? DEFAULT_POLICY_DIR;
    adminRules = loadAdminRules(policyDir, { mayBeAbsent: parsed.argv.policyDir === undefined });
  } catch (err) {
    process.stderr.write(`secrets-dispatcher daemon: ${(err as Error).message}\n`);
    return EXIT.config;
  }
  const logger = createLogger({ level: config.logLevel, component: 'daemon' });
  const notifier = createNotifier(logger);
  // Handlers go in before anything else: a SIGTERM during start-up still ends in a clean stop.
  const stopRequested = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });

  let bus;
  try {
    bus = await connectBus('system');
  } catch (err) {
    logger.error((err as Error).message);
    return EXIT.unavailable;
  }
  // Frees what a burst of requests left behind once the calls stop (idle-collector.ts).
  const idle = new IdleCollector(idleGarbageCollection(logger.child('memory')));
  let daemon;
  try {
    if (process.env[TEST_CLOCK_ENV]) logger.warning('running on a test clock moved by a file', { env: TEST_CLOCK_ENV });
    daemon = await startDaemon({ config, bus, logger, adminRules, clock, extraMethods: createSigningMethods, onActivity: () => idle.activity() });
  } catch (err) {
    disconnectBus(bus);
    if (err instanceof AlreadyRunningError) {
      logger.error(err.message);
      return EXIT.alreadyRunning;
    }
    if (isSdError(err, 'Config')) {
      logger.error(err.message);
      return EXIT.config;
    }
    logger.error('cannot start', { error: (err as Error).message });
    return EXIT.failure;
  }
  notifier.ready();
  // Start-up (module loading, opening the store) is a burst too.
  idle.activity();
  // Operators (and bench/daemon-bench.ts) can ask where the memory is without a debugger.
  process.on('SIGUSR2', () => {
    const m = process.memoryUsage();
    const mib = (n: number) => `${(n / 1048576).toFixed(1)}MiB`;
    logger.notice('memory', { rss: mib(m.rss), heapTotal: mib(m.heapTotal), heapUsed: mib(m.heapUsed), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers) });
  });
  if (adminRules.length) logger.notice('admin rules', { count: adminRules.length, files: [...new Set(adminRules.map((r) => r.file))].join(' ') });
  logger.notice('ready', { name: 'net.mowaka.SecretsDispatcher1', stateDir: config.stateDir, desktopUser: config.desktopUser, adminRules: adminRules.length });

  const busLost = 'bus connection lost';
  const reason = await Promise.race([stopRequested, new Promise<string>((resolve) => bus.once('error', () => resolve(busLost)))]);
  logger.notice('stopping', { signal: reason });
  notifier.stopping();
  idle.stop();
  await daemon.stop();
  notifier.close();
  disconnectBus(bus);
  // Losing the bus is a failure, so the service manager restarts us.
  return reason === busLost ? EXIT.unavailable : EXIT.ok;
}
