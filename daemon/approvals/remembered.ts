// Remembered decisions: "this requester (UID + executable) may do this kind of thing to these
// targets for N minutes". Kept in memory only: a daemon restart forgets them, which errs on the
// side of asking again.
import { randomBytes } from 'node:crypto';
import type { RememberedDecision, RequestKind } from '../../core/wire.js';

export interface RememberKey { kind: RequestKind; uid: number; exe: string }

export class RememberedDecisions {
  private readonly entries = new Map<string, RememberedDecision>();

  constructor(private readonly now: () => number) {}

  add(key: RememberKey, targets: string[], targetLabel: string, minutes: number): RememberedDecision[] {
    const createdAt = this.now();
    const added: RememberedDecision[] = [];
    for (const target of targets) {
      // A newer grant for the same requester and target replaces the older one.
      for (const [id, e] of this.entries) {
        if (e.kind === key.kind && e.uid === key.uid && e.exe === key.exe && e.target === target) this.entries.delete(id);
      }
      const entry: RememberedDecision = {
        id: `m${randomBytes(6).toString('hex')}`,
        kind: key.kind, uid: key.uid, exe: key.exe, target, targetLabel,
        createdAt, expiresAt: createdAt + minutes * 60_000,
      };
      this.entries.set(entry.id, entry);
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
    return [...this.entries.values()].sort((a, b) => a.createdAt - b.createdAt);
  }

  revoke(id: string): boolean {
    return this.entries.delete(id);
  }

  /** Returns how many expired grants were dropped. */
  prune(): number {
    const now = this.now();
    let dropped = 0;
    for (const [id, e] of this.entries) {
      if (e.expiresAt <= now) {
        this.entries.delete(id);
        dropped++;
      }
    }
    return dropped;
  }
}
