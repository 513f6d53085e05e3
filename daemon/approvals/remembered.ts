// Remembered decisions and rules: "this subject (grant-scope.ts) may — or, for deny always, may not
// — do this kind of thing to this target, for this long". Looked up by (kind, UID, target,
// subject anchor) in one map, so a decision is a handful of lookups however many rules there are.
// Timed grants live in memory only (a daemon restart forgets them, which errs on the side of
// asking again); "always" and "deny always" are also written to the store by the gate (rules.ts
// in the store) and loaded back here when it unlocks. A lifetime runs on both clocks (clock.ts)
// and ends when either says so; the wire's expiresAt is for display.
import { randomBytes } from 'node:crypto';
import type { RememberedDecision, RequestKind } from '../../core/wire.js';
import { displayEnd, ended, lifetime, type Clock, type Lifetime } from '../clock.js';
import type { RuleRecord } from '../store/types.js';
import type { Binding } from './grant-scope.js';
import type { ScopePlan } from './scopes.js';

/** True while the process (PID + start time) still runs. */
export type OpenerAlive = (pid: number, startTime: number) => boolean;

export interface Grant extends RememberedDecision {
  anchor: string;
  binding: Binding | null;
  untilLock: boolean;
}

/** A rule as the store keeps it: everything but the in-memory lifetime. */
export type PersistedRule = RuleRecord;

export interface GrantRequest { kind: RequestKind; uid: number; exe: string; targets: string[]; targetLabel: string }

const keyOf = (kind: string, uid: number, target: string, anchor: string) => `${kind}\0${uid}\0${target}\0${anchor}`;

export class RememberedDecisions {
  private readonly byKey = new Map<string, Grant>();
  private readonly byId = new Map<string, Grant>();
  private readonly lifetimes = new Map<string, Lifetime>();

  constructor(private readonly clock: Clock, private readonly openerAlive: OpenerAlive = () => true) {}

  get size(): number {
    return this.byId.size;
  }

  add(plan: ScopePlan, req: GrantRequest): Grant[] {
    const added: Grant[] = [];
    for (const target of req.targets) {
      const life = plan.minutes === null ? null : lifetime(this.clock, plan.minutes * 60_000);
      const grant: Grant = {
        id: `m${randomBytes(6).toString('hex')}`,
        scope: plan.verb, verdict: plan.verdict, persisted: plan.persisted,
        kind: req.kind, uid: req.uid, exe: req.exe, holder: plan.subject.words, target, targetLabel: req.targetLabel,
        createdAt: life?.startWall ?? this.clock.wall(), expiresAt: life?.endWall ?? 0,
        anchor: plan.subject.anchor, binding: plan.subject.binding, untilLock: plan.untilLock,
      };
      this.put(grant, life);
      added.push(grant);
    }
    return added;
  }

  /** A rule read back from the store. */
  load(rule: PersistedRule): void {
    this.put({ ...rule, expiresAt: 0, binding: null, untilLock: false }, null);
  }

  private put(grant: Grant, life: Lifetime | null): void {
    // A newer decision for the same subject and target replaces the older one.
    const key = keyOf(grant.kind, grant.uid, grant.target, grant.anchor);
    const old = this.byKey.get(key);
    if (old) this.revoke(old.id);
    this.byKey.set(key, grant);
    this.byId.set(grant.id, grant);
    if (life) this.lifetimes.set(grant.id, life);
  }

  /**
   * An allow grant covering every target under one of `anchors` (the request's subjects, in any
   * order), or null. A grant found expired or outlived by its process is dropped on the spot.
   */
  covers(kind: RequestKind, uid: number, targets: string[], anchors: string[]): Grant | null {
    if (targets.length === 0 || anchors.length === 0) return null;
    let first: Grant | null = null;
    for (const target of targets) {
      let hit: Grant | null = null;
      for (const anchor of anchors) {
        const g = this.live(keyOf(kind, uid, target, anchor));
        if (g && g.verdict === 'allow') {
          hit = g;
          break;
        }
      }
      if (!hit) return null;
      first ??= hit;
    }
    return first;
  }

  /** A deny-always rule matching any of the targets under one of `anchors`, or null. */
  refuses(kind: RequestKind, uid: number, targets: string[], anchors: string[]): Grant | null {
    for (const target of targets) {
      for (const anchor of anchors) {
        const g = this.live(keyOf(kind, uid, target, anchor));
        if (g && g.verdict === 'deny') return g;
      }
    }
    return null;
  }

  /**
   * Only the lifetime is checked here: every anchor a request presents embeds the process (PID and
   * start time) it was read from just now — the opener, the session leader — so a grant found by
   * one is bound to a process that runs. prune() drops grants whose process has exited.
   */
  private live(key: string): Grant | null {
    const g = this.byKey.get(key);
    if (!g) return null;
    const life = this.lifetimes.get(g.id);
    if (life !== undefined && ended(this.clock, life)) {
      this.revoke(g.id);
      return null;
    }
    return g;
  }

  private over(g: Grant): boolean {
    const life = this.lifetimes.get(g.id);
    return (life !== undefined && ended(this.clock, life)) || (g.binding !== null && !this.openerAlive(g.binding.pid, g.binding.startTime));
  }

  get(id: string): Grant | null {
    return this.byId.get(id) ?? null;
  }

  list(): RememberedDecision[] {
    this.prune();
    return [...this.byId.values()]
      .map((g) => {
        const life = this.lifetimes.get(g.id);
        return { ...publicView(g), expiresAt: life ? displayEnd(this.clock, life) : 0 };
      })
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  revoke(id: string): boolean {
    const g = this.byId.get(id);
    if (!g) return false;
    this.byId.delete(id);
    this.lifetimes.delete(id);
    const key = keyOf(g.kind, g.uid, g.target, g.anchor);
    if (this.byKey.get(key) === g) this.byKey.delete(key);
    return true;
  }

  /** The store locked: until-lock grants end, and the store's rules leave memory with its keys. */
  storeLocked(): number {
    let dropped = 0;
    for (const g of [...this.byId.values()]) {
      if (g.untilLock || g.persisted) dropped += Number(this.revoke(g.id));
    }
    return dropped;
  }

  /** Returns how many grants were dropped: expired, or bound to a process that has exited. */
  prune(): number {
    let dropped = 0;
    for (const g of [...this.byId.values()]) {
      if (this.over(g)) dropped += Number(this.revoke(g.id));
    }
    return dropped;
  }
}

export function publicView(g: Grant): RememberedDecision {
  const { anchor: _anchor, binding: _binding, untilLock: _untilLock, ...view } = g;
  return view;
}

export function persistedForm(g: Grant): PersistedRule {
  const { binding: _binding, untilLock: _untilLock, expiresAt: _expiresAt, ...rule } = g;
  return rule;
}
