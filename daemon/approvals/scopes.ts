// Which scopes a human may pick for a request, in words, and what a pick becomes. The tier of what
// the request touches bounds them: `high` is asked every time (no scope at all), `normal` is
// remembered at most NORMAL_MAX_MINUTES and never "always", `low` may be covered by "always".
// "deny always" is offered whatever the tier: refusing is never the risky choice.
import { SdError } from '../../core/errors.js';
import type { DecisionVerb, ScopeOffer, Tier } from '../../core/wire.js';
import type { Subject, Subjects } from './grant-scope.js';

/** The longest a `normal` item or key is remembered (8 h), whatever scope was picked. */
export const NORMAL_MAX_MINUTES = 480;
/** The durations the console offers for a program scope (its keys 1-4). */
/** A session scope's longest span: a login session can outlive the task it was granted for. */
export const SESSION_MAX_MINUTES = 480;
export const PROGRAM_MINUTES = [1, 10, 60, 480] as const;

export type ScopeVerb = ScopeOffer['verb'];

/** What a pick turns into: who, for how long, and whether it is kept in the store. */
export interface ScopePlan {
  verb: ScopeVerb;
  subject: Subject;
  verdict: 'allow' | 'deny';
  /** null: bounded only by the subject's life (process, session), the lock, or never. */
  minutes: number | null;
  untilLock: boolean;
  persisted: boolean;
}

function cap(tier: Tier, minutes: number | null): number | null {
  if (tier !== 'normal') return minutes;
  return minutes === null ? NORMAL_MAX_MINUTES : Math.min(minutes, NORMAL_MAX_MINUTES);
}

function span(minutes: number | null): string {
  if (minutes === null) return '';
  return minutes % 60 === 0 ? ` for at most ${minutes / 60} hour${minutes === 60 ? '' : 's'}` : ` for ${minutes} minute${minutes === 1 ? '' : 's'}`;
}

/** Every plan the request allows, keyed by verb; `minutes` is the program scope's span when none is picked. */
export function plansFor(subjects: Subjects, tier: Tier, defaultMinutes: number, picked?: number): Map<ScopeVerb, ScopePlan> {
  const plans = new Map<ScopeVerb, ScopePlan>();
  const programMinutes = cap(tier, picked && picked > 0 ? picked : defaultMinutes);
  const add = (verb: ScopeVerb, subject: Subject | null, rest: Omit<ScopePlan, 'verb' | 'subject'>) => {
    if (subject) plans.set(verb, { verb, subject, ...rest });
  };
  const allow = { verdict: 'allow' as const, untilLock: false, persisted: false };
  if (tier !== 'high') {
    add('process', subjects.process, { ...allow, minutes: cap(tier, null) });
    // A session ends when its leader exits, or after SESSION_MAX_MINUTES, whichever is first.
    add('session', subjects.session, { ...allow, minutes: SESSION_MAX_MINUTES });
    add('program', subjects.program, { ...allow, minutes: programMinutes });
    add('program-any-session', subjects.programAnySession, { ...allow, minutes: programMinutes });
    add('until-lock', subjects.program, { ...allow, minutes: cap(tier, null), untilLock: true });
    if (tier === 'low') add('always', subjects.programAnySession, { ...allow, minutes: null, persisted: true });
  }
  add('deny-always', subjects.programAnySession, { verdict: 'deny', minutes: null, untilLock: false, persisted: true });
  return plans;
}

/** The console's offers: each plan's line, "<who> may <action> <span>". */
export function offersFor(plans: Map<ScopeVerb, ScopePlan>, action: string): ScopeOffer[] {
  return [...plans.values()].map((p) => ({ verb: p.verb, minutes: p.minutes, line: lineOf(p, action) }));
}

function lineOf(p: ScopePlan, action: string): string {
  switch (p.verb) {
    case 'always':
      return `${p.subject.words} may always ${action}, kept across restarts until revoked on the console`;
    case 'deny-always':
      return `${p.subject.words} is refused at once, without asking, when it asks to ${action}; kept across restarts until revoked on the console`;
    case 'until-lock':
      return `${p.subject.words} may ${action} until the store locks${p.minutes === null ? '' : `,${span(p.minutes)}`}`;
    default:
      return `${p.subject.words} may ${action}${span(p.minutes)}`;
  }
}

/**
 * What `a` (the verb `remember`) picks: the program in this session, or where the session could not
 * be read, the program in any session — the console's "a remembers" line shows this one's words.
 */
export function rememberVerb(plans: Map<ScopeVerb, ScopePlan>): ScopeVerb | null {
  if (plans.has('program')) return 'program';
  return plans.has('program-any-session') ? 'program-any-session' : null;
}

/** The plan for a console's decision; InvalidArgs when the request does not offer that scope. */
export function planFor(plans: Map<ScopeVerb, ScopePlan>, verb: DecisionVerb, tier: Tier): ScopePlan {
  const want: ScopeVerb = verb === 'remember' ? rememberVerb(plans) ?? 'program' : (verb as ScopeVerb);
  const plan = plans.get(want);
  if (plan) return plan;
  if (tier === 'high') throw new SdError('InvalidArgs', 'This request touches a high-tier item or key: it can only be approved once or denied.');
  throw new SdError('InvalidArgs', `This request cannot be remembered as "${verb}"; it offers: once, deny${[...plans.keys()].map((v) => `, ${v}`).join('')}.`);
}
