// Remembered decisions: "this holder (UID + anchor, see grant-scope.ts) may do this kind of thing
// to these targets for N minutes". Kept in memory only: a daemon restart forgets them, which errs
// on the side of asking again.
import { randomBytes } from 'node:crypto';
import type { RememberedDecision, RequestKind } from '../../core/wire.js';
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

  constructor(private readonly now: () => number, private readonly openerAlive: OpenerAlive = () => true) {}

  add(key: RememberKey, targets: string[], targetLabel: string, minutes: number): RememberedDecision[] {
    const createdAt = this.now();
    const added: RememberedDecision[] = [];
    for (const target of targets) {
      // A newer grant for the same requester and target replaces the older one.
      for (const [id, e] of this.entries) {
        if (sameHolder(e, key) && e.target === target) this.entries.delete(id);
      }
      const entry: Entry = {
        id: `m${randomBytes(6).toString('hex')}`,
        kind: key.kind, uid: key.uid, exe: key.exe, holder: key.words, target, targetLabel,
        createdAt, expiresAt: createdAt + minutes * 60_000, anchor: key.anchor, opener: key.opener,
      };
      this.entries.set(entry.id, entry);
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
    return [...this.entries.values()].sort((a, b) => a.createdAt - b.createdAt).map(publicView);
  }

  revoke(id: string): boolean {
    return this.entries.delete(id);
  }

  /** Returns how many grants were dropped: expired, or bound to a process that has exited. */
  prune(): number {
    const now = this.now();
    let dropped = 0;
    for (const [id, e] of this.entries) {
      if (e.expiresAt <= now || (e.opener && !this.openerAlive(e.opener.pid, e.opener.startTime))) {
        this.entries.delete(id);
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
