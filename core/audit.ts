// Audit event types and the audit database's layout. The daemon appends rows; `secrets-dispatcher
// history` reads the same file directly (it must work while the daemon is stopped), so the schema
// is defined once here. Rows describe who asked for what and what happened, never a secret.
import { createHash } from 'node:crypto';
import type { HistoryEntry, RequestKind } from './wire.js';

export const AUDIT_DB_FILE = 'audit.db';

/** What happened to a request, or to the store. */
export type AuditOutcome =
  | 'pending'
  | 'approved'
  | 'denied'
  | 'expired'
  | 'cancelled'
  | 'remembered'
  /** Refused before anyone was asked (NoConsole, QueueFull, StoreLocked, ...): the code is in `detail`. */
  | 'refused'
  /** A store operation (create, unlock, lock, change or reset passphrase) that succeeded / failed. */
  | 'done'
  | 'failed';

export type AuditKind = RequestKind | 'store';

export interface AuditRow {
  requestId: string;
  kind: AuditKind;
  requesterUid: number | null;
  requesterPid: number | null;
  requesterExe: string | null;
  /** Label and attribute summary of the target; never a secret value. */
  target: string;
  outcome: AuditOutcome;
  scope: string | null;
  detail: string | null;
  /** Milliseconds since the epoch. */
  createdAt: number;
  decidedAt: number | null;
  /** The requester's own words, unchecked. */
  reason: string | null;
  /** Comma-separated ids of the grant or rule that allowed or was made by this row. */
  rule: string | null;
}

/**
 * Append-only: the daemon never updates rows, and deletes only the oldest ones, by retention
 * (`audit.retentionDays`). Each row carries `chain`, a SHA-256 over the previous row's chain and
 * this row's fields, so an edited, inserted or deleted row breaks every chain value after it
 * (`secrets-dispatcher history --verify`). Rows written before chaining existed have a NULL chain
 * and are skipped by verification.
 *
 * Retention deletes a prefix of the chain and keeps, in `audit_anchor`, the seq and chain value of
 * the last row it deleted: verification starts from that value instead of the genesis, so the rows
 * kept still check, and deleting the first kept rows, or the anchor, still breaks the chain. (Like
 * the chain itself, this catches edits by anyone who does not rewrite every hash after theirs.)
 * The `reason` and `rule` columns were added later and are created by the daemon (AuditLog).
 */
export const AUDIT_SCHEMA = `
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  requester_uid INTEGER,
  requester_pid INTEGER,
  requester_exe TEXT,
  target TEXT NOT NULL,
  outcome TEXT NOT NULL,
  scope TEXT,
  detail TEXT,
  created_at INTEGER NOT NULL,
  decided_at INTEGER,
  chain BLOB
);
CREATE INDEX IF NOT EXISTS audit_request ON audit(request_id);
CREATE TABLE IF NOT EXISTS audit_anchor (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  through_seq INTEGER NOT NULL,
  chain BLOB NOT NULL,
  pruned INTEGER NOT NULL,
  pruned_at INTEGER NOT NULL
);
`;

/** Columns added after the first layout, with their SQL types (AuditLog adds them to an older file). */
export const AUDIT_ADDED_COLUMNS: ReadonlyArray<readonly [string, string]> = [['chain', 'BLOB'], ['reason', 'TEXT'], ['rule', 'TEXT']];

/** Where verification starts after retention pruned the oldest rows. */
export interface AuditAnchor { through_seq: number; chain: Buffer; pruned: number; pruned_at: number }

export const AUDIT_SELECT_ANCHOR = 'SELECT through_seq, chain, pruned, pruned_at FROM audit_anchor WHERE id = 1';

const ROW_COLUMNS = 'request_id, kind, requester_uid, requester_pid, requester_exe, target, outcome, scope, detail, created_at, decided_at, reason, rule';

export const AUDIT_SELECT_NEWEST = `SELECT ${ROW_COLUMNS} FROM audit ORDER BY seq DESC LIMIT ?`;

/** Rows whose `rule` names this id (alone or in its comma-separated list), newest first. */
export const AUDIT_SELECT_RULE = `SELECT ${ROW_COLUMNS} FROM audit WHERE instr(',' || rule || ',', ',' || ? || ',') > 0 ORDER BY seq DESC LIMIT ?`;

export const AUDIT_SELECT_CHAIN_ORDER = `SELECT seq, ${ROW_COLUMNS}, chain FROM audit ORDER BY seq ASC`;

/**
 * A select above, for a file an older daemon wrote and the current one has not opened yet
 * (`history` reads it read-only, so it cannot add the columns): reason and rule read as NULL.
 */
export function forOlderLayout(sql: string): string {
  return sql.replace(', reason, rule', ', NULL AS reason, NULL AS rule').replace(/WHERE instr\(.*?\) > 0/, 'WHERE ? IS NULL');
}

/**
 * A grant or rule id as `history --rule` takes it: the gate's ids are m + hex, persisted and admin
 * rules may use dots, colons or slashes; never a comma, which separates ids in the column.
 */
export const RULE_ID = /^[A-Za-z0-9_.:@/+-]{1,128}$/;

export const CHAIN_GENESIS: Buffer = Buffer.alloc(32);

/** The chain value of one row, from the previous row's chain and this row's fields. */
export function chainHash(previous: Buffer, row: Omit<AuditDbRow, 'chain'>): Buffer {
  const fields: unknown[] = [row.request_id, row.kind, row.requester_uid, row.requester_pid, row.requester_exe, row.target, row.outcome, row.scope, row.detail, row.created_at, row.decided_at];
  // A row with a reason or a rule hashes them too; one with neither hashes as rows did before
  // those columns existed, so older logs still verify (and adding either to an old row breaks it).
  if (row.reason != null || row.rule != null) fields.push(row.reason ?? null, row.rule ?? null);
  return createHash('sha256').update(previous).update(JSON.stringify(fields)).digest();
}

/**
 * The seq of the first row whose chain does not match, or null when the whole log is intact.
 * With an anchor (retention pruned the rows up to it), the chain is checked from its value.
 */
export function verifyChain(rows: Iterable<AuditDbRow & { seq: number }>, anchor: AuditAnchor | null = null): { checked: number; brokenAt: number | null } {
  let previous: Buffer = anchor ? anchor.chain : CHAIN_GENESIS;
  let checked = 0;
  for (const row of rows) {
    if (row.chain == null) continue;
    // A row at or below the anchor should have been deleted with it: it cannot be checked.
    if (anchor && row.seq <= anchor.through_seq) return { checked, brokenAt: row.seq };
    const expected = chainHash(previous, row);
    if (!Buffer.isBuffer(row.chain) || !expected.equals(row.chain)) return { checked, brokenAt: row.seq };
    previous = row.chain;
    checked++;
  }
  return { checked, brokenAt: null };
}

export interface AuditDbRow {
  request_id: string;
  kind: string;
  requester_uid: number | null;
  requester_pid: number | null;
  requester_exe: string | null;
  target: string;
  outcome: string;
  scope: string | null;
  detail: string | null;
  created_at: number;
  decided_at: number | null;
  reason?: string | null;
  rule?: string | null;
  chain?: Buffer | null;
}

export function historyEntryFromRow(row: AuditDbRow): HistoryEntry {
  return {
    id: row.request_id,
    kind: row.kind as HistoryEntry['kind'],
    requesterUid: row.requester_uid ?? -1,
    requesterPid: row.requester_pid,
    requesterExe: row.requester_exe,
    target: row.target,
    outcome: row.outcome as HistoryEntry['outcome'],
    scope: row.scope,
    detail: row.detail,
    createdAt: row.created_at,
    decidedAt: row.decided_at,
    reason: row.reason ?? null,
    rule: row.rule ?? null,
  };
}

/** Target text for audit rows and summaries: label plus attribute names and values, capped. */
export function describeTarget(label: string, attributes: Record<string, string>, maxChars = 512): string {
  const attrs = Object.entries(attributes).map(([k, v]) => `${k}=${v}`).join(', ');
  const text = attrs ? `'${label}' {${attrs}}` : `'${label}'`;
  return text.length > maxChars ? `${text.slice(0, maxChars - 3)}...` : text;
}
