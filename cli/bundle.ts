// `secrets-dispatcher export FILE` / `import FILE`: move a whole store between machines as an
// encrypted, checksummed bundle. Both go through the daemon's request interface and wait for
// approval on the console; the bundle passphrase comes from a prompt on the terminal or from
// --passphrase-file, never from argv.
import { closeSync, openSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { ReadStream, WriteStream } from 'node:tty';
import { callMethod, connectBus, disconnectBus, fromVariantMap, toVariantMap } from '../core/dbus/bus.js';
import { parseCommandLine } from '../core/command-line.js';
import { EXIT, isSdError } from '../core/errors.js';
import { LIMITS } from '../core/limits.js';
import { REASON_KEY, validReason } from '../core/reason.js';
import { DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH, REQUEST_INTERFACE } from '../core/names.js';
import { counted } from '../core/counted.js';

interface BundleArgs { _: (string | number)[]; passphraseFile?: string; reason?: string }

const USAGE: Record<string, string> = {
  export: `$0 FILE [--passphrase-file PFILE]

Write an encrypted bundle of the whole store (collections, items, signing keys) to FILE (mode 0600). The export waits for approval on the console. The bundle passphrase is asked twice on the terminal unless --passphrase-file is given.`,
  import: `$0 FILE [--passphrase-file PFILE]

Add the collections, items and keys of a bundle made by \`secrets-dispatcher export\` to the store. The import waits for approval on the console. The bundle passphrase is asked on the terminal unless --passphrase-file is given.`,
};

class UsageError extends Error {}

/** Read a line from the controlling terminal without echo; the bytes live only in the returned Buffer. */
async function promptHidden(question: string): Promise<Buffer> {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch {
    throw new UsageError('no terminal to ask for the bundle passphrase on; use --passphrase-file FILE');
  }
  const input = new ReadStream(fd);
  const output = new WriteStream(fd);
  output.write(question);
  input.setRawMode(true);
  const bytes: number[] = [];
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      input.on('data', (chunk: Buffer) => {
        for (const b of chunk) {
          if (b === 0x0d || b === 0x0a) {
            const out = Buffer.from(bytes);
            bytes.fill(0);
            resolve(out);
            return;
          }
          if (b === 0x03 || b === 0x04) {
            reject(new UsageError('cancelled'));
            return;
          }
          if (b === 0x7f || b === 0x08) bytes.pop();
          else if (bytes.length < LIMITS.passphraseBytes) bytes.push(b);
        }
        chunk.fill(0);
      });
    });
  } finally {
    input.setRawMode(false);
    output.write('\n');
    input.destroy();
    output.destroy();
    try {
      closeSync(fd);
    } catch {
      // the streams closed it
    }
  }
}

function passphraseFromFile(path: string): Buffer {
  const raw = readFileSync(path);
  let end = raw.indexOf(0x0a);
  if (end < 0) end = raw.length;
  if (end > 0 && raw[end - 1] === 0x0d) end--;
  const pass = Buffer.from(raw.subarray(0, end));
  raw.fill(0);
  if (pass.length === 0) throw new UsageError(`${path}: the first line (the passphrase) is empty`);
  return pass;
}

async function readPassphrase(command: string, file: string | undefined): Promise<Buffer> {
  if (file) return passphraseFromFile(file);
  const first = await promptHidden('Bundle passphrase: ');
  if (command === 'import') return first;
  const again = await promptHidden('Bundle passphrase again: ');
  const same = first.equals(again);
  again.fill(0);
  if (!same) {
    first.fill(0);
    throw new UsageError('the two passphrases differ');
  }
  return first;
}

async function run(command: string, file: string, passphrase: Buffer, reason: string | null): Promise<string> {
  const bus = await connectBus('system');
  try {
    const target = { destination: DISPATCHER_BUS_NAME, path: DISPATCHER_OBJECT_PATH, interface: REQUEST_INTERFACE };
    const [status] = await callMethod(bus, { ...target, member: 'Status', timeoutMs: 10_000 });
    const timeoutSeconds = Number(fromVariantMap(status).RequestTimeoutSeconds ?? 300);
    // Argon2 on a large store takes a while on top of the human's deadline.
    const timeoutMs = (timeoutSeconds + 120) * 1000;
    const context = toVariantMap({ command: `secrets-dispatcher ${command}`, file, ...(reason ? { [REASON_KEY]: reason } : {}) });
    process.stderr.write(`Waiting for approval on the console (up to ${timeoutSeconds} s)...\n`);
    if (command === 'export') {
      const [bundle] = await callMethod(bus, { ...target, member: 'ExportStore', signature: 'aya{sv}', body: [passphrase, context], timeoutMs }) as [Buffer];
      const tmp = `${file}.tmp-${process.pid}`;
      writeFileSync(tmp, bundle, { mode: 0o600, flag: 'wx' });
      renameSync(tmp, file);
      return `Wrote ${bundle.length} bytes to ${file}.`;
    }
    const size = statSync(file).size;
    if (size > LIMITS.bundleBytes) throw new UsageError(`${file} is larger than ${LIMITS.bundleBytes} bytes; not a bundle`);
    const bundle = readFileSync(file);
    const [count] = await callMethod(bus, { ...target, member: 'ImportStore', signature: 'ayaya{sv}', body: [bundle, passphrase, context], timeoutMs });
    return `Imported ${counted(Number(count), 'item')} from ${file}.`;
  } finally {
    passphrase.fill(0);
    disconnectBus(bus);
  }
}

export async function main(args: string[], command: string): Promise<number> {
  const parsed = await parseCommandLine<BundleArgs>(args, {
    command: `secrets-dispatcher ${command}`,
    usage: USAGE[command] ?? USAGE.export!,
    options: {
      'passphrase-file': { type: 'string', describe: 'read the bundle passphrase from the first line of this file instead of the terminal' },
      reason: { type: 'string', describe: `why, in your own words (at most ${LIMITS.reasonChars} characters): shown on the console as the requester's unchecked words, kept in history` },
    },
    positional: { name: 'FILE', describe: 'the bundle file', demand: true },
  });
  const fail = (message: string, code: number) => {
    process.stderr.write(`secrets-dispatcher ${command}: ${message}\n`);
    return code;
  };
  if (parsed.kind === 'help') {
    process.stdout.write(`${parsed.text}\n`);
    return EXIT.ok;
  }
  if (parsed.kind === 'usage') return fail(`${parsed.message} (see --help)`, EXIT.usage);
  const file = String(parsed.argv._[0]);
  let reason: string | null;
  try {
    reason = validReason(parsed.argv.reason);
  } catch (err) {
    return fail(`--reason: ${(err as Error).message}`, EXIT.usage);
  }
  try {
    const passphrase = await readPassphrase(command, parsed.argv.passphraseFile);
    process.stdout.write(`${await run(command, file, passphrase, reason)}\n`);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message, EXIT.usage);
    if (isSdError(err, 'Unavailable')) return fail(err.message, EXIT.unavailable);
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EEXIST' || e.code === 'ENOENT' || e.code === 'EACCES') return fail(e.message, EXIT.failure);
    return fail((err as Error).message, EXIT.failure);
  }
}
