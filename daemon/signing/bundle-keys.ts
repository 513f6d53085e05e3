// A bundle's signing keys are checked against their own key material before import: the bundle's
// description of a key (fingerprint, user ids, subkeys) is only a claim by whoever made the file,
// so the record stored is the one read from the secret key itself, and a secret that is not the
// key the bundle names is refused. openpgp is loaded only when a bundle holds keys.
import { SdError } from '../../core/errors.js';
import type { KeyRecord } from '../store/types.js';

export async function verifiedBundleKeys(untrustedNamed: ReadonlyArray<{ fingerprint: string }>, untrustedSecrets: readonly Buffer[]): Promise<KeyRecord[]> {
  if (untrustedNamed.length === 0) return [];
  const { unlockForStore } = await import('./openpgp-keys.js');
  const out: KeyRecord[] = [];
  for (const [n, named] of untrustedNamed.entries()) {
    let facts;
    try {
      const ready = await unlockForStore(untrustedSecrets[n]!, null);
      ready.armored.fill(0);
      facts = ready.facts;
    } catch (err) {
      const why = err instanceof SdError ? err.code : 'unreadable';
      throw new SdError('BadBundle', `Key ${JSON.stringify(named.fingerprint.slice(0, 64))} in the bundle is not a usable secret key (${why}).`);
    }
    if (facts.fingerprint !== named.fingerprint) {
      throw new SdError('BadBundle', `The bundle names key ${JSON.stringify(named.fingerprint.slice(0, 64))} but its secret is key ${facts.fingerprint}.`);
    }
    out.push({ fingerprint: facts.fingerprint, keyId: facts.keyId, userIds: facts.userIds, algorithm: facts.algorithm, created: facts.created, subkeys: facts.subkeys });
  }
  return out;
}
