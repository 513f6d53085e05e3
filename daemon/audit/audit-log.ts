// The audit log: an append-only SQLite table beside the store (core/audit.ts has the layout).
// Rows carry who, what, when, outcome and scope, never a secret. The file is 0600: only the
// companion (and root) may read what was asked for.
import { closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { AUDIT_ADDED_COLUMNS, AUDIT_SCHEMA, AUDIT_SELECT_ANCHOR, AUDIT_SELECT_NEWEST, AUDIT_SELECT_RULE, chainHash, CHAIN_GENESIS, historyEntryFromRow, type AuditAnchor, type AuditDbRow } from '../../core/audit.js';
import { LIMITS } from '../../core/limits.js';
import type { Logger } from '../../core/logger.js';
import type { HistoryEntry } from '../../core/wire.js';
import type { AuditSink } from '../services.js';

type AuditRecord = Parameters<AuditSink['record']>[0];

export class AuditLog implements AuditSink {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private lastChain: Buffer;
  private queued: AuditRecord[] = [];
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(path: string, private readonly logger: Logger) {
    // Create with 0600 before SQLite opens it, so there is no moment with a wider mode.
    closeSync(openSync(path, 'a', 0o600));
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    // Append-mostly: a small page cache is enough (better-sqlite3's default is 16 MiB).
    this.db.pragma('cache_size = -1024');
    this.db.exec(AUDIT_SCHEMA);
    const columns = (this.db.prepare('PRAGMA table_info(audit)').all() as { name: string }[]).map((c) => c.name);
    for (const [name, type] of AUDIT_ADDED_COLUMNS) if (!columns.includes(name)) this.db.exec(`ALTER TABLE audit ADD COLUMN ${name} ${type}`);
    const last = this.db.prepare('SELECT chain FROM audit WHERE chain IS NOT NULL ORDER BY seq DESC LIMIT 1').get() as { chain: Buffer } | undefined;
    this.lastChain = last?.chain ?? CHAIN_GENESIS;
    this.insert = this.db.prepare(`INSERT INTO audit (request_id, kind, requester_uid, requester_pid, requester_exe, target, outcome, scope, detail, created_at, decided_at, reason, rule, chain)
      VALUES (@request_id, @kind, @requester_uid, @requester_pid, @requester_exe, @target, @outcome, @scope, @detail, @created_at, @decided_at, @reason, @rule, @chain)`);
  }

  /**
   * Rows for reads covered by a remembered decision are the hot path; they are written in one
   * transaction up to 100 ms later. Every other row is written at once (and flushes the queue
   * first, so the order is kept).
   */
  record(entry: AuditRecord): void {
    if (entry.outcome === 'remembered') {
      this.queued.push(entry);
      this.flushTimer ??= setTimeout(() => this.flush(), 100);
      this.flushTimer.unref();
      return;
    }
    this.flush();
    this.write(entry);
  }

  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.queued.length === 0) return;
    const rows = this.queued.splice(0);
    try {
      this.db.transaction(() => {
        for (const row of rows) this.write(row);
      })();
    } catch (err) {
      this.logger.error('audit rows could not be written', { error: (err as Error).message, rows: rows.length });
    }
  }

  private write(entry: AuditRecord): void {
    const row: Omit<AuditDbRow, 'chain'> = {
      request_id: entry.requestId, kind: entry.kind, requester_uid: entry.requester?.uid ?? null,
      requester_pid: entry.requester?.process?.pid ?? null, requester_exe: entry.requester?.process?.exe ?? null,
      target: entry.target, outcome: entry.outcome, scope: entry.scope ?? null, detail: withOpenerChanges(entry),
      created_at: Math.round(entry.createdAt), decided_at: entry.decidedAt == null ? null : Math.round(entry.decidedAt),
      reason: entry.reason ?? null, rule: entry.rule ?? null,
    };
    try {
      const chain = chainHash(this.lastChain, row);
      this.insert.run({ ...row, chain });
      this.lastChain = chain;
    } catch (err) {
      // Losing an audit row must be loud, but must not turn an answered request into a failure.
      this.logger.error('audit row could not be written', { error: (err as Error).message });
    }
  }

  history(limit: number): HistoryEntry[] {
    this.flush();
    const n = Math.min(Math.max(limit || 100, 1), LIMITS.historyRows);
    return (this.db.prepare(AUDIT_SELECT_NEWEST).all(n) as AuditDbRow[]).map(historyEntryFromRow);
  }

  /** Rows allowed by, or made by, one grant or rule, newest first. */
  historyOfRule(rule: string, limit: number): HistoryEntry[] {
    this.flush();
    const n = Math.min(Math.max(limit || 100, 1), LIMITS.historyRows);
    return (this.db.prepare(AUDIT_SELECT_RULE).all(rule, n) as AuditDbRow[]).map(historyEntryFromRow);
  }

  /**
   * Retention: delete the oldest rows, those decided (or created) before `cutoff` (ms since the
   * epoch), as a prefix of the chain: the first row at or after the cutoff and everything after
   * it stay, so a row written out of time order is kept rather than leaving a gap. The chain value
   * of the last deleted row becomes the anchor verification starts from, and one chained row says
   * what was pruned. Returns how many rows were deleted.
   */
  prune(cutoff: number, now: number, retentionDays: number): number {
    this.flush();
    const first = this.db.prepare('SELECT MIN(seq) AS seq FROM audit WHERE coalesce(decided_at, created_at) >= ?').get(Math.round(cutoff)) as { seq: number | null };
    const through = first.seq === null
      ? (this.db.prepare('SELECT MAX(seq) AS seq FROM audit').get() as { seq: number | null }).seq
      : first.seq - 1;
    if (through === null) return 0;
    let deleted = 0;
    try {
      this.db.transaction(() => {
        const last = this.db.prepare('SELECT chain FROM audit WHERE seq <= ? AND chain IS NOT NULL ORDER BY seq DESC LIMIT 1').get(through) as { chain: Buffer } | undefined;
        deleted = this.db.prepare('DELETE FROM audit WHERE seq <= ?').run(through).changes;
        if (deleted === 0) return;
        const before = this.db.prepare(AUDIT_SELECT_ANCHOR).get() as AuditAnchor | undefined;
        this.db.prepare(`INSERT INTO audit_anchor (id, through_seq, chain, pruned, pruned_at) VALUES (1, @through_seq, @chain, @pruned, @pruned_at)
          ON CONFLICT(id) DO UPDATE SET through_seq = excluded.through_seq, chain = excluded.chain, pruned = excluded.pruned, pruned_at = excluded.pruned_at`)
          .run({ through_seq: through, chain: last?.chain ?? before?.chain ?? CHAIN_GENESIS, pruned: (before?.pruned ?? 0) + deleted, pruned_at: Math.round(now) });
        this.write({
          requestId: `p${Math.round(now)}`, kind: 'store', requester: null, target: 'audit log', outcome: 'done',
          detail: `retention: pruned ${deleted} rows older than ${retentionDays} days (through row ${through})`, createdAt: now, decidedAt: now,
        });
      })();
    } catch (err) {
      this.logger.error('audit retention failed', { error: (err as Error).message });
      return 0;
    }
    if (deleted > 0) this.logger.info('audit rows pruned', { rows: deleted, throughSeq: through, retentionDays });
    return deleted;
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}

/** A row about a request whose connection's opener changed program between reads says so. */
function withOpenerChanges(entry: AuditRecord): string | null {
  const changes = entry.requester?.changes;
  if (!changes?.length) return entry.detail ?? null;
  return [entry.detail, `opener ${changes.join('; ')}`].filter(Boolean).join(': ').slice(0, 1024);
}
