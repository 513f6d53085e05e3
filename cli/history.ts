// `secrets-dispatcher history`: prints the audit log. Reads the audit database directly so it
// works while the daemon is stopped; only the companion (the file's owner) and root may read it.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AUDIT_DB_FILE, AUDIT_SELECT_CHAIN_ORDER, AUDIT_SELECT_NEWEST, historyEntryFromRow, verifyChain, type AuditDbRow } from '../core/audit.js';
import { parseCommandLine } from '../core/command-line.js';
import { DEFAULT_CONFIG_PATH, parseConfigText } from '../core/config.js';
import { EXIT } from '../core/errors.js';
import { LIMITS } from '../core/limits.js';
import { inertText } from '../core/untrusted-text.js';
import type { HistoryEntry } from '../core/wire.js';

interface HistoryArgs { json?: boolean; verify?: boolean; stateDir?: string; config?: string; limit: number }

const USAGE = `$0 [options]

Print the audit log, newest first: every request and decision (who, what, when, outcome, scope), never a secret. Only the companion user or root may read it.`;

function fail(message: string, code: number = EXIT.failure): number {
  process.stderr.write(`secrets-dispatcher history: ${message}\n`);
  return code;
}

function stateDirFrom(args: HistoryArgs): string {
  if (args.stateDir) return args.stateDir;
  const path = args.config ?? DEFAULT_CONFIG_PATH;
  if (!existsSync(path)) throw new Error(`no state directory: pass --state-dir DIR or --config FILE (${path} does not exist)`);
  return parseConfigText(readFileSync(path, 'utf8'), path).stateDir;
}

function line(e: HistoryEntry): string {
  const when = new Date(e.decidedAt ?? e.createdAt).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const who = e.requesterUid >= 0 ? `uid ${e.requesterUid}${e.requesterPid ? ` pid ${e.requesterPid}` : ''}${e.requesterExe ? ` ${inertText(e.requesterExe)}` : ''}` : 'console';
  const extra = [e.scope, e.detail].filter(Boolean).map((t) => inertText(String(t))).join('; ');
  return `${when}  ${e.kind.padEnd(7)} ${e.outcome.padEnd(10)} ${who}  ${inertText(e.target)}${extra ? `  [${extra}]` : ''}`;
}

export async function main(args: string[]): Promise<number> {
  const parsed = await parseCommandLine<HistoryArgs>(args, {
    command: 'secrets-dispatcher history',
    usage: USAGE,
    options: {
      json: { type: 'boolean', describe: 'print HistoryEntry JSON (one array) instead of text' },
      verify: { type: 'boolean', describe: 'check the hash chain over every row instead of printing; exit 1 if a row was changed, added or removed' },
      'state-dir': { type: 'string', describe: 'the daemon\'s state directory (default: stateDir from the config file)' },
      config: { type: 'string', describe: `config file to take stateDir from (default ${DEFAULT_CONFIG_PATH})` },
      limit: { type: 'number', default: 100, describe: `how many rows, newest first (max ${LIMITS.historyRows})` },
    },
  });
  if (parsed.kind === 'help') {
    process.stdout.write(`${parsed.text}\n`);
    return EXIT.ok;
  }
  if (parsed.kind === 'usage') return fail(`${parsed.message} (see --help)`, EXIT.usage);
  const { argv } = parsed;
  if (!Number.isInteger(argv.limit) || argv.limit < 1) return fail('--limit must be a positive whole number', EXIT.usage);

  let dbPath: string;
  try {
    dbPath = join(stateDirFrom(argv), AUDIT_DB_FILE);
  } catch (err) {
    return fail((err as Error).message, EXIT.config);
  }
  const refusal = `only the companion user (the owner of ${dbPath}) or root may read the audit log; run it as that user, e.g. sudo -u <companion> secrets-dispatcher history`;
  let owner: number;
  try {
    owner = statSync(dbPath).uid;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EACCES') return fail(refusal);
    return fail(`no audit log at ${dbPath} (has the daemon run with this state directory?)`);
  }
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0 && uid !== owner) return fail(refusal);
  let rows: HistoryEntry[];
  let verdict: ReturnType<typeof verifyChain> | null = null;
  try {
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      if (argv.verify) verdict = verifyChain(db.prepare(AUDIT_SELECT_CHAIN_ORDER).iterate() as Iterable<AuditDbRow & { seq: number }>);
      rows = (db.prepare(AUDIT_SELECT_NEWEST).all(Math.min(argv.limit, LIMITS.historyRows)) as AuditDbRow[]).map(historyEntryFromRow);
    } finally {
      db.close();
    }
  } catch (err) {
    return fail(`cannot read ${dbPath}: ${(err as Error).message}`);
  }
  if (verdict) {
    if (verdict.brokenAt !== null) return fail(`the audit log was tampered with: row ${verdict.brokenAt} does not match the hash chain (${verdict.checked} rows before it are intact)`);
    process.stdout.write(`The audit log is intact: ${verdict.checked} chained rows.\n`);
    return EXIT.ok;
  }
  if (argv.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else if (rows.length === 0) process.stdout.write('The audit log is empty.\n');
  else for (const e of rows) process.stdout.write(`${line(e)}\n`);
  return EXIT.ok;
}
