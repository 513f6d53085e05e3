// `secrets-dispatcher history`: prints the audit log. Reads the audit database directly so it
// works while the daemon is stopped; only the companion (the file's owner) and root may read it.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AUDIT_DB_FILE, AUDIT_SELECT_ANCHOR, AUDIT_SELECT_CHAIN_ORDER, AUDIT_SELECT_NEWEST, AUDIT_SELECT_RULE, forOlderLayout, historyEntryFromRow, RULE_ID, verifyChain, type AuditAnchor, type AuditDbRow } from '../core/audit.js';
import { parseCommandLine } from '../core/command-line.js';
import { DEFAULT_CONFIG_PATH, parseConfigText } from '../core/config.js';
import { EXIT } from '../core/errors.js';
import { LIMITS } from '../core/limits.js';
import { inertText } from '../core/untrusted-text.js';
import type { HistoryEntry } from '../core/wire.js';

interface HistoryArgs { json?: boolean; verify?: boolean; rule?: string; stateDir?: string; config?: string; limit: number }

const USAGE = `$0 [options]

Print the audit log, newest first: every request and decision (who, what, when, outcome, scope, the rule or grant that allowed it, the requester's reason), never a secret. Only the companion user or root may read it.`;

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
  const extra = [e.scope, e.detail, e.rule ? `rule ${e.rule}` : null].filter(Boolean).map((t) => inertText(String(t))).join('; ');
  // The reason is the requester's own words: shown inert and marked as theirs.
  const reason = e.reason ? `  reason (requester's words): ${inertText(e.reason)}` : '';
  return `${when}  ${e.kind.padEnd(7)} ${e.outcome.padEnd(10)} ${who}  ${inertText(e.target)}${extra ? `  [${extra}]` : ''}${reason}`;
}

export async function main(args: string[]): Promise<number> {
  const parsed = await parseCommandLine<HistoryArgs>(args, {
    command: 'secrets-dispatcher history',
    usage: USAGE,
    options: {
      json: { type: 'boolean', describe: 'print HistoryEntry JSON (one array) instead of text' },
      verify: { type: 'boolean', describe: 'check the hash chain over every row kept (from the retention anchor, if rows were pruned) instead of printing; exit 1 if a row was changed, added or removed' },
      rule: { type: 'string', describe: 'only the rows allowed by (or made by) this grant or rule id, as shown in [rule ...] and on the console' },
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
  if (argv.rule !== undefined && !RULE_ID.test(argv.rule)) return fail('--rule takes a grant or rule id: 1-128 characters of A-Z a-z 0-9 _ . : @ / + -', EXIT.usage);

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
  let prunedNote = '';
  try {
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      const columns = new Set((db.prepare('PRAGMA table_info(audit)').all() as { name: string }[]).map((c) => c.name));
      const layout = (sql: string) => (columns.has('reason') && columns.has('rule') ? sql : forOlderLayout(sql));
      const hasAnchor = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_anchor'").get() !== undefined;
      const anchor = hasAnchor ? (db.prepare(AUDIT_SELECT_ANCHOR).get() as AuditAnchor | undefined) ?? null : null;
      if (argv.verify) verdict = verifyChain(db.prepare(layout(AUDIT_SELECT_CHAIN_ORDER)).iterate() as Iterable<AuditDbRow & { seq: number }>, anchor);
      const n = Math.min(argv.limit, LIMITS.historyRows);
      const raw = (argv.rule !== undefined
        ? db.prepare(layout(AUDIT_SELECT_RULE)).all(argv.rule, n)
        : db.prepare(layout(AUDIT_SELECT_NEWEST)).all(n)) as AuditDbRow[];
      rows = raw.map(historyEntryFromRow);
      if (verdict && anchor) prunedNote = ` (${anchor.pruned} older rows were pruned by retention; checked from the anchor at row ${anchor.through_seq})`;
    } finally {
      db.close();
    }
  } catch (err) {
    return fail(`cannot read ${dbPath}: ${(err as Error).message}`);
  }
  if (verdict) {
    if (verdict.brokenAt !== null) return fail(`the audit log was tampered with: row ${verdict.brokenAt} does not match the hash chain (${verdict.checked} rows before it are intact)`);
    process.stdout.write(`The audit log is intact: ${verdict.checked} chained rows${prunedNote}.\n`);
    return EXIT.ok;
  }
  if (argv.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else if (rows.length === 0) process.stdout.write(argv.rule !== undefined ? `No rows name rule ${argv.rule}.\n` : 'The audit log is empty.\n');
  else for (const e of rows) process.stdout.write(`${line(e)}\n`);
  return EXIT.ok;
}
