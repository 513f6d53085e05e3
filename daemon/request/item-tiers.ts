// What the desktop may do with tiers: ask for one when it creates an item or key (context key
// `tier`; the agent maps the Secret Service attribute `sd:tier` to it), and raise one when it
// replaces or updates an item. Lowering is the console's alone (Console.SetTier): a desktop process
// that could lower a tier could turn "typed a word every time" back into "remembered for hours".
import { SdError } from '../../core/errors.js';
import { lowers } from '../../core/tiers.js';
import type { Tier } from '../../core/wire.js';
import { validTier } from './validate.js';

/** The context key a desktop client asks for a tier with. */
export const TIER_CONTEXT_KEY = 'tier';

/** The tier the caller asks for in its context, or null when it asks for none. */
export function askedTier(untrustedContext: Record<string, unknown>): Tier | null {
  const untrusted = untrustedContext[TIER_CONTEXT_KEY];
  return untrusted === undefined ? null : validTier(untrusted, `context "${TIER_CONTEXT_KEY}"`);
}

/** The tier after the desktop's change: its wish when that raises or keeps `current`; refused when it lowers. */
export function desktopTierChange(current: Tier, asked: Tier | null, what: string): Tier {
  if (asked === null) return current;
  if (lowers(current, asked)) {
    throw new SdError('CannotLowerTier', `${what} is tier ${current}; asked for ${asked}. Lower it on the console.`);
  }
  return asked;
}
