// Which stored key a client means: git passes user.signingkey (a key id or fingerprint of the key
// or one of its subkeys, maybe with 0x or a trailing "!"), or, when that is unset, the committer as
// "Name <email>". As with gpg, "!" asks for exactly that (sub)key; without it the key signs with
// its own choice of signing (sub)key.
import { SdError } from '../../core/errors.js';
import type { KeyRecord } from '../store/types.js';

const EMAIL_IN_ANGLES = /<([^<>\s]+)>/;

function emailsOf(key: KeyRecord): string[] {
  return key.userIds.map((uid) => EMAIL_IN_ANGLES.exec(uid)?.[1]?.toLowerCase()).filter((e): e is string => !!e);
}

export interface KeySelection {
  key: KeyRecord;
  /** The fingerprint of the (sub)key a trailing "!" named, which must be the one to sign; else null. */
  exact: string | null;
}

export function selectKey(keys: KeyRecord[], untrustedSpec: string): KeySelection {
  const trimmed = untrustedSpec.trim();
  const bang = trimmed.endsWith('!');
  const spec = bang ? trimmed.slice(0, -1) : trimmed;
  if (keys.length === 0) throw new SdError('NoSuchKey', 'The store holds no signing key; add one with `secrets-dispatcher gpg import` or `gpg generate`.');
  if (spec === '') {
    if (keys.length === 1) return { key: keys[0]!, exact: null };
    throw new SdError('NoSuchKey', 'Several keys are stored; name one (git config user.signingkey KEYID).');
  }
  const hex = spec.replace(/^0x/i, '');
  let match: KeyRecord | undefined;
  let exact: string | null = null;
  if (/^[0-9a-f]{8,40}$/i.test(hex)) {
    const id = hex.toUpperCase();
    match = keys.find((k) => k.fingerprint.endsWith(id));
    if (match) exact = bang ? match.fingerprint : null;
    else {
      match = keys.find((k) => k.subkeys?.some((s) => s.endsWith(id)));
      if (match && bang) exact = match.subkeys!.find((s) => s.endsWith(id))!;
    }
  } else {
    const email = EMAIL_IN_ANGLES.exec(spec)?.[1]?.toLowerCase() ?? (spec.startsWith('@') ? undefined : /^[^\s@]+@[^\s@]+$/.test(spec) ? spec.toLowerCase() : undefined);
    match = email
      ? keys.find((k) => emailsOf(k).includes(email))
      : keys.find((k) => k.userIds.some((uid) => uid.toLowerCase().includes(spec.toLowerCase())));
  }
  if (!match) throw new SdError('NoSuchKey', `No stored key matches ${JSON.stringify(spec.slice(0, 120))}; see \`secrets-dispatcher gpg list\`.`);
  return { key: match, exact };
}
