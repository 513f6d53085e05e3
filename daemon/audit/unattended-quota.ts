// Audit rows for requests that no human decided (refused at once, withdrawn by the requester,
// expired, and their "pending" rows) are capped per UID and minute: a desktop process sending
// requests in a loop would otherwise grow the audit log without bound. Over the quota, rows are
// counted instead of written, and when the window ends one row says how many were not recorded,
// so the log never has a silent gap. Rows a human decided, and rows a grant answered, always go
// through.
import type { RequesterInfo } from '../../core/wire.js';
import type { Clock } from '../clock.js';
import { UidQuota, type QuotaOverflow } from '../approvals/quota.js';
import type { AuditSink } from '../services.js';
import { counted } from '../../core/counted.js';

type AuditRecord = Parameters<AuditSink['record']>[0];

const UNATTENDED = new Set(['refused', 'cancelled', 'expired', 'pending']);

export class UnattendedRowQuota implements AuditSink {
  private readonly quota: UidQuota;
  private readonly kinds = new Map<number, AuditRecord['kind']>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly sink: AuditSink, private readonly clock: Clock, rowsPerMinute: number) {
    this.quota = new UidQuota(clock, rowsPerMinute, 60_000, (o) => this.summarize(o));
  }

  record(entry: AuditRecord): void {
    const uid = entry.requester?.uid;
    if (uid === undefined || !UNATTENDED.has(entry.outcome) || this.quota.take(uid)) {
      this.sink.record(entry);
      return;
    }
    if (!this.kinds.has(uid)) this.kinds.set(uid, entry.kind);
    // The summary row is written when the window ends even if no further row comes.
    this.timer ??= setInterval(() => {
      this.quota.roll();
      if (!this.quota.pendingOverflow && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    }, 5_000);
  }

  /** Writes the summary rows still owed (the daemon is stopping). */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.quota.roll(true);
  }

  private summarize(o: QuotaOverflow): void {
    const at = this.clock.wall();
    const requester: RequesterInfo = { busName: '', uid: o.uid, userName: null, process: null, chain: [], systemdUnit: null, claimed: {} };
    this.sink.record({
      requestId: `q${o.uid}-${Math.round(o.windowStartBoot)}`, kind: this.kinds.get(o.uid) ?? 'secret', requester,
      target: `${counted(o.over, 'request')} from uid ${o.uid} not recorded: over the quota of ${this.quota.limit} rows a minute for requests nobody decided`,
      outcome: 'refused', detail: 'QuotaExceeded', createdAt: o.firstOverWall, decidedAt: at,
    });
    this.kinds.delete(o.uid);
  }
}
