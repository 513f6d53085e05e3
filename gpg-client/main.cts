// sd-gpg: git's gpg.program. A detached-signature request (what git sends for commits, tags and
// push certificates) becomes one Sign call to the companion daemon, which asks the human on VT8;
// every other gpg command line runs the real gpg unchanged. Start-up cost is paid on every signed
// commit, so this loads only node:net, node:fs and our own small modules (node:child_process only
// when a child is needed).
import { accessSync, closeSync, constants, fstatSync, openSync, readlinkSync, readSync, realpathSync, statSync, writeSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { parseGpgArgs, type SignRequest } from './args.cjs';
import { childProcess, commitTreeAndParent, filesFacts, repositoryFacts } from './context.cjs';
import { LeanBus, LeanBusError, LeanBusUnavailable, type OutVariant } from './lean-bus.cjs';

// Spelled out rather than imported from core/: core/errors.js and core/limits.js are tiny, but each
// ESM module costs start-up time on every commit. A unit test checks these match core/.
const BUS_NAME = 'net.mowaka.SecretsDispatcher1';
const OBJECT_PATH = '/net/mowaka/SecretsDispatcher1';
export const SIGN_PAYLOAD_LIMIT = 8 * 1024 * 1024;
const ERROR_PREFIX = `${BUS_NAME}.Error.`;
const DEFAULT_DEADLINE_SECONDS = 300;
/** Past the daemon's own deadline: it answers Timeout itself; this only guards against a hung daemon. */
const DEADLINE_MARGIN_MS = 15_000;
/** How long a Sign may take before sd-gpg asks the daemon for its configured deadline. */
const STATUS_AFTER_MS = 1000;
const SYSTEM_BUS_DEFAULT = 'unix:path=/var/run/dbus/system_bus_socket';
const ADVICE = 'is the companion running? run `sd-provision --check`';

export const SD_GPG_EXIT = { signed: 0, refused: 1, unreachable: 2, usage: 64 } as const;

const HELP = `Usage: sd-gpg [gpg options]

git's gpg.program for Secrets Dispatcher. Detached signatures of stdin (what git asks for:
--status-fd=N -bsau KEY) are made by the companion daemon after you approve them on the console
(Ctrl+Alt+F8; in the dev sandbox, the sandbox's terminal). Every other command line (--verify,
--list-keys, --version, ...) runs the real gpg.

Exit: 0 signed, 1 denied / timed out / failed, 2 daemon unreachable, 64 unsupported signing options.
Set up: secrets-dispatcher git setup [--global|--local]
`;

function say(line: string): void {
  try {
    writeSync(2, `sd-gpg: ${line.replace(/[\r\n]+/g, ' ')}\n`);
  } catch {
    // stderr gone: nothing left to tell
  }
}

/**
 * git before 2.40 swallows gpg's stderr on failure (it keeps it only to look for SIG_CREATED), so
 * the user would see "gpg failed to sign the data" and never why. Then the reason also goes to
 * git's own stderr. Runs only on the failure path, so its cost does not matter.
 */
function tellOldGit(line: string): void {
  try {
    const parentExe = readlinkSync(`/proc/${process.ppid}/exe`);
    if (!/\/git$/.test(parentExe)) return;
    const ours = fstatSync(2);
    const gits = statSync(`/proc/${process.ppid}/fd/2`);
    if (ours.dev === gits.dev && ours.ino === gits.ino) return;
    // A regular file opened anew has its own offset, and git's next write would overwrite ours.
    if (!gits.isFIFO() && !gits.isCharacterDevice() && !gits.isSocket()) return;
    const version = /git version (\d+)\.(\d+)/.exec(childProcess().execFileSync(parentExe, ['version'], { encoding: 'utf8', timeout: 2000 }));
    if (!version || Number(version[1]) > 2 || (Number(version[1]) === 2 && Number(version[2]) >= 40)) return;
    const fd = openSync(`/proc/${process.ppid}/fd/2`, constants.O_WRONLY | constants.O_APPEND | constants.O_NOCTTY);
    try {
      writeSync(fd, `sd-gpg: ${line.replace(/[\r\n]+/g, ' ')}\n`);
    } finally {
      closeSync(fd);
    }
  } catch {
    // not under git, or its stderr is not ours to open: our own stderr has the reason already
  }
}

/** The real gpg on PATH, skipping any entry that is this program (e.g. sd-gpg installed as "gpg"). */
export function findRealGpg(self: string[], path = process.env.PATH ?? ''): string | null {
  const selves = new Set(self.map((p) => {
    try {
      return realpathSync(p);
    } catch {
      return p;
    }
  }));
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'gpg');
    try {
      accessSync(candidate, constants.X_OK);
      const real = realpathSync(candidate);
      if (selves.has(real) || /\/sd-gpg(\.cjs)?$/.test(real)) continue;
      return candidate;
    } catch {
      continue;
    }
  }
  return null;
}

function runRealGpg(args: string[], self: string[]): Promise<number> {
  const gpg = findRealGpg(self);
  if (!gpg) {
    say('no real gpg found on PATH (apt install gnupg)');
    return Promise.resolve(SD_GPG_EXIT.unreachable);
  }
  return new Promise((resolve) => {
    // The terminal's Ctrl+C reaches gpg directly (same process group); we only report how it ended.
    const ignore = () => undefined;
    for (const sig of ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, ignore);
    const child = childProcess().spawn(gpg, args, { stdio: 'inherit', argv0: 'gpg' });
    child.on('error', (err) => {
      say(`cannot run ${gpg}: ${err.message}`);
      resolve(SD_GPG_EXIT.unreachable);
    });
    child.on('exit', (code, signal) => {
      if (signal) {
        for (const sig of ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP'] as const) process.removeListener(sig, ignore);
        process.kill(process.pid, signal);
      }
      resolve(code ?? 1);
    });
  });
}

/**
 * The payload, read synchronously: the async fs.read would start libuv's thread pool, which costs
 * more CPU than the whole read. A non-blocking stdin (EAGAIN) is waited for politely.
 */
async function readStdin(limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.allocUnsafe(64 * 1024);
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      await new Promise((r) => setTimeout(r, 5));
      continue;
    }
    if (n === 0) return Buffer.concat(chunks, total);
    total += n;
    if (total > limit) throw new Error(`the data to sign is larger than ${limit} bytes`);
    chunks.push(buf.subarray(0, n));
  }
}

/** Binary OpenPGP from armor, for callers that did not pass --armor (git always does). */
export function dearmor(armored: string): Buffer {
  const lines = armored.split(/\r?\n/);
  const begin = lines.findIndex((l) => l.startsWith('-----BEGIN '));
  const blank = lines.indexOf('', begin);
  const end = lines.findIndex((l) => l.startsWith('-----END '));
  const body = lines.slice(blank + 1, end).filter((l) => !l.startsWith('='));
  return Buffer.from(body.join(''), 'base64');
}

function variants(values: Record<string, string>): Record<string, OutVariant> {
  const out: Record<string, OutVariant> = {};
  for (const [k, v] of Object.entries(values)) out[k] = { sig: 's', value: v };
  return out;
}

function isUnreachable(err: unknown): boolean {
  if (err instanceof LeanBusUnavailable) return true;
  if (!(err instanceof LeanBusError)) return false;
  return ['org.freedesktop.DBus.Error.ServiceUnknown', 'org.freedesktop.DBus.Error.NameHasNoOwner', 'org.freedesktop.DBus.Error.NoReply',
    'org.freedesktop.DBus.Error.Disconnected', `${ERROR_PREFIX}Unavailable`].includes(err.errorName);
}

function reasonOf(err: unknown): string {
  if (err instanceof LeanBusError) {
    if (err.errorName === 'org.freedesktop.DBus.Error.AccessDenied') return `the bus policy does not let this user ask the companion (${err.message})`;
    const code = err.errorName.startsWith(ERROR_PREFIX) ? err.errorName.slice(ERROR_PREFIX.length) : err.errorName;
    return `${code}: ${err.message}`;
  }
  return (err as Error)?.message ?? String(err);
}

/** Leave the request behind when git goes away or the user presses Ctrl+C: closing the connection cancels it. */
function watchForAbandon(finish: (code: number, reason: string) => void): () => void {
  const onSignal = (sig: NodeJS.Signals) => finish(SD_GPG_EXIT.refused, `cancelled (${sig}); the request was withdrawn`);
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const sig of signals) process.on(sig, onSignal);
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) finish(SD_GPG_EXIT.refused, 'git went away; the request was withdrawn');
  }, 200);
  timer.unref();
  return () => {
    for (const sig of signals) process.removeListener(sig, onSignal);
    clearInterval(timer);
  };
}

/**
 * One Sign call, sent as early as possible: the connection opens before stdin is read, and the call
 * is written before the signal handlers and timers are set up, so the daemon (on the other core)
 * works while this process finishes starting. A signal that arrives before the handlers exist
 * kills the process, which closes the connection and so withdraws the request all the same.
 */
async function sign(request: SignRequest): Promise<number> {
  const address = process.env.DBUS_SYSTEM_BUS_ADDRESS || SYSTEM_BUS_DEFAULT;
  let bus: LeanBus;
  try {
    bus = LeanBus.open(address);
  } catch (err) {
    say(`cannot reach the companion daemon (${reasonOf(err)}); ${ADVICE}`);
    return SD_GPG_EXIT.unreachable;
  }
  // One turn of the event loop completes the connect, which sends AUTH and Hello: the bus handles
  // them while stdin is read and the call is built, instead of after.
  await new Promise((resolve) => setImmediate(resolve));
  let payload: Buffer;
  try {
    payload = await readStdin(SIGN_PAYLOAD_LIMIT);
  } catch (err) {
    say(`cannot read the data to sign: ${(err as Error).message}`);
    bus.close();
    return SD_GPG_EXIT.refused;
  }
  // git gives sd-gpg no way to say why; a reason comes from the environment (e.g.
  // SECRETS_DISPATCHER_REASON='rebase onto main' git rebase ...). The daemon checks its length.
  const reason = process.env.SECRETS_DISPATCHER_REASON;
  const repository = { ...(await repositoryFacts()), ...(reason ? { reason } : {}) };
  const target = { destination: BUS_NAME, path: OBJECT_PATH, interface: BUS_NAME };
  const signWith = (context: Record<string, string>) => bus.call({
    ...target, member: 'Sign', signature: 'aysa{sv}', body: [payload, request.keySpec, variants(context)],
  }) as Promise<[string, Record<string, unknown>]>;
  // The changed files cost a git process and only a human reads them: ask first whether a
  // remembered decision covers this commit (a rebase re-signing many), and list them only if not.
  const isCommit = commitTreeAndParent(payload) !== null;
  const first = signWith(isCommit ? { ...repository, rememberedOnly: '1' } : repository);

  return new Promise<number>((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (code: number, reason: string) => {
      if (settled) return;
      settled = true;
      stopWatching();
      if (timer) clearTimeout(timer);
      // A signature is followed at once by the process's exit (bin/sd-gpg), which closes the
      // socket; destroying it first would run ~0.6 ms of cold stream code on every commit.
      if (code !== SD_GPG_EXIT.signed) bus.close();
      if (reason) {
        say(reason);
        tellOldGit(reason);
      }
      resolve(code);
    };
    const stopWatching = watchForAbandon(finish);
    const armTimer = (seconds: number) => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => finish(SD_GPG_EXIT.refused, `no answer from the companion within ${seconds} s`), seconds * 1000 + DEADLINE_MARGIN_MS);
    };
    armTimer(DEFAULT_DEADLINE_SECONDS);
    // The daemon's own deadline matters only when a human is being asked: a signature under a
    // remembered decision is back long before this fires, and the daemon is spared the Status call.
    const askDeadline = setTimeout(() => {
      bus.call({ ...target, member: 'Status' }).then(([status]) => {
        const seconds = (status as Record<string, unknown>)?.RequestTimeoutSeconds;
        if (typeof seconds === 'number' && seconds > 0 && !settled) armTimer(seconds);
      }, () => undefined);
    }, STATUS_AFTER_MS);
    askDeadline.unref();

    (async () => {
      let reply: [string, Record<string, unknown>];
      try {
        reply = await first;
      } catch (err) {
        if (!isCommit || !(err instanceof LeanBusError) || err.errorName !== `${ERROR_PREFIX}NotRemembered`) throw err;
        reply = await signWith({ ...repository, ...(await filesFacts(payload)) });
      }
      const [armored, info] = reply;
      if (settled) return;
      emitResult(request, armored, info);
      finish(SD_GPG_EXIT.signed, '');
    })().catch((err: unknown) => {
      if (settled) return;
      if (isUnreachable(err)) finish(SD_GPG_EXIT.unreachable, `cannot reach the companion daemon (${reasonOf(err)}); ${ADVICE}`);
      else finish(SD_GPG_EXIT.refused, reasonOf(err));
    });
  });
}

/** The signature on stdout and the status lines git looks for (it requires SIG_CREATED). */
function emitResult(request: SignRequest, armored: string, info: Record<string, unknown>): void {
  const fpr = String(info.Fingerprint ?? '');
  const hash = String(info.HashAlgorithm ?? '');
  if (request.statusFd !== null) {
    const status = [
      `[GNUPG:] KEY_CONSIDERED ${fpr} 0`,
      `[GNUPG:] BEGIN_SIGNING H${hash}`,
      `[GNUPG:] SIG_CREATED D ${String(info.PubkeyAlgorithm ?? '')} ${hash} 00 ${String(info.Created ?? '')} ${fpr}`,
    ].join('\n');
    writeSync(request.statusFd, `${status}\n`);
  }
  const out = request.armor ? Buffer.from(armored, 'utf8') : dearmor(armored);
  let offset = 0;
  while (offset < out.length) offset += writeSync(1, out, offset);
}

export async function main(args: string[], self: string[]): Promise<number> {
  if (args.length === 1 && args[0] === '--help') {
    // Our part first; gpg's own help follows, since every other option is gpg's.
    writeSync(1, `${HELP}\n`);
  }
  const parsed = parseGpgArgs(args);
  if (parsed.kind === 'passthrough') return runRealGpg(args, self);
  if (parsed.kind === 'refuse') {
    say(parsed.reason);
    return SD_GPG_EXIT.usage;
  }
  return sign(parsed);
}
