// Root's rules from policy.d (core/admin-rules.ts) applied to one request, before the remembered
// lookup and before anyone is asked. Every rule restricts, so they combine simply: any deny
// refuses, any requireReason without a reason refuses, any neverRemember takes the remember
// scope away. Matched only on what the daemon verified itself (the UID's process as /proc shows it,
// the request's own targets and tier), never on what the requester claims: a claim is the
// requester's to choose, so a rule keyed on it would be the requester's to dodge.
import type { LoadedAdminRule } from '../../core/admin-rules.js';
import type { ErrorCode } from '../../core/errors.js';
import type { RequesterInfo, RequestKind } from '../../core/wire.js';
import type { ApprovalInput } from '../services.js';

export interface AdminVerdict {
  /** Refuse at once: the caller's error and the audit row's detail. */
  refuse?: { code: ErrorCode; detail: string; audit: string };
  /** Ask every time: the request is treated as one that cannot be remembered. */
  neverRemember?: boolean;
}

export interface AdminPolicyOptions {
  /**
   * The systemd units the requester's process runs under, innermost first (its own and those
   * above it in its cgroup). The gate asks before the console's details are read, so this reads
   * /proc/PID/cgroup itself; empty when unknown.
   */
  unitsOf(requester: RequesterInfo): string[];
}

type Test = (input: ApprovalInput, facts: Facts) => boolean;

/** Facts read at most once per request, and only when a rule needs them. */
class Facts {
  private units: string[] | undefined;
  constructor(private readonly requester: RequesterInfo, private readonly opts: AdminPolicyOptions) {}
  get systemdUnits(): string[] {
    this.units ??= this.opts.unitsOf(this.requester);
    return this.units;
  }
}

interface Compiled { rule: LoadedAdminRule; tests: Test[] }

const NOTHING: AdminVerdict = Object.freeze({});

/**
 * `*` stands for any run of characters; everything else is itself. Matched by finding the pieces
 * between the stars in order (leftmost first is enough with no other wildcard), not by a regular
 * expression: the desktop user chooses the labels, and `*a*a*a*b` on a long label of a's would
 * make a backtracking match take time to the power of the stars.
 */
export function globMatcher(glob: string): (value: string) => boolean {
  const parts = glob.split('*');
  if (parts.length === 1) return (value) => value === glob;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  const middle = parts.slice(1, -1).filter((p) => p !== '');
  return (value) => {
    if (value.length < first.length + last.length || !value.startsWith(first) || !value.endsWith(last)) return false;
    const end = value.length - last.length;
    let at = first.length;
    for (const part of middle) {
      const found = value.indexOf(part, at);
      if (found < 0 || found + part.length > end) return false;
      at = found + part.length;
    }
    return true;
  };
}

const list = <T>(v: T | T[] | undefined): T[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);

function anyGlob(globs: string[]): (value: string | null | undefined) => boolean {
  const matchers = globs.map(globMatcher);
  return (value) => typeof value === 'string' && matchers.some((m) => m(value));
}

function compile(rule: LoadedAdminRule): Compiled {
  const m = rule.match;
  const tests: Test[] = [];
  const tiers = list(m.tier);
  if (tiers) tests.push((input) => tiers.includes(input.tier ?? 'normal'));
  const units = list(m.unit);
  if (units) {
    // Any unit the process runs under: "under ci-runner.service" includes what that service
    // started in a sub-cgroup, and the desktop user cannot move a process out of a unit above
    // their own delegated subtree.
    const unit = anyGlob(units);
    tests.push((_, facts) => facts.systemdUnits.some((u) => unit(u)));
  }
  const exes = list(m.exe);
  if (exes) {
    const exe = anyGlob(exes);
    tests.push((input) => exe(input.requester.process?.exe));
  }
  const keys = list(m.keyFingerprint);
  if (keys) {
    // A long key ID is the fingerprint's last 16 hex digits.
    const matches = (fp: string | null | undefined) => typeof fp === 'string' && keys.some((k) => fp.toUpperCase().endsWith(k));
    tests.push((input) => matches(input.sign?.key?.fingerprint) || matches(input.key?.fingerprint));
  }
  const labels = list(m.itemLabel);
  const attrs = m.attributes ? Object.entries(m.attributes).map(([name, g]) => [name, globMatcher(g)] as const) : null;
  if (labels || attrs) {
    const label = labels ? anyGlob(labels) : () => true;
    // One item must match the label and every attribute: a rule names one kind of item.
    tests.push((input) => (input.items ?? []).some((item) => label(item.label)
      && (attrs ?? []).every(([name, matches]) => Object.hasOwn(item.attributes, name) && matches(item.attributes[name]!))));
  }
  return { rule, tests };
}

const reasonGiven = (input: ApprovalInput) => typeof input.reason === 'string' && input.reason.trim() !== '';

function naming(rule: LoadedAdminRule): string {
  return `admin rule "${rule.id}" in ${rule.file}`;
}

export class AdminPolicy {
  /** By kind, so a request is tested only against the rules that can apply to it. */
  private readonly byKind = new Map<RequestKind, Compiled[]>();
  readonly size: number;

  constructor(rules: readonly LoadedAdminRule[], private readonly opts: AdminPolicyOptions) {
    this.size = rules.length;
    const kinds: RequestKind[] = ['secret', 'write', 'delete', 'sign', 'key', 'export', 'import'];
    for (const rule of rules) {
      const compiled = compile(rule);
      for (const kind of list(rule.match.kind) ?? kinds) {
        let bucket = this.byKind.get(kind);
        if (!bucket) this.byKind.set(kind, (bucket = []));
        bucket.push(compiled);
      }
    }
  }

  /** What root's rules say about this request; the first deny (in file and rule order) wins. */
  judge(input: ApprovalInput): AdminVerdict {
    const rules = this.byKind.get(input.kind);
    if (!rules) return NOTHING;
    const facts = new Facts(input.requester, this.opts);
    let needsReason: LoadedAdminRule | null = null;
    let neverRemember = false;
    for (const { rule, tests } of rules) {
      if (!tests.every((t) => t(input, facts))) continue;
      if (rule.effect === 'deny') {
        return { refuse: { code: 'DeniedByRule', detail: withNote(`Refused by ${naming(rule)}.`, rule), audit: `DeniedByRule: ${naming(rule)}`.slice(0, 512) } };
      }
      if (rule.effect === 'requireReason') needsReason ??= rule;
      else neverRemember = true;
    }
    if (needsReason && !reasonGiven(input)) {
      return { refuse: { code: 'ReasonRequired', detail: withNote(`${naming(needsReason)} requires one for this request.`, needsReason), audit: `ReasonRequired: ${naming(needsReason)}`.slice(0, 512) } };
    }
    return neverRemember ? { neverRemember } : NOTHING;
  }
}

function withNote(text: string, rule: LoadedAdminRule): string {
  return rule.note ? `${text} ${rule.note}` : text;
}
