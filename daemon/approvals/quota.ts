// Per-UID quotas in fixed windows on the boot clock: "at most N of these per UID per window".
// Used where a desktop process could otherwise make the daemon write without bound: items created
// without asking, and audit rows for requests no human decided.
import type { Clock } from '../clock.js';

interface Window { startBoot: number; used: number; over: number; firstOverWall: number }

export interface QuotaOverflow { uid: number; over: number; firstOverWall: number; windowStartBoot: number }

export class UidQuota {
  private readonly windows = new Map<number, Window>();

  /**
   * `onWindowEnd` hears, once per window, how many uses were over the quota in a window that has
   * ended (so an overflow is always reported, never a silent gap).
   */
  constructor(
    private readonly clock: Clock,
    readonly limit: number,
    readonly windowMs: number,
    private readonly onWindowEnd: (overflow: QuotaOverflow) => void = () => undefined,
  ) {}

  /** Counts one use; true while within the quota. */
  take(uid: number): boolean {
    const w = this.current(uid);
    if (w.used < this.limit) {
      w.used++;
      return true;
    }
    if (w.over === 0) w.firstOverWall = this.clock.wall();
    w.over++;
    return false;
  }

  /** Ends every window whose time is up (and, with `all`, every window), reporting overflows. */
  roll(all = false): void {
    const now = this.clock.boot();
    for (const [uid, w] of this.windows) {
      if (all || now - w.startBoot >= this.windowMs) {
        this.windows.delete(uid);
        if (w.over > 0) this.onWindowEnd({ uid, over: w.over, firstOverWall: w.firstOverWall, windowStartBoot: w.startBoot });
      }
    }
  }

  /** True if some window holds an overflow not yet reported. */
  get pendingOverflow(): boolean {
    for (const w of this.windows.values()) if (w.over > 0) return true;
    return false;
  }

  private current(uid: number): Window {
    const w = this.windows.get(uid);
    if (w && this.clock.boot() - w.startBoot < this.windowMs) return w;
    if (w) this.roll();
    const fresh: Window = { startBoot: this.clock.boot(), used: 0, over: 0, firstOverWall: 0 };
    this.windows.set(uid, fresh);
    return fresh;
  }
}
