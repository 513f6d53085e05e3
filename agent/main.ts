// `secrets-dispatcher agent`: serve the Secret Service API on the desktop session bus and forward
// to the companion daemon on the system bus. argv → session bus → name → objects → wait for SIGTERM.
import { connectBus, disconnectBus, NAME_FLAG, REQUEST_NAME_REPLY, requestName, type Message } from '../core/dbus/bus.js';
import { EXIT, SdError } from '../core/errors.js';
import { createLogger, type LogLevel } from '../core/logger.js';
import { DBUS_NAME, SECRET_SERVICE_BUS_NAME } from '../core/names.js';
import { DaemonLink } from './daemon-link.js';
import { DesktopNotifier } from './notifier.js';
import { SecretService } from './secret-service.js';

const HELP = `Usage: secrets-dispatcher agent [--replace] [--vt N] [--log-level LEVEL]

Serves the freedesktop Secret Service API (org.freedesktop.secrets) on the desktop session bus.
Every secret it hands out is approved on the companion's console first; the agent itself stores
nothing except the in-memory "session" collection.

Options:
  --replace          take org.freedesktop.secrets over from the service that owns it now
  --vt N             the console's virtual terminal, for notifications (default 8)
  --log-level LEVEL  debug, info, notice, warning or error (default info)
  -h, --help         show this help

Environment: DBUS_SESSION_BUS_ADDRESS (the desktop session bus), DBUS_SYSTEM_BUS_ADDRESS (where
the companion daemon is; default the system bus).
`;

interface AgentArgs { replace: boolean; vt: number; logLevel: LogLevel }

function parseArgs(args: string[]): AgentArgs | { help: true } {
  const out: AgentArgs = { replace: false, vt: 8, logLevel: 'info' };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new SdError('InvalidArgs', `${a} needs a value.`);
      return v;
    };
    if (a === '-h' || a === '--help') return { help: true };
    else if (a === '--replace') out.replace = true;
    else if (a === '--vt') {
      const v = value();
      out.vt = Number(v);
      if (!Number.isInteger(out.vt) || out.vt < 1 || out.vt > 63) throw new SdError('InvalidArgs', `--vt takes 1-63, got "${v}".`);
    } else if (a === '--log-level') {
      const v = value();
      if (!['debug', 'info', 'notice', 'warning', 'error'].includes(v)) throw new SdError('InvalidArgs', `--log-level takes debug, info, notice, warning or error, got "${v}".`);
      out.logLevel = v as LogLevel;
    } else throw new SdError('InvalidArgs', `unknown option "${a}" (see --help).`);
  }
  return out;
}

export async function main(args: string[]): Promise<number> {
  let opts: AgentArgs;
  try {
    const parsed = parseArgs(args);
    if ('help' in parsed) {
      process.stdout.write(HELP);
      return EXIT.ok;
    }
    opts = parsed;
  } catch (err) {
    process.stderr.write(`secrets-dispatcher agent: ${(err as Error).message.replace(/^The arguments are not valid\. /, '')}\n`);
    return EXIT.usage;
  }
  const logger = createLogger({ level: opts.logLevel, component: 'agent' });
  // Every request that waits for the human opens its own system-bus connection, and connectBus
  // guards each connect with a process listener: a burst of clients is not a leak.
  process.setMaxListeners(512);

  let bus;
  try {
    bus = await connectBus('session');
  } catch (err) {
    // connectBus reports this as Unavailable, whose catalogue sentence is about the daemon: not this.
    const detail = (err as Error).message.replace(/^The companion daemon is not reachable\..*?--check`\. /, '');
    logger.error(`cannot use the session bus: ${detail} Run the agent inside the desktop session (systemctl --user start secrets-dispatcher-agent).`);
    return EXIT.unavailable;
  }
  const daemon = new DaemonLink(logger.child('daemon'));
  const notifier = new DesktopNotifier(bus, opts.vt, logger.child('notify'));
  const service = new SecretService({ bus, daemon, notifier, logger });
  await service.start();

  const flags = NAME_FLAG.allowReplacement | NAME_FLAG.doNotQueue | (opts.replace ? NAME_FLAG.replaceExisting : 0);
  const reply = await requestName(bus, SECRET_SERVICE_BUS_NAME, flags);
  if (reply !== REQUEST_NAME_REPLY.primaryOwner && reply !== REQUEST_NAME_REPLY.alreadyOwner) {
    logger.error(opts.replace
      ? `${SECRET_SERVICE_BUS_NAME} is taken and its owner does not allow replacement. Stop gnome-keyring's secrets component (e.g. remove "secrets" from gnome-keyring-daemon --components, or systemctl --user mask gnome-keyring-daemon) and start the agent again.`
      : `${SECRET_SERVICE_BUS_NAME} is already taken on this session bus. Run \`secrets-dispatcher agent --replace\`, or stop gnome-keyring's secrets component first.`);
    service.close();
    daemon.close();
    disconnectBus(bus);
    return EXIT.alreadyRunning;
  }
  logger.notice('serving the Secret Service', { name: SECRET_SERVICE_BUS_NAME });

  const code = await new Promise<number>((resolve) => {
    const stop = () => resolve(EXIT.ok);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    // Another agent started with --replace took the name: leave quietly.
    bus.on('message', (msg: Message) => {
      if (msg.sender === DBUS_NAME && msg.member === 'NameLost' && msg.body?.[0] === SECRET_SERVICE_BUS_NAME) {
        logger.notice('org.freedesktop.secrets was taken over by another service; exiting');
        resolve(EXIT.ok);
      }
    });
    bus.on('error', (err: unknown) => {
      logger.error('lost the session bus', { error: (err as Error)?.message });
      resolve(EXIT.unavailable);
    });
  });
  service.close();
  notifier.close();
  daemon.close();
  disconnectBus(bus);
  // A replaced agent must leave even if a client's half-open request still holds a socket.
  setTimeout(() => process.exit(code), 3000).unref();
  return code;
}
