// The approval queue: every request that would release a secret, change or delete an item, sign,
// or touch keys waits here for a human on the console. Each request has an owner (the caller's
// unique bus name) and a deadline; whichever ends first ends the request. Fail closed: no console,
// a locked store, a full queue → an error at once, never a silent allow and never an endless wait.
//
// What may wait at once is budgeted per connection, per UID and in total (budget.ts). The agent
// forwards many desktop apps over one connection and therefore shares one connection's budget.
// Deadlines and grant lifetimes run on the boot clock (clock.ts): a stepped wall clock neither
// stalls a deadline nor extends a grant, and time suspended counts.
import { randomBytes } from 'node:crypto';
import { describeTarget } from '../../core/audit.js';
import type { Config } from '../../core/config.js';
import { deadline, displayEnd, ended, remainingMs, type Clock, type Lifetime } from '../clock.js';
import { SdError, type ErrorCode } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { DecisionVerb, PendingRequest, RememberedDecision, RequesterInfo } from '../../core/wire.js';
import type { ApprovalGate, ApprovalInput, ApprovalOutcome, AuditSink } from '../services.js';
import { PendingBudget, pendingBytes, type Admission } from './budget.js';
import type { AdminPolicy } from './admin-policy.js';
import type { ConsoleRegistry } from './consoles.js';
import { subjectsOf, type SessionReader, type Subjects } from './grant-scope.js';
import { persistedForm, RememberedDecisions, type OpenerAlive, type PersistedRule } from './remembered.js';
import { offersFor, planFor, plansFor, rememberVerb, type ScopePlan, type ScopeVerb } from './scopes.js';

import { RateLimits } from './rate-limits.js';
import { CONFIRM_TRIES, confirmWord, wordMatches } from './confirm-word.js';

/** Where "always" and "deny always" are kept: the store's rules (sealed like items), while unlocked. */
export interface RuleStore {
  list(): PersistedRule[];
  save(rule: PersistedRule): void;
  remove(id: string): void;
}

export interface GateOptions {
  config: Pick<Config, 'requestTimeoutSeconds' | 'rememberMinutes' | 'maxPendingPerRequester'> & { budgets: Pick<Config['budgets'], 'pendingPerUid' | 'pendingTotal' | 'pendingMiBPerUid' | 'pendingMiBTotal'> }
    /** Absent: no rate limits (the daemon always passes its config's). */
    & Partial<Pick<Config, 'rateLimits'>>;
  consoles: ConsoleRegistry;
  audit: AuditSink;
  logger: Logger;
  clock: Clock;
  storeLocked(): boolean;
  /**
   * Re-read when a human approves: null while the connection's opener is the process the human
   * was shown, else why not (it exited, its PID was reused, it exec'd another program).
   */
  requesterChange(requester: RequesterInfo): string | null;
  /** Whether the process a grant is bound to still runs (grant-scope.ts); default: always. */
  openerAlive?: OpenerAlive;
  /** Adds the details a human needs (chain, cmdline, ...) once a request will be shown. */
  describeRequester?(requester: RequesterInfo): void;
  /** The opener's kernel session (grant-scope.ts); default: read from /proc. */
  readSession?: SessionReader;
  /** The store's persisted rules; without it "always" and "deny always" are not offered. */
  rules?: RuleStore;
  /** Root's rules from policy.d; none when absent. */
  adminPolicy?: Pick<AdminPolicy, 'judge'>;
}

interface Entry {
  request: PendingRequest;
  /** Wrong confirm words typed so far (tier high); at CONFIRM_TRIES the request is denied. */
  wrongWords?: number;
  input: ApprovalInput;
  /** Who each scope would cover, read when the request came (grant-scope.ts); null: only once. */
  subjects: Subjects | null;
  owner: string;
  deadline: Lifetime;
  admission: Admission;
  resolve(outcome: ApprovalOutcome): void;
  reject(err: SdError): void;
}

/** However far away the next deadline is, look again this often: a suspend may have passed it. */
const SWEEP_MS = 5_000;

/** Queue-full refusals, for the console to say that a flood is being turned away. */
export interface Throttling { uid: number; refused: number; sinceWall: number; lastBoot: number }

export class ApprovalQueue implements ApprovalGate {
  readonly remembered: RememberedDecisions;
  /** Null only where the config has none (unit tests of the queue itself). */
  readonly limits: RateLimits | null;
  private readonly pending = new Map<string, Entry>();
  private readonly budget: PendingBudget;
  private timer: NodeJS.Timeout | null = null;
  private throttled: Throttling | null = null;
  private rulesLoaded = false;

  constructor(private readonly opts: GateOptions) {
    this.remembered = new RememberedDecisions(opts.clock, opts.openerAlive);
    this.limits = opts.config.rateLimits ? new RateLimits(opts.clock, opts.config.rateLimits, () => opts.consoles.changed()) : null;
    const { maxPendingPerRequester, budgets } = opts.config;
    this.budget = new PendingBudget({
      perConnection: maxPendingPerRequester, perUid: budgets.pendingPerUid, total: budgets.pendingTotal,
      bytesPerUid: budgets.pendingMiBPerUid * 1048576, bytesTotal: budgets.pendingMiBTotal * 1048576,
    });
  }

  /** The latest run of QueueFull refusals, while it lasts (a minute after the last one). */
  get throttling(): Throttling | null {
    if (this.throttled && this.opts.clock.boot() - this.throttled.lastBoot > 60_000) this.throttled = null;
    return this.throttled;
  }

  get size(): number {
    return this.pending.size;
  }

  async request(input: ApprovalInput, ownerBusName: string): Promise<ApprovalOutcome> {
    // The deadline starts now; createdAt is its start on the wall clock, so the two agree.
    const due = deadline(this.opts.clock, this.opts.config.requestTimeoutSeconds * 1000);
    const now = due.startWall;
    const id = `r${randomBytes(6).toString('hex')}`;
    const target = auditTarget(input);
    const refuse = (code: ErrorCode, detail?: string, auditDetail?: string): never => {
      this.audit(id, input, target, 'refused', { createdAt: now, decidedAt: now, detail: auditDetail ?? code });
      throw new SdError(code, detail);
    };
    if (this.opts.storeLocked()) refuse('StoreLocked');
    this.loadRules();
    // Root's rules from policy.d (admin-policy.ts): refuse before anyone is asked, or ask every time.
    const admin = this.opts.adminPolicy?.judge(input);
    if (admin?.refuse) refuse(admin.refuse.code, admin.refuse.detail, admin.refuse.audit);
    if (admin?.neverRemember) input = { ...input, remember: null };

    const tier = input.tier ?? 'normal';
    const subjects = input.remember ? subjectsOf(input.requester, this.opts.readSession) : null;
    if (subjects && input.remember) {
      const { kind, targets } = input.remember;
      const uid = input.requester.uid;
      const denied = this.remembered.refuses(kind, uid, targets, anchorsOf(subjects));
      if (denied) {
        this.audit(id, input, target, 'refused', { createdAt: now, decidedAt: now, scope: `rule ${denied.id} (deny-always)`, detail: 'Denied', rule: denied.id });
        throw new SdError('Denied', `Refused without asking by the console's rule ${denied.id} ("deny always" for ${denied.holder}); it can be revoked on the console.`);
      }
      // A high-tier item or key is asked every time: no grant answers for it.
      const grant = tier === 'high' ? null : this.remembered.covers(kind, uid, targets, anchorsOf(subjects));
      // A burst of reads under grants pauses them: this read is asked like any other.
      if (grant && !(input.kind === 'secret' && this.limits?.burstPaused(input.requester, targets))) {
        const until = grant.expiresAt ? ` until ${new Date(grant.expiresAt).toISOString()}` : '';
        this.audit(id, input, target, 'remembered', { createdAt: now, decidedAt: now, scope: `remembered ${grant.id} (${grant.scope})${until}`, rule: grant.id });
        return { decision: 'remembered' };
      }
    }
    if (input.onlyIfRemembered) throw new SdError('NotRemembered');
    const limited = this.limits?.admit(input.requester);
    if (limited) refuse('RateLimited', limited);
    if (!this.opts.consoles.connected) refuse('NoConsole');
    const admission = this.budget.admit(ownerBusName, input.requester.uid, pendingBytes(input));
    if ('over' in admission) {
      this.noteThrottled(input.requester.uid);
      return refuse('QueueFull', `(${admission.over}).`);
    }

    this.opts.describeRequester?.(input.requester);
    const request: PendingRequest = {
      id,
      kind: input.kind,
      createdAt: now,
      deadline: displayEnd(this.opts.clock, due),
      requester: input.requester,
      summary: input.summary,
      items: input.items ?? [],
      sign: input.sign ?? null,
      key: input.key ?? null,
      ...(input.bundle ? { bundle: input.bundle } : {}),
      tier: input.tier ?? 'normal',
      reason: input.reason ?? null,
      ...this.offers(input, subjects),
      ...(input.tier === 'high' ? { confirmWord: confirmWord() } : {}),
    };
    const outcome = new Promise<ApprovalOutcome>((resolve, reject) => {
      this.pending.set(id, { request, input, subjects, owner: ownerBusName, deadline: due, admission, resolve, reject });
    });
    this.limits?.prompted(input.requester);
    this.arm();
    this.audit(id, input, target, 'pending', { createdAt: now });
    this.opts.consoles.changed();
    return outcome;
  }

  /** JSON-ready view for the console, oldest first; deadlines as wall-clock instants as of now. */
  list(): PendingRequest[] {
    this.sweep();
    return [...this.pending.values()].map((e) => ({ ...e.request, deadline: displayEnd(this.opts.clock, e.deadline) }));
  }

  /** One pending request, for the console's detail view. */
  get(id: string): PendingRequest {
    this.sweep();
    const entry = this.pending.get(id);
    if (!entry) throw new SdError('NotFound', 'No pending request with that id (it may have been answered, expired or cancelled).');
    return entry.request;
  }

  decide(id: string, verb: DecisionVerb, minutes: number): void {
    // Refused without taking it off the queue, so it keeps its place in the list.
    if (verb !== 'deny' && verb !== 'deny-always' && this.peek(id).request.confirmWord) throw needsSecondStep();
    const entry = this.take(id);
    if (verb === 'deny') return this.finish(entry, 'denied', new SdError('Denied'));
    if (verb === 'once') {
      if (!this.approvable(entry)) return;
      this.finish(entry, 'approved', null, 'once');
      entry.resolve({ decision: 'once' });
      return;
    }
    let plan: ScopePlan;
    try {
      plan = planFor(this.plans(entry.input, entry.subjects, minutes), verb, entry.input.tier ?? 'normal');
    } catch (err) {
      this.pending.set(id, entry);
      throw err;
    }
    if (!this.approvable(entry)) return;
    const remember = entry.input.remember!;
    const grants = this.remembered.add(plan, {
      kind: remember.kind, uid: entry.input.requester.uid, exe: entry.input.requester.process!.exe!, targets: remember.targets, targetLabel: remember.targetLabel,
    });
    if (plan.persisted) for (const g of grants) this.opts.rules!.save(persistedForm(g));
    const scope = `${plan.verb}${plan.minutes ? ` ${plan.minutes} min` : ''}${plan.untilLock ? ' until lock' : ''} (${grants.map((g) => g.id).join(',')})`;
    const ruleIds = grants.map((g) => g.id).join(',');
    if (plan.verdict === 'deny') return this.finish(entry, 'denied', new SdError('Denied'), scope, ruleIds);
    this.finish(entry, 'approved', null, scope, ruleIds);
    entry.resolve({ decision: 'remember' });
  }

  /** The scopes a request offers; `minutes` picks the program scope's span (0: the default). */
  private plans(input: ApprovalInput, subjects: Subjects | null, minutes = 0): Map<ScopeVerb, ScopePlan> {
    if (!subjects || !input.remember) return new Map();
    const plans = plansFor(subjects, input.tier ?? 'normal', this.opts.config.rememberMinutes, minutes);
    if (!this.opts.rules) {
      plans.delete('always');
      plans.delete('deny-always');
    }
    return plans;
  }

  private offers(input: ApprovalInput, subjects: Subjects | null): Pick<PendingRequest, 'rememberScope' | 'scopes' | 'noProgramScope'> {
    const plans = this.plans(input, subjects);
    const scopes = input.remember ? offersFor(plans, input.remember.action) : [];
    const verb = rememberVerb(plans);
    const program = scopes.find((o) => o.verb === verb);
    return {
      rememberScope: program ? { description: program.line, minutes: program.minutes ?? this.opts.config.rememberMinutes } : null,
      scopes,
      noProgramScope: subjects?.noProgram ?? null,
    };
  }

  /** The store's rules, read into the lookup once per unlock. */
  private loadRules(): void {
    if (this.rulesLoaded || !this.opts.rules) return;
    for (const rule of this.opts.rules.list()) this.remembered.load(rule);
    this.rulesLoaded = true;
  }

  /** The store locked: until-lock grants end, and its rules leave memory until the next unlock. */
  storeLocked(): void {
    this.rulesLoaded = false;
    if (this.remembered.storeLocked() > 0) this.opts.consoles.changed();
  }

  /**
   * The second step of a tier-high request: approve it once if `word` is its confirm word. A
   * wrong word leaves it pending; the CONFIRM_TRIES-th wrong word denies it.
   */
  decideConfirmed(id: string, word: string): void {
    const pending = this.peek(id);
    const expected = pending.request.confirmWord;
    if (!expected) throw new SdError('InvalidArgs', 'This request needs no confirm word; use Decide.');
    if (!wordMatches(expected, word)) {
      pending.wrongWords = (pending.wrongWords ?? 0) + 1;
      if (pending.wrongWords < CONFIRM_TRIES) throw new SdError('InvalidArgs', `Wrong confirm word (${CONFIRM_TRIES - pending.wrongWords} tries left).`);
      this.finish(this.take(id), 'denied', new SdError('Denied', `The confirm word was typed wrong ${CONFIRM_TRIES} times.`));
      throw new SdError('Denied', `Wrong confirm word ${CONFIRM_TRIES} times: the request was denied.`);
    }
    const entry = this.take(id);
    if (!this.approvable(entry)) return;
    this.finish(entry, 'approved', null, 'once, confirmed (tier high)');
    entry.resolve({ decision: 'once' });
  }

  /** Approve once, handing the requester one more secret from the human; the receiver wipes it. */
  approveWithSecret(id: string, secret: Buffer): void {
    if (this.pending.get(id)?.request.confirmWord) {
      secret.fill(0);
      throw needsSecondStep();
    }
    const entry = this.take(id);
    if (!this.approvable(entry)) {
      secret.fill(0);
      return;
    }
    this.finish(entry, 'approved', null, 'once with secret');
    entry.resolve({ decision: 'once', secret });
  }

  /** The owner's bus name went away: its requests end at once (and grants of a process that exited). */
  ownerGone(busName: string): void {
    if (this.remembered.prune() > 0) this.opts.consoles.changed();
    for (const entry of [...this.pending.values()]) {
      if (entry.owner === busName) {
        this.pending.delete(entry.request.id);
        this.finish(entry, 'cancelled', new SdError('Cancelled', 'The requester disconnected.'));
      }
    }
  }

  /** Every pending request ends with this error (the store was locked, the daemon is stopping). */
  cancelAll(code: ErrorCode, detail?: string): void {
    for (const entry of [...this.pending.values()]) {
      this.pending.delete(entry.request.id);
      this.finish(entry, 'cancelled', new SdError(code, detail));
    }
  }

  /** Expire requests past their deadline (also called by the queue's timer). */
  sweep(): void {
    for (const entry of [...this.pending.values()]) {
      if (ended(this.opts.clock, entry.deadline)) {
        this.pending.delete(entry.request.id);
        this.finish(entry, 'expired', new SdError('Timeout', `No decision within ${this.opts.config.requestTimeoutSeconds} s.`));
      }
    }
    if (this.remembered.prune() > 0) this.opts.consoles.changed();
    this.arm();
  }

  /**
   * One timer for the queue, at the nearest deadline but never further than SWEEP_MS: Node's
   * timers do not count suspend, the boot clock does, so after a resume the sweep catches up.
   */
  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.size === 0) return;
    let next = SWEEP_MS;
    for (const e of this.pending.values()) next = Math.min(next, remainingMs(this.opts.clock, e.deadline));
    this.timer = setTimeout(() => this.sweep(), next + 5);
  }

  private noteThrottled(uid: number): void {
    const t = this.throttling;
    const boot = this.opts.clock.boot();
    if (t && t.uid === uid) {
      t.refused++;
      t.lastBoot = boot;
    } else {
      this.throttled = { uid, refused: 1, sinceWall: this.opts.clock.wall(), lastBoot: boot };
      this.opts.consoles.changed();
    }
  }

  listRemembered(): RememberedDecision[] {
    if (!this.opts.storeLocked()) this.loadRules();
    return this.remembered.list();
  }

  revoke(id: string): void {
    if (!this.opts.storeLocked()) this.loadRules();
    const grant = this.remembered.get(id);
    if (!grant) throw new SdError('NotFound', 'No remembered decision with that id.');
    if (grant.persisted) this.opts.rules?.remove(id);
    this.remembered.revoke(id);
    const now = this.opts.clock.wall();
    this.opts.audit.record({
      requestId: id, kind: grant.kind, requester: null, target: `remembered: ${grant.exe} (uid ${grant.uid}) '${grant.targetLabel}'`,
      outcome: 'done', scope: `rule ${id} (${grant.scope})`, detail: 'revoked', createdAt: grant.createdAt, decidedAt: now, rule: id,
    });
    this.opts.consoles.changed();
  }

  /** The console's "revoke everything": every grant and rule, the store's included. */
  revokeAll(): number {
    const ids = this.listRemembered().map((g) => g.id);
    for (const id of ids) this.revoke(id);
    return ids.length;
  }

  /** The console lifts a cooldown, a paused grant or a cap (rate-limits.ts); audited like a revoke. */
  liftLimit(id: string): void {
    const lifted = this.limits?.lift(id);
    if (!lifted) throw new SdError('NotFound', 'No rate limit with that id (it may have ended).');
    const now = this.opts.clock.wall();
    this.opts.audit.record({
      requestId: id, kind: 'store', requester: null, target: `rate limit: ${lifted.subject}`, outcome: 'done', detail: 'lifted on the console', createdAt: now, decidedAt: now,
    });
  }

  close(): void {
    this.cancelAll('Cancelled', 'The daemon is stopping.');
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private peek(id: string): Entry {
    const entry = this.pending.get(id);
    if (!entry) throw new SdError('NotFound', 'No pending request with that id (it may have been answered, expired or cancelled).');
    return entry;
  }

  private take(id: string): Entry {
    const entry = this.pending.get(id);
    if (!entry) throw new SdError('NotFound', 'No pending request with that id (it may have been answered, expired or cancelled).');
    this.pending.delete(id);
    return entry;
  }

  /** Checks done at decision time: the store still unlocked, the requesting process still the same one. */
  private approvable(entry: Entry): boolean {
    if (this.opts.storeLocked()) {
      this.finish(entry, 'cancelled', new SdError('StoreLocked'));
      return false;
    }
    const change = this.opts.requesterChange(entry.request.requester);
    if (change) {
      this.finish(entry, 'cancelled', new SdError('Cancelled', change));
      return false;
    }
    return true;
  }

  private finish(entry: Entry, outcome: 'approved' | 'denied' | 'expired' | 'cancelled', err: SdError | null, scope?: string, rule?: string): void {
    this.budget.release(entry.admission);
    // A lock ends every waiting request; that is not the requester pestering anyone.
    if (err?.code !== 'StoreLocked') this.limits?.finished(entry.input.requester, outcome);
    const now = this.opts.clock.wall();
    this.audit(entry.request.id, entry.input, auditTarget(entry.input), outcome, {
      createdAt: entry.request.createdAt, decidedAt: now, scope: scope ?? null, detail: err ? err.code : null, rule: rule ?? null,
    });
    if (err) entry.reject(err);
    this.opts.consoles.changed();
    this.opts.logger.info('request finished', { id: entry.request.id, kind: entry.request.kind, outcome });
  }

  private audit(id: string, input: ApprovalInput, target: string, outcome: string, times: { createdAt: number; decidedAt?: number; scope?: string | null; detail?: string | null; rule?: string | null }): void {
    this.opts.audit.record({
      requestId: id, kind: input.kind, requester: input.requester, target, outcome,
      scope: times.scope ?? null, detail: times.detail ?? null, createdAt: times.createdAt, decidedAt: times.decidedAt ?? null,
      reason: input.reason ?? null, rule: times.rule ?? null,
    });
  }
}

/** The anchors a request presents, narrowest first: what a grant on any of them would cover. */
function anchorsOf(s: Subjects): string[] {
  const out: string[] = [];
  for (const subject of [s.process, s.session, s.program, s.programAnySession]) if (subject) out.push(subject.anchor);
  return out;
}

function needsSecondStep(): SdError {
  return new SdError('InvalidArgs', 'This request is tier high: it needs the second step, DecideConfirmed with the word shown on the console.');
}

function auditTarget(input: ApprovalInput): string {
  if (input.items?.length) return input.items.map((i) => describeTarget(i.label, i.attributes)).join('; ').slice(0, 2048);
  return input.summary.slice(0, 2048);
}
