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
}

/**
 * Append-only: the daemon never updates or deletes rows. Each row carries `chain`, a SHA-256 over
 * the previous row's chain and this row's fields, so an edited, inserted or deleted row breaks
 * every chain value after it (`secrets-dispatcher history --verify`). Rows written before chaining
 * existed have a NULL chain and are skipped by verification.
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
`;

export const AUDIT_SELECT_NEWEST = `SELECT request_id, kind, requester_uid, requester_pid, requester_exe, target, outcome, scope, detail, created_at, decided_at
  FROM audit ORDER BY seq DESC LIMIT ?`;

export const AUDIT_SELECT_CHAIN_ORDER = `SELECT seq, request_id, kind, requester_uid, requester_pid, requester_exe, target, outcome, scope, detail, created_at, decided_at, chain
  FROM audit ORDER BY seq ASC`;

export const CHAIN_GENESIS: Buffer = Buffer.alloc(32);

/** The chain value of one row, from the previous row's chain and this row's fields. */
export function chainHash(previous: Buffer, row: Omit<AuditDbRow, 'chain'>): Buffer {
  const fields = [row.request_id, row.kind, row.requester_uid, row.requester_pid, row.requester_exe, row.target, row.outcome, row.scope, row.detail, row.created_at, row.decided_at];
  return createHash('sha256').update(previous).update(JSON.stringify(fields)).digest();
}

/** The seq of the first row whose chain does not match, or null when the whole log is intact. */
export function verifyChain(rows: Iterable<AuditDbRow & { seq: number }>): { checked: number; brokenAt: number | null } {
  let previous: Buffer = CHAIN_GENESIS;
  let checked = 0;
  for (const row of rows) {
    if (row.chain == null) continue;
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
  };
}

/** Target text for audit rows and summaries: label plus attribute names and values, capped. */
export function describeTarget(label: string, attributes: Record<string, string>, maxChars = 512): string {
  const attrs = Object.entries(attributes).map(([k, v]) => `${k}=${v}`).join(', ');
  const text = attrs ? `'${label}' {${attrs}}` : `'${label}'`;
  return text.length > maxChars ? `${text.slice(0, maxChars - 3)}...` : text;
}
