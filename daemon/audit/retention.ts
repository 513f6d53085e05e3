// Audit retention: rows older than `audit.retentionDays` are pruned when the daemon starts and
// once a day after (AuditLog.prune keeps the hash chain verifiable from an anchor). "A day" is
// counted on the boot clock, so stepping the wall clock neither skips nor repeats a run; the
// cutoff is wall time, because that is what the rows carry. 0 days keeps every row.
import type { Logger } from '../../core/logger.js';
import type { Clock } from '../clock.js';

const DAY_MS = 86_400_000;
/** How often the daily run is looked for: Node's timers do not count suspend, the boot clock does. */
const CHECK_MS = 3_600_000;

export interface Prunable {
  prune(cutoff: number, now: number, retentionDays: number): number;
}

export class AuditRetention {
  private lastRunBoot: number | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly log: Prunable, private readonly clock: Clock, private readonly retentionDays: number, private readonly logger: Logger) {}

  /** Prune now, then look every hour whether a day has passed since the last run. */
  start(): void {
    if (this.retentionDays === 0) return;
    this.runIfDue();
    this.timer = setInterval(() => this.runIfDue(), CHECK_MS);
    this.timer.unref();
  }

  /** Prunes when no run happened yet or the last was a day ago (boot clock); returns rows deleted. */
  runIfDue(): number {
    if (this.retentionDays === 0) return 0;
    const boot = this.clock.boot();
    if (this.lastRunBoot !== null && boot - this.lastRunBoot < DAY_MS) return 0;
    this.lastRunBoot = boot;
    const now = this.clock.wall();
    try {
      return this.log.prune(now - this.retentionDays * DAY_MS, now, this.retentionDays);
    } catch (err) {
      this.logger.error('audit retention failed', { error: (err as Error).message });
      return 0;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
