// Sensitivity tiers (core/wire.ts `Tier`) in order: the one place that says which tier is higher,
// so the store, the handlers, the gate and the console cannot disagree about "raise" and "lower".
import { TIERS, type Tier } from './wire.js';

/** The Secret Service attribute a desktop client asks for a tier with (agent/tier-attribute.ts). */
export const TIER_ATTRIBUTE = 'sd:tier';

/** 0 for low, 1 for normal, 2 for high. */
export function tierRank(tier: Tier): number {
  return TIERS.indexOf(tier);
}

export function isTier(value: unknown): value is Tier {
  return typeof value === 'string' && (TIERS as readonly string[]).includes(value);
}

/** The higher of the tiers given (normal when none is). */
export function highestTier(tiers: Iterable<Tier | undefined>): Tier {
  let out: Tier = 'normal';
  let first = true;
  for (const t of tiers) {
    const tier = t ?? 'normal';
    if (first || tierRank(tier) > tierRank(out)) out = tier;
    first = false;
  }
  return out;
}

/** Whether moving from `from` to `to` lowers the tier (which only the console may do). */
export function lowers(from: Tier, to: Tier): boolean {
  return tierRank(to) < tierRank(from);
}
