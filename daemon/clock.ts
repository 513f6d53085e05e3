// Two clocks, because neither alone is safe. Deadlines and grant lifetimes run on CLOCK_BOOTTIME:
// it cannot be stepped (by NTP, by the user, by `date -s`) and, unlike CLOCK_MONOTONIC and
// Node's timers, it keeps counting while the machine is suspended, so ten minutes of suspend count
// as ten minutes of a grant. Wall time is what a person reads (the console's clock, audit rows)
// and what a grant that outlives a reboot would have to be checked against; a lifetime ends when
// either clock says so, so stepping the wall clock back never extends anything.
import { sdNative } from '../core/native.js';

export interface Clock {
  /** Milliseconds since the epoch: for display and audit only. */
  wall(): number;
  /** Milliseconds since boot, suspend included: for deadlines and lifetimes. */
  boot(): number;
}

/** CLOCK_BOOTTIME, through the project's addon (Node has no binding for it). */
export function bootTimeMs(): number {
  const ms = sdNative().bootTimeMs();
  if (ms < 0) throw new Error(`clock_gettime(CLOCK_BOOTTIME) failed (errno ${-ms})`);
  return ms;
}

export const systemClock: Clock = { wall: Date.now, boot: bootTimeMs };

/**
 * A lifetime measured on both clocks: it ends at `durationMs` after its start on the boot clock,
 * or at the wall-clock instant that was then `durationMs` away, whichever comes first.
 */
export interface Lifetime { startWall: number; endWall: number; endBoot: number }

export function lifetime(clock: Clock, durationMs: number): Lifetime {
  const startWall = clock.wall();
  return { startWall, endWall: startWall + durationMs, endBoot: clock.boot() + durationMs };
}

/** A deadline on the boot clock alone: a stepped wall clock neither stalls nor hastens it. */
export function deadline(clock: Clock, durationMs: number): Lifetime {
  return { startWall: clock.wall(), endWall: Number.POSITIVE_INFINITY, endBoot: clock.boot() + durationMs };
}

export function ended(clock: Clock, l: Lifetime): boolean {
  return clock.boot() >= l.endBoot || clock.wall() >= l.endWall;
}

/** Milliseconds left on the boot clock (never counting on the wall clock, which may be stepped forward). */
export function remainingMs(clock: Clock, l: Lifetime): number {
  return Math.max(0, Math.min(l.endBoot - clock.boot(), l.endWall - clock.wall()));
}

/** The end as a wall-clock instant for display: now plus what is left, so a stepped clock shows the truth. */
export function displayEnd(clock: Clock, l: Lifetime): number {
  return Math.round(clock.wall() + remainingMs(clock, l));
}
