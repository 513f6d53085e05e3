// `secrets-dispatcher gpg import|list|export-public|generate|rm`: the signing keys held by the
// companion. Import, generate and rm wait for approval on the console (a protected key's own
// passphrase is typed there, never here); list and export-public show only public data.
import { readFileSync } from 'node:fs';
import type { Options } from 'yargs';
import { parseCommandLine } from '../core/command-line.js';
import { consolePlace } from '../core/console-place.js';
import { callMethod, connectBus, disconnectBus, toVariantMap, type MessageBus, type Variant } from '../core/dbus/bus.js';
import { EXIT, isSdError } from '../core/errors.js';
import { LIMITS } from '../core/limits.js';
import { DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH, REQUEST_INTERFACE } from '../core/names.js';
import { REASON_KEY, validReason } from '../core/reason.js';

// Each subcommand's arguments and what it does, apart: the usage line is `secrets-dispatcher gpg`,
// the name and its arguments, so the name is written once wherever a line is built from these.
const SUBCOMMANDS = {
  import: { args: '[FILE|-] [--reason TEXT]', what: 'add an armored secret key (gpg --export-secret-keys -a KEYID); asks on the console' },
  list: { args: '', what: 'the stored keys: fingerprint, algorithm, user ids' },
  'export-public': { args: 'KEY', what: 'print the armored public key (for the forge or a verifier\'s keyring)' },
  generate: { args: '--name NAME --email EMAIL [--algorithm ed25519|rsa3072|rsa4096] [--reason TEXT]', what: 'make a new v4 key; asks on the console' },
  rm: { args: 'KEY [--reason TEXT]', what: 'delete a stored key; asks on the console' },
} as const;

type Sub = keyof typeof SUBCOMMANDS;

const usageOf = (sub: Sub): string => `secrets-dispatcher gpg ${sub}${SUBCOMMANDS[sub].args ? ` ${SUBCOMMANDS[sub].args}` : ''}`;

const HELP = `Usage: secrets-dispatcher gpg <command> [options]

Signing keys live in the companion's encrypted store; sd-gpg signs with them after approval.

Commands:
${Object.entries(SUBCOMMANDS).map(([name, { args, what }]) => `  ${name}${args ? ` ${args}` : ''}\n      ${what}`).join('\n')}

KEY is a fingerprint, key id, or user id / email. Exit: 0 done, 1 denied or failed, 2 daemon unreachable, 64 usage.
`;

const target = { destination: DISPATCHER_BUS_NAME, path: DISPATCHER_OBJECT_PATH, interface: REQUEST_INTERFACE };

/** Wait as long as the daemon's own deadline for a human decision, plus a margin. */
async function decisionTimeoutMs(bus: MessageBus): Promise<number> {
  try {
    const [status] = await callMethod(bus, { ...target, member: 'Status', timeoutMs: 10_000 });
    const seconds = status?.RequestTimeoutSeconds?.value;
    if (typeof seconds === 'number') return seconds * 1000 + 15_000;
  } catch {
    // an old daemon without Status: fall back to the default deadline
  }
  return 315_000;
}

function fail(err: unknown): number {
  const message = (err as Error)?.message ?? String(err);
  process.stderr.write(`secrets-dispatcher gpg: ${message.replace(/[\r\n]+/g, ' ')}\n`);
  return isSdError(err, 'Unavailable') ? EXIT.unavailable : EXIT.failure;
}

function readInput(file: string | undefined): Buffer {
  return readFileSync(file === undefined || file === '-' ? 0 : file);
}

export async function main(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || sub === '--help' || sub === '-h' || sub === 'help') {
    (sub ? process.stdout : process.stderr).write(HELP);
    return sub ? EXIT.ok : EXIT.usage;
  }
  if (!(sub in SUBCOMMANDS)) {
    process.stderr.write(`secrets-dispatcher gpg: unknown command "${sub}"\n\n${HELP}`);
    return EXIT.usage;
  }
  const asks = sub === 'import' || sub === 'generate' || sub === 'rm';
  const reasonOption: Record<string, Options> = asks ? { reason: { type: 'string', describe: `why, in your own words (at most ${LIMITS.reasonChars} characters): shown on the console as the requester's unchecked words, kept in history` } } : {};
  const parsed = await parseCommandLine<{ _: (string | number)[]; name?: string; email?: string; algorithm?: string; reason?: string }>(rest, {
    command: `secrets-dispatcher gpg ${sub}`,
    usage: `${usageOf(sub as Sub)}\n\n${SUBCOMMANDS[sub as Sub].what}`,
    options: sub === 'generate' ? {
      name: { type: 'string', demandOption: true, describe: 'the key owner\'s name' },
      email: { type: 'string', demandOption: true, describe: 'the key owner\'s email (git matches it with user.email)' },
      algorithm: { type: 'string', default: 'ed25519', choices: ['ed25519', 'rsa3072', 'rsa4096'], describe: 'key algorithm' },
      ...reasonOption,
    } : reasonOption,
    ...(sub === 'import' ? { positional: { name: 'FILE', describe: 'armored secret key; - or none for stdin' } } : {}),
    ...(sub === 'export-public' || sub === 'rm' ? { positional: { name: 'KEY', describe: 'fingerprint, key id or user id', demand: true } } : {}),
  });
  if (parsed.kind === 'help') {
    process.stdout.write(`${parsed.text}\n`);
    return EXIT.ok;
  }
  if (parsed.kind === 'usage') {
    process.stderr.write(`secrets-dispatcher gpg ${sub}: ${parsed.message} (see --help)\n`);
    return EXIT.usage;
  }
  const positional = parsed.argv._.map(String);
  const needsKey = sub === 'export-public' || sub === 'rm';
  if ((needsKey && positional.length !== 1) || (!needsKey && sub !== 'import' && positional.length > 0) || positional.length > 1) {
    process.stderr.write(`secrets-dispatcher gpg ${sub}: usage: ${usageOf(sub as Sub)}\n`);
    return EXIT.usage;
  }
  let context: Record<string, InstanceType<typeof Variant>>;
  try {
    const reason = validReason(parsed.argv.reason);
    context = reason ? toVariantMap({ [REASON_KEY]: reason }) : {};
  } catch (err) {
    process.stderr.write(`secrets-dispatcher gpg ${sub}: --reason: ${(err as Error).message}\n`);
    return EXIT.usage;
  }

  let bus: MessageBus;
  try {
    bus = await connectBus('system');
  } catch (err) {
    return fail(err);
  }
  try {
    return await run(bus, sub as Sub, positional[0], parsed.argv, context);
  } catch (err) {
    return fail(err);
  } finally {
    disconnectBus(bus);
  }
}

async function run(bus: MessageBus, sub: Sub, arg: string | undefined, opts: { name?: string; email?: string; algorithm?: string }, context: Record<string, InstanceType<typeof Variant>>): Promise<number> {
  switch (sub) {
    case 'list': {
      const [keys] = await callMethod(bus, { ...target, member: 'ListKeys', timeoutMs: 30_000 });
      if ((keys as unknown[]).length === 0) process.stderr.write('No signing keys stored. Add one: secrets-dispatcher gpg import FILE, or gpg generate.\n');
      for (const [fingerprint, keyId, userIds, algorithm] of keys as [string, string, string, string][]) {
        process.stdout.write(`${fingerprint}  ${algorithm}  (key id ${keyId})\n${userIds.split('\n').map((u) => `    ${u}\n`).join('')}`);
      }
      return EXIT.ok;
    }
    case 'export-public': {
      const [armored] = await callMethod(bus, { ...target, member: 'ExportPublicKey', signature: 's', body: [arg], timeoutMs: 30_000 });
      process.stdout.write(armored);
      return EXIT.ok;
    }
    case 'import': {
      const armored = readInput(arg);
      process.stderr.write(`Approve the import ${consolePlace()}...\n`);
      try {
        const [fingerprint] = await callMethod(bus, { ...target, member: 'ImportKey', signature: 'aya{sv}', body: [armored, context], timeoutMs: await decisionTimeoutMs(bus) });
        process.stdout.write(`imported ${fingerprint}\nSet it for git: git config user.signingkey ${fingerprint}\n`);
      } finally {
        armored.fill(0);
      }
      return EXIT.ok;
    }
    case 'generate': {
      process.stderr.write(`Approve the new key ${consolePlace()}...\n`);
      const [fingerprint] = await callMethod(bus, {
        ...target, member: 'GenerateKey', signature: 'sssa{sv}', body: [opts.name ?? '', opts.email ?? '', opts.algorithm ?? 'ed25519', context], timeoutMs: await decisionTimeoutMs(bus),
      });
      process.stdout.write(`generated ${fingerprint}\nPublish it: secrets-dispatcher gpg export-public ${fingerprint}\n`);
      return EXIT.ok;
    }
    case 'rm': {
      process.stderr.write(`Approve the removal ${consolePlace()}...\n`);
      await callMethod(bus, { ...target, member: 'DeleteKey', signature: 'sa{sv}', body: [arg, context], timeoutMs: await decisionTimeoutMs(bus) });
      process.stdout.write(`deleted ${arg}\n`);
      return EXIT.ok;
    }
  }
}
