// Which stored key a client means: git passes user.signingkey (a key id or fingerprint, maybe with
// 0x or a trailing "!"), or, when that is unset, the committer as "Name <email>".
import { SdError } from '../../core/errors.js';
import type { KeyRecord } from '../store/types.js';

const EMAIL_IN_ANGLES = /<([^<>\s]+)>/;

function emailsOf(key: KeyRecord): string[] {
  return key.userIds.map((uid) => EMAIL_IN_ANGLES.exec(uid)?.[1]?.toLowerCase()).filter((e): e is string => !!e);
}

export function selectKey(keys: KeyRecord[], untrustedSpec: string): KeyRecord {
  const spec = untrustedSpec.trim().replace(/!$/, '');
  if (keys.length === 0) throw new SdError('NoSuchKey', 'The store holds no signing key; add one with `secrets-dispatcher gpg import` or `gpg generate`.');
  if (spec === '') {
    if (keys.length === 1) return keys[0]!;
    throw new SdError('NoSuchKey', 'Several keys are stored; name one (git config user.signingkey KEYID).');
  }
  const hex = spec.replace(/^0x/i, '');
  let match: KeyRecord | undefined;
  if (/^[0-9a-f]{8,40}$/i.test(hex)) {
    match = keys.find((k) => k.fingerprint.endsWith(hex.toUpperCase()));
  } else {
    const email = EMAIL_IN_ANGLES.exec(spec)?.[1]?.toLowerCase() ?? (spec.startsWith('@') ? undefined : /^[^\s@]+@[^\s@]+$/.test(spec) ? spec.toLowerCase() : undefined);
    match = email
      ? keys.find((k) => emailsOf(k).includes(email))
      : keys.find((k) => k.userIds.some((uid) => uid.toLowerCase().includes(spec.toLowerCase())));
  }
  if (!match) throw new SdError('NoSuchKey', `No stored key matches ${JSON.stringify(spec.slice(0, 120))}; see \`secrets-dispatcher gpg list\`.`);
  return match;
}
