// Any desktop process may lock the store, and a lock ends every pending request and makes the
// human type the passphrase again: in a loop that is a denial of service. So a lock asked for
// from the desktop is honoured at most once per interval (boot clock); the console's own lock
// (`l`) always works. A refused lock leaves the store as it was and says when to try again.
import { SdError } from '../core/errors.js';
import type { Clock } from './clock.js';

export class DesktopLockLimit {
  private lastBoot = Number.NEGATIVE_INFINITY;

  constructor(private readonly clock: Clock, private readonly intervalMs: number) {}

  /** Throws RateLimited while the last desktop lock is more recent than the interval. */
  check(): void {
    const now = this.clock.boot();
    const wait = this.lastBoot + this.intervalMs - now;
    if (wait > 0) {
      throw new SdError('RateLimited', `The store was locked from the desktop ${Math.round((now - this.lastBoot) / 1000)} s ago; a desktop lock is honoured once every ${Math.round(this.intervalMs / 1000)} s. Lock it on the console (l), or try again in ${Math.ceil(wait / 1000)} s.`);
    }
    this.lastBoot = now;
  }
}
