// Remembered decisions: "this holder (UID + anchor, see grant-scope.ts) may do this kind of thing
// to these targets for N minutes". Kept in memory only: a daemon restart forgets them, which errs
// on the side of asking again. A grant's lifetime is kept on both clocks (clock.ts) and ends when
// either says so; the wire's expiresAt is for display.
import { randomBytes } from 'node:crypto';
import type { RememberedDecision, RequestKind } from '../../core/wire.js';
import { displayEnd, ended, lifetime, type Clock, type Lifetime } from '../clock.js';
import type { GrantHolder } from './grant-scope.js';

export interface RememberKey extends GrantHolder { kind: RequestKind; uid: number; exe: string }

interface Entry extends RememberedDecision { anchor: string; opener: GrantHolder['opener'] }

/** True while the process (PID + start time) still runs. */
export type OpenerAlive = (pid: number, startTime: number) => boolean;

function sameHolder(e: Entry, key: RememberKey): boolean {
  return e.kind === key.kind && e.uid === key.uid && e.anchor === key.anchor;
}

export class RememberedDecisions {
  private readonly entries = new Map<string, Entry>();
  private readonly lifetimes = new Map<string, Lifetime>();

  constructor(private readonly clock: Clock, private readonly openerAlive: OpenerAlive = () => true) {}

  add(key: RememberKey, targets: string[], targetLabel: string, minutes: number): RememberedDecision[] {
    const added: RememberedDecision[] = [];
    for (const target of targets) {
      // A newer grant for the same holder and target replaces the older one.
      for (const [id, e] of this.entries) {
        if (sameHolder(e, key) && e.target === target) this.revoke(id);
      }
      const life = lifetime(this.clock, minutes * 60_000);
      const entry: Entry = {
        id: `m${randomBytes(6).toString('hex')}`,
        kind: key.kind, uid: key.uid, exe: key.exe, holder: key.words, target, targetLabel,
        createdAt: life.startWall, expiresAt: life.endWall, anchor: key.anchor, opener: key.opener,
      };
      this.entries.set(entry.id, entry);
      this.lifetimes.set(entry.id, life);
      added.push(publicView(entry));
    }
    return added;
  }

  /** True when every target is covered by an unexpired grant for exactly this holder. */
  covers(key: RememberKey, targets: string[]): RememberedDecision | null {
    if (targets.length === 0) return null;
    this.prune();
    let first: Entry | null = null;
    for (const target of targets) {
      let hit: Entry | null = null;
      for (const e of this.entries.values()) {
        if (sameHolder(e, key) && e.target === target) {
          hit = e;
          break;
        }
      }
      if (!hit) return null;
      first ??= hit;
    }
    return first && publicView(first);
  }

  list(): RememberedDecision[] {
    this.prune();
    return [...this.entries.values()]
      .map((e) => ({ ...publicView(e), expiresAt: displayEnd(this.clock, this.lifetimes.get(e.id)!) }))
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  revoke(id: string): boolean {
    this.lifetimes.delete(id);
    return this.entries.delete(id);
  }

  /** Returns how many grants were dropped: expired, or bound to a process that has exited. */
  prune(): number {
    let dropped = 0;
    for (const [id, e] of this.entries) {
      if (ended(this.clock, this.lifetimes.get(id)!) || (e.opener && !this.openerAlive(e.opener.pid, e.opener.startTime))) {
        this.revoke(id);
        dropped++;
      }
    }
    return dropped;
  }
}

function publicView(e: Entry): RememberedDecision {
  const { anchor: _anchor, opener: _opener, ...view } = e;
  return view;
}
