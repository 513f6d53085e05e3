// What the console says about an export or an import, from facts the daemon holds: the store's own
// contents for an export, the decrypted bundle for an import. Overwrites are listed first, since
// they are what an import can lose.
import { LIMITS } from '../../core/limits.js';
import type { BundleDetails } from '../../core/wire.js';
import type { ImportPlan, KeyRecord } from '../store/types.js';

type Entry = BundleDetails['entries'][number];

function capped(entries: Entry[]): Pick<BundleDetails, 'entries' | 'more'> {
  return { entries: entries.slice(0, LIMITS.bundleEntriesShown), more: Math.max(0, entries.length - LIMITS.bundleEntriesShown) };
}

const keyLabel = (k: { fingerprint: string; userIds: string[] }) => `${k.userIds[0] ?? 'no user id'} (${k.fingerprint})`;

export function importDetails(plan: ImportPlan, verifiedKeys: KeyRecord[]): BundleDetails {
  const overwrites: Entry[] = [];
  const adds: Entry[] = [];
  for (const c of plan.collections) {
    // A collection that exists with the same label (the default one, say) changes nothing a person would notice.
    if (c.replaces === c.label) continue;
    (c.replaces === null ? adds : overwrites).push({ what: 'collection', action: c.replaces === null ? 'add' : 'overwrite', label: c.label, was: c.replaces });
  }
  for (const i of plan.items) {
    (i.replaces ? overwrites : adds).push({ what: 'item', action: i.replaces ? 'overwrite' : 'add', label: i.label, was: i.replaces?.label ?? null });
  }
  plan.keys.forEach((k, n) => {
    const e: Entry = { what: 'key', action: k.replaces ? 'overwrite' : 'add', label: keyLabel(verifiedKeys[n] ?? k), was: null };
    (k.replaces ? overwrites : adds).push(e);
  });
  return {
    direction: 'import',
    counts: { collections: plan.collections.length, items: plan.items.length, keys: plan.keys.length, overwrites: overwrites.length },
    ...capped([...overwrites, ...adds]),
  };
}

export function exportDetails(collections: number, itemLabels: string[], keys: KeyRecord[]): BundleDetails {
  return {
    direction: 'export',
    counts: { collections, items: itemLabels.length, keys: keys.length, overwrites: 0 },
    ...capped([
      ...keys.map((k): Entry => ({ what: 'key', action: 'export', label: keyLabel(k), was: null })),
      ...itemLabels.map((label): Entry => ({ what: 'item', action: 'export', label, was: null })),
    ]),
  };
}
