// The keys derived from the data key while the store is unlocked, one per purpose, so a key is
// never used for two jobs (records, attribute lookup, alias/fingerprint lookup, row digest,
// header MAC). Lock wipes them all.
import { subkey, wipe } from './seal.js';

export interface UnlockedKeys {
  record: Buffer;
  attributeKey: Buffer;
  attributeValue: Buffer;
  lookup: Buffer;
  row: Buffer;
  header: Buffer;
}

export function deriveKeys(dataKey: Buffer): UnlockedKeys {
  return {
    record: subkey(dataKey, 'records'),
    attributeKey: subkey(dataKey, 'attribute names'),
    attributeValue: subkey(dataKey, 'attribute values'),
    lookup: subkey(dataKey, 'lookups'),
    row: subkey(dataKey, 'row digest'),
    header: subkey(dataKey, 'header'),
  };
}

export function wipeKeys(keys: UnlockedKeys): void {
  wipe(...Object.values(keys));
}
