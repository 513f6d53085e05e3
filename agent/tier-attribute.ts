// The Secret Service has no notion of tiers, so the agent carries one as the attribute `sd:tier`:
// on CreateItem (and when Attributes are set) it is taken out of the attributes and sent to the
// daemon as the context key `tier`, which only ever raises a tier (the daemon refuses lowering);
// on reading Attributes it is added back for items above or below normal, so `secrets-dispatcher
// list` and any client can see it. It is never stored as an attribute.
import { TIER_ATTRIBUTE } from '../core/tiers.js';

/** The attributes without `sd:tier`, and the tier asked for (unchecked: the daemon validates it). */
export function splitTier(attributes: Record<string, string>): { attributes: Record<string, string>; tier: string | null } {
  if (!(TIER_ATTRIBUTE in attributes)) return { attributes, tier: null };
  const { [TIER_ATTRIBUTE]: tier, ...rest } = attributes;
  return { attributes: rest, tier: tier ?? null };
}

/** The context for the daemon, with the tier asked for when there is one. */
export function withTierContext(context: Record<string, string>, tier: string | null): Record<string, string> {
  return tier === null ? context : { ...context, tier };
}

/** What the Attributes property shows: the stored attributes, plus `sd:tier` unless the tier is normal. */
export function shownAttributes(attributes: Record<string, string>, tier: string | undefined): Record<string, string> {
  return tier && tier !== 'normal' ? { ...attributes, [TIER_ATTRIBUTE]: tier } : attributes;
}
