// Remembered decisions: "this requester (UID + executable) may do this kind of thing to these
// targets for N minutes". Kept in memory only: a daemon restart forgets them, which errs on the
// side of asking again. A grant's lifetime is kept on both clocks (clock.ts) and ends when either
// says so; the wire's expiresAt is for display.
import { randomBytes } from 'node:crypto';
import type { RememberedDecision, RequestKind } from '../../core/wire.js';
import { displayEnd, ended, lifetime, type Clock, type Lifetime } from '../clock.js';

export interface RememberKey { kind: RequestKind; uid: number; exe: string }

export class RememberedDecisions {
  private readonly entries = new Map<string, RememberedDecision>();
  private readonly lifetimes = new Map<string, Lifetime>();

  constructor(private readonly clock: Clock) {}

  add(key: RememberKey, targets: string[], targetLabel: string, minutes: number): RememberedDecision[] {
    const added: RememberedDecision[] = [];
    for (const target of targets) {
      // A newer grant for the same requester and target replaces the older one.
      for (const [id, e] of this.entries) {
        if (e.kind === key.kind && e.uid === key.uid && e.exe === key.exe && e.target === target) this.revoke(id);
      }
      const life = lifetime(this.clock, minutes * 60_000);
      const entry: RememberedDecision = {
        id: `m${randomBytes(6).toString('hex')}`,
        kind: key.kind, uid: key.uid, exe: key.exe, target, targetLabel,
        createdAt: life.startWall, expiresAt: life.endWall,
      };
      this.entries.set(entry.id, entry);
      this.lifetimes.set(entry.id, life);
      added.push(entry);
    }
    return added;
  }

  /** True when every target is covered by an unexpired grant for exactly this requester. */
  covers(key: RememberKey, targets: string[]): RememberedDecision | null {
    if (targets.length === 0) return null;
    this.prune();
    let first: RememberedDecision | null = null;
    for (const target of targets) {
      let hit: RememberedDecision | null = null;
      for (const e of this.entries.values()) {
        if (e.kind === key.kind && e.uid === key.uid && e.exe === key.exe && e.target === target) {
          hit = e;
          break;
        }
      }
      if (!hit) return null;
      first ??= hit;
    }
    return first;
  }

  list(): RememberedDecision[] {
    this.prune();
    return [...this.entries.values()]
      .map((e) => ({ ...e, expiresAt: displayEnd(this.clock, this.lifetimes.get(e.id)!) }))
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  revoke(id: string): boolean {
    this.lifetimes.delete(id);
    return this.entries.delete(id);
  }

  /** Returns how many expired grants were dropped. */
  prune(): number {
    let dropped = 0;
    for (const [id, life] of this.lifetimes) {
      if (ended(this.clock, life)) {
        this.revoke(id);
        dropped++;
      }
    }
    return dropped;
  }
}
