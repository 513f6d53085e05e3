// The console's persisted rules ("always", "deny always") while the store is unlocked: one sealed
// row each, bound to its id, so a rule cannot be altered, moved or added without the store's key
// and a deleted or replayed row breaks the row digest.
import { SdError } from '../../core/errors.js';
import { LIMITS } from '../../core/limits.js';
import { asRule } from './records.js';
import { SEALED } from './row-labels.js';
import type { Session } from './session.js';
import type { Row } from './store-file.js';
import type { RuleRecord } from './types.js';
import { checkText } from './validate.js';

/** More rules than this is a loop deciding "always", not a human: refuse the next one. */
export const MAX_RULES = 10_000;

export class Rules {
  constructor(private readonly s: Session) {}

  list(): RuleRecord[] {
    return (this.s.file.statement('scan:rules').raw(true).all() as Row[]).map(([id, sealed]) =>
      asRule(this.s.crypto.openJson(sealed!, SEALED.rule(id!), 'A rule'), 'A rule'),
    );
  }

  put(rule: RuleRecord): void {
    checkText(rule.id, LIMITS.idChars, 'The rule id');
    const checked = asRule(rule, 'The rule');
    if (this.count() >= MAX_RULES) throw new SdError('QueueFull', `The store holds ${MAX_RULES} rules; revoke some on the console first.`);
    this.s.writes.write((w) => {
      w.remove('rules', [checked.id]);
      w.insert('rules', [checked.id, this.s.crypto.sealJson(checked, SEALED.rule(checked.id))]);
    });
  }

  delete(id: string): void {
    if (!this.s.file.getRow('rules', id)) return;
    this.s.writes.write((w) => w.remove('rules', [id]));
  }

  private count(): number {
    return (this.s.file.statement('scan:rules').raw(true).all() as Row[]).length;
  }
}
