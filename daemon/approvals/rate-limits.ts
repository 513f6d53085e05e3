// How often a program may make a human look, and when a grant stops answering for it. Keyed only on
// what the daemon verified: the bus UID and the executable of the process that opened the
// connection (requester.process.exe). Never on a claim (`requester.exe` in the context): a caller
// could claim to be another program and put that program into cooldown, or claim a fresh name
// each time and never reach a limit.
//
// Four limits (defaults in core/config.ts `rateLimits`):
// - prompts a minute per subject (UID + executable) and per UID: over either, RateLimited at once;
// - after K prompts denied, expired or abandoned within a window: a cooldown of T minutes in which
//   the subject is refused without asking;
// - a burst of distinct items read under remembered decisions (N items in S seconds): the
//   subject's grants stop answering and its next read is asked, until a human approves one of its
//   prompts, the console lifts the pause, or T minutes pass.
// The console lists what is in force (notices()) and may lift any of it (lift()).
// Every time here is on the boot clock alone (clock.ts deadline): stepping the wall clock neither
// ends a cooldown early nor makes one last longer.
import { randomBytes } from 'node:crypto';
import type { Config } from '../../core/config.js';
import { LIMITS } from '../../core/limits.js';
import type { RateLimitNotice, RequesterInfo } from '../../core/wire.js';
import { deadline, displayEnd, ended, type Clock, type Lifetime } from '../clock.js';

export type RateLimitSettings = Config['rateLimits'];

/** How a request that a human was asked about ended, as the gate's finish() saw it. */
export type PromptEnd = 'approved' | 'denied' | 'expired' | 'cancelled';

interface SubjectState {
  /** For the console to name it in LiftCooldown; random, so it says nothing about the subject. */
  id: string;
  uid: number;
  words: string;
  /** Boot-clock instants of prompts in the last minute, oldest first. */
  prompts: number[];
  /** Boot-clock instants of prompts denied or unanswered within the cooldown window. */
  unanswered: number[];
  cooldown: Lifetime | null;
  /** Distinct items read under grants, with when each was last read (boot clock). */
  reads: Map<string, number>;
  burstPause: Lifetime | null;
  /** Requests refused since the current limit began: the console shows how hard it is pressed. */
  refused: number;
}

interface UidState { id: string; prompts: number[]; refused: number }

const MINUTE = 60_000;

/** The verified subject of a request: its UID and its opener's executable (null: it had exited). */
export function subjectOf(requester: RequesterInfo): { key: string; uid: number; words: string } {
  const exe = requester.process?.exe ?? null;
  return {
    key: `${requester.uid}\0${exe ?? ''}`,
    uid: requester.uid,
    words: exe ? `${exe} (uid ${requester.uid})` : `a program of uid ${requester.uid} whose executable could not be read`,
  };
}

function dropBefore(times: number[], cutoff: number): void {
  let n = 0;
  while (n < times.length && times[n]! <= cutoff) n++;
  if (n) times.splice(0, n);
}

export class RateLimits {
  private readonly subjects = new Map<string, SubjectState>();
  private readonly uids = new Map<number, UidState>();
  private pruneAt = 64;

  /** `changed` is called when a limit starts or ends, so the console can show it. */
  constructor(private readonly clock: Clock, private readonly settings: RateLimitSettings, private readonly changed: () => void = () => undefined) {}

  /**
   * Before a human is asked: while the subject is in cooldown or over a per-minute cap, the
   * detail of the RateLimited refusal (why, until when); otherwise null. Only prompted() counts.
   */
  admit(requester: RequesterInfo): string | null {
    const subject = subjectOf(requester);
    const s = this.subjectState(subject.key, subject.uid, subject.words);
    const u = this.uidState(subject.uid);
    const now = this.clock.boot();
    this.expire(s);
    if (s.cooldown) {
      s.refused++;
      return `${s.words} is in cooldown until ${iso(displayEnd(this.clock, s.cooldown))} after ${this.settings.cooldownAfterUnanswered} requests denied or unanswered; it is refused without asking until then (the console can lift it).`;
    }
    dropBefore(s.prompts, now - MINUTE);
    dropBefore(u.prompts, now - MINUTE);
    if (s.prompts.length >= this.settings.promptsPerMinutePerSubject) {
      if (s.refused++ === 0) this.changed();
      return `${s.words} asked more than ${this.settings.promptsPerMinutePerSubject} times a minute; try again after ${iso(this.wallAt(s.prompts[0]! + MINUTE))}.`;
    }
    if (u.prompts.length >= this.settings.promptsPerMinutePerUid) {
      if (u.refused++ === 0) this.changed();
      return `programs of uid ${subject.uid} asked more than ${this.settings.promptsPerMinutePerUid} times a minute; try again after ${iso(this.wallAt(u.prompts[0]! + MINUTE))}.`;
    }
    return null;
  }

  /**
   * A human is being asked (the request is on the console): it counts towards the caps. Requests
   * refused for another reason (no console, queue full) do not, so they keep their own error.
   */
  prompted(requester: RequesterInfo): void {
    const subject = subjectOf(requester);
    const s = this.subjectState(subject.key, subject.uid, subject.words);
    const u = this.uidState(subject.uid);
    const now = this.clock.boot();
    s.refused = 0;
    u.refused = 0;
    s.prompts.push(now);
    u.prompts.push(now);
  }

  /**
   * A read that remembered decisions cover: true when the subject's grants are paused (a burst
   * tripped now or earlier), so the gate asks instead of answering from the grant.
   */
  burstPaused(requester: RequesterInfo, itemIds: readonly string[]): boolean {
    const subject = subjectOf(requester);
    const s = this.subjectState(subject.key, subject.uid, subject.words);
    const now = this.clock.boot();
    this.expire(s);
    if (s.burstPause) return true;
    forgetReadsBefore(s.reads, now - this.settings.burstSeconds * 1000);
    for (const item of itemIds) {
      // Delete first: the map stays in order of the last read, oldest first.
      s.reads.delete(item);
      s.reads.set(item, now);
    }
    if (s.reads.size < this.settings.burstDistinctItems) return false;
    s.reads.clear();
    s.burstPause = deadline(this.clock, this.settings.cooldownMinutes * MINUTE);
    this.changed();
    return true;
  }

  /** A request a human was asked about ended: denials and silence count towards a cooldown. */
  finished(requester: RequesterInfo, end: PromptEnd): void {
    const subject = subjectOf(requester);
    const s = this.subjects.get(subject.key);
    if (!s && end === 'approved') return;
    const state = s ?? this.subjectState(subject.key, subject.uid, subject.words);
    const now = this.clock.boot();
    this.expire(state);
    if (end === 'approved') {
      // A human looked at one of its requests and said yes: its grants may answer again.
      if (state.burstPause) {
        state.burstPause = null;
        this.changed();
      }
      return;
    }
    // Requests that were already waiting when the cooldown began do not extend it.
    if (state.cooldown) return;
    dropBefore(state.unanswered, now - this.settings.cooldownWindowMinutes * MINUTE);
    state.unanswered.push(now);
    if (state.unanswered.length < this.settings.cooldownAfterUnanswered) return;
    state.unanswered = [];
    state.cooldown = deadline(this.clock, this.settings.cooldownMinutes * MINUTE);
    state.refused = 0;
    this.changed();
  }

  /** What is in force now, for the console's Status: cooldowns, paused grants, subjects and UIDs over a cap. */
  notices(): RateLimitNotice[] {
    const now = this.clock.boot();
    const out: RateLimitNotice[] = [];
    for (const s of this.subjects.values()) {
      this.expire(s);
      dropBefore(s.prompts, now - MINUTE);
      const base = { id: s.id, subject: s.words, uid: s.uid };
      if (s.cooldown) out.push({ ...base, why: 'cooldown', until: displayEnd(this.clock, s.cooldown), refused: s.refused });
      else if (s.refused > 0 && s.prompts.length >= this.settings.promptsPerMinutePerSubject) {
        out.push({ ...base, why: 'prompts', until: this.wallAt(s.prompts[0]! + MINUTE), refused: s.refused });
      }
      if (s.burstPause) out.push({ ...base, why: 'burst', until: displayEnd(this.clock, s.burstPause), refused: 0 });
    }
    for (const [uid, u] of this.uids) {
      dropBefore(u.prompts, now - MINUTE);
      if (u.refused > 0 && u.prompts.length >= this.settings.promptsPerMinutePerUid) {
        out.push({ id: u.id, subject: `any program of uid ${uid}`, uid, why: 'prompts', until: this.wallAt(u.prompts[0]! + MINUTE), refused: u.refused });
      }
    }
    this.prune(now);
    // However many executables a caller runs into limits, Status stays display-sized.
    return out.sort((a, b) => a.until - b.until).slice(0, LIMITS.shownListRows);
  }

  /** The console lifts a limit: the subject (or UID) starts afresh. False: no such id. */
  lift(id: string): { subject: string; uid: number } | null {
    for (const [key, s] of this.subjects) {
      if (s.id !== id) continue;
      this.subjects.delete(key);
      this.changed();
      return { subject: s.words, uid: s.uid };
    }
    for (const [uid, u] of this.uids) {
      if (u.id !== id) continue;
      this.uids.delete(uid);
      this.changed();
      return { subject: `any program of uid ${uid}`, uid };
    }
    return null;
  }

  private subjectState(key: string, uid: number, words: string): SubjectState {
    let s = this.subjects.get(key);
    if (!s) {
      // Forget subjects with nothing left to remember whenever the map has doubled since: it stays
      // near the size of what is in force, however many executables a caller tries, at a cost
      // per request that does not grow with it.
      if (this.subjects.size >= this.pruneAt) {
        this.prune(this.clock.boot());
        this.pruneAt = Math.max(64, 2 * this.subjects.size);
      }
      s = { id: newId('c'), uid, words, prompts: [], unanswered: [], cooldown: null, reads: new Map(), burstPause: null, refused: 0 };
      this.subjects.set(key, s);
    }
    return s;
  }

  private uidState(uid: number): UidState {
    let u = this.uids.get(uid);
    if (!u) {
      u = { id: newId('u'), prompts: [], refused: 0 };
      this.uids.set(uid, u);
    }
    return u;
  }

  private expire(s: SubjectState): void {
    let any = false;
    if (s.cooldown && ended(this.clock, s.cooldown)) {
      s.cooldown = null;
      s.refused = 0;
      any = true;
    }
    if (s.burstPause && ended(this.clock, s.burstPause)) {
      s.burstPause = null;
      any = true;
    }
    if (any) this.changed();
  }

  private prune(now: number): void {
    const window = now - this.settings.cooldownWindowMinutes * MINUTE;
    const burst = now - this.settings.burstSeconds * 1000;
    for (const [key, s] of this.subjects) {
      this.expire(s);
      dropBefore(s.prompts, now - MINUTE);
      dropBefore(s.unanswered, window);
      forgetReadsBefore(s.reads, burst);
      if (!s.cooldown && !s.burstPause && !s.prompts.length && !s.unanswered.length && !s.reads.size) this.subjects.delete(key);
    }
    for (const [uid, u] of this.uids) {
      dropBefore(u.prompts, now - MINUTE);
      if (!u.prompts.length) this.uids.delete(uid);
    }
  }

  /** A boot-clock instant as wall time for display: now plus how far away it is. */
  private wallAt(boot: number): number {
    return Math.round(this.clock.wall() + Math.max(0, boot - this.clock.boot()));
  }
}

/** Reads are kept oldest first, so this stops at the first one still within the burst's seconds. */
function forgetReadsBefore(reads: Map<string, number>, cutoff: number): void {
  for (const [item, at] of reads) {
    if (at > cutoff) return;
    reads.delete(item);
  }
}

function newId(prefix: string): string {
  return `${prefix}${randomBytes(6).toString('hex')}`;
}

function iso(wall: number): string {
  return new Date(wall).toISOString();
}
