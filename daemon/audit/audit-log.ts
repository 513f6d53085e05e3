// The audit log: an append-only SQLite table beside the store (core/audit.ts has the layout).
// Rows carry who, what, when, outcome and scope, never a secret. The file is 0600: only the
// companion (and root) may read what was asked for.
import { closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { AUDIT_SCHEMA, AUDIT_SELECT_NEWEST, chainHash, CHAIN_GENESIS, historyEntryFromRow, type AuditDbRow } from '../../core/audit.js';
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
    if (!columns.includes('chain')) this.db.exec('ALTER TABLE audit ADD COLUMN chain BLOB');
    const last = this.db.prepare('SELECT chain FROM audit WHERE chain IS NOT NULL ORDER BY seq DESC LIMIT 1').get() as { chain: Buffer } | undefined;
    this.lastChain = last?.chain ?? CHAIN_GENESIS;
    this.insert = this.db.prepare(`INSERT INTO audit (request_id, kind, requester_uid, requester_pid, requester_exe, target, outcome, scope, detail, created_at, decided_at, chain)
      VALUES (@request_id, @kind, @requester_uid, @requester_pid, @requester_exe, @target, @outcome, @scope, @detail, @created_at, @decided_at, @chain)`);
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
