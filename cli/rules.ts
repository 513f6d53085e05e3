// `secrets-dispatcher rules list [--json]`: what the console decided to remember for this user —
// timed grants and the rules kept in the store (always, deny always) — read-only. Rules are made,
// changed and revoked on the console alone: nothing on the desktop can add or widen one.
import { parseCommandLine } from '../core/command-line.js';
import { callMethod, connectBus, disconnectBus, type MessageBus } from '../core/dbus/bus.js';
import { EXIT, isSdError } from '../core/errors.js';
import { DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH, REQUEST_INTERFACE } from '../core/names.js';
import { inlineText } from '../core/untrusted-text.js';
import type { RememberedDecision } from '../core/wire.js';

const HELP = `Usage: secrets-dispatcher rules list [--json]

List the remembered decisions and rules that cover this user's requests: who each covers (in the
words the console showed), what, for how long, and whether it is kept across restarts. Read-only:
rules are decided, listed, revoked (one, or everything) on the console. The store must be unlocked.
Exit: 0 listed, 1 failed (e.g. the store is locked), 2 daemon unreachable, 64 usage.
`;

function fail(err: unknown): number {
  const message = (err as Error)?.message ?? String(err);
  process.stderr.write(`secrets-dispatcher rules: ${message.replace(/[\r\n]+/g, ' ')}\n`);
  return isSdError(err, 'Unavailable') ? EXIT.unavailable : EXIT.failure;
}

function until(r: RememberedDecision): string {
  if (r.persisted) return 'kept until revoked';
  const bound = r.scope === 'process' ? 'until the process exits' : r.scope === 'session' || r.scope === 'program' ? 'until the session ends' : r.scope === 'until-lock' ? 'until the store locks' : '';
  const at = r.expiresAt ? `at most until ${new Date(r.expiresAt).toISOString()}` : '';
  return [bound, at].filter(Boolean).join(', ');
}

export async function main(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || sub === '--help' || sub === '-h' || sub === 'help') {
    (sub ? process.stdout : process.stderr).write(HELP);
    return sub ? EXIT.ok : EXIT.usage;
  }
  if (sub !== 'list') {
    process.stderr.write(`secrets-dispatcher rules: unknown command "${sub}" (rules are changed on the console; here they are only listed)\n\n${HELP}`);
    return EXIT.usage;
  }
  const parsed = await parseCommandLine<{ json?: boolean }>(rest, {
    command: 'secrets-dispatcher rules list', usage: '$0 [--json]',
    options: { json: { type: 'boolean', default: false, describe: 'print the list as JSON' } },
  });
  if (parsed.kind === 'help') {
    process.stdout.write(`${parsed.text}\n`);
    return EXIT.ok;
  }
  if (parsed.kind === 'usage') {
    process.stderr.write(`secrets-dispatcher rules list: ${parsed.message} (see --help)\n`);
    return EXIT.usage;
  }
  let bus: MessageBus;
  try {
    bus = await connectBus('system');
  } catch (err) {
    return fail(err);
  }
  try {
    const [json] = await callMethod(bus, { destination: DISPATCHER_BUS_NAME, path: DISPATCHER_OBJECT_PATH, interface: REQUEST_INTERFACE, member: 'ListRules', timeoutMs: 30_000 });
    const rules = JSON.parse(json as string) as RememberedDecision[];
    if (parsed.argv.json) {
      process.stdout.write(`${JSON.stringify(rules, null, 2)}\n`);
      return EXIT.ok;
    }
    if (rules.length === 0) process.stderr.write('No remembered decisions or rules: every request is asked on the console.\n');
    for (const r of rules) {
      // Labels and program paths are the user's own text: shown inert.
      process.stdout.write(`${r.id}  ${r.verdict === 'deny' ? 'DENY ' : ''}${r.scope}  ${r.kind}  ${inlineText(r.targetLabel, { maxWidth: 80 })}  (${until(r)})\n`);
      process.stdout.write(`    ${inlineText(r.holder, { maxWidth: 400 })}\n`);
    }
    return EXIT.ok;
  } catch (err) {
    return fail(err);
  } finally {
    disconnectBus(bus);
  }
}
