// Checks for everything a requester sends. Values arrive typed by the D-Bus signature (the object
// server already refused wrong signatures); here sizes are capped before anything is looked at,
// and names that become keys or ids are limited to a plain charset. Labels and attribute values
// may hold any text: the console shows them inert (DESIGN §4).
import { SdError } from '../../core/errors.js';
import { LIMITS } from '../../core/limits.js';
import { isTier } from '../../core/tiers.js';
import type { Tier } from '../../core/wire.js';

const ID = /^[A-Za-z0-9_-]+$/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const CONTENT_TYPE = /^[\x21-\x7e]+(?: *; *[\x21-\x7e]+)*$/;

export function validId(untrusted: string, what: string): string {
  if (untrusted.length === 0 || untrusted.length > LIMITS.idChars) {
    throw new SdError(untrusted.length > LIMITS.idChars ? 'TooLarge' : 'InvalidArgs', `${what} must be 1-${LIMITS.idChars} characters.`);
  }
  if (!ID.test(untrusted)) throw new SdError('InvalidArgs', `${what} may only contain A-Z a-z 0-9 _ -.`);
  return untrusted;
}

/** "" means "none"/"all" for some arguments; otherwise a valid id. */
export function validOptionalId(untrusted: string, what: string): string | null {
  return untrusted === '' ? null : validId(untrusted, what);
}

export function validIds(untrusted: string[], what: string): string[] {
  if (untrusted.length > LIMITS.itemsPerCall) throw new SdError('TooLarge', `${what}: ${untrusted.length} ids (limit ${LIMITS.itemsPerCall}).`);
  return [...new Set(untrusted.map((id) => validId(id, what)))];
}

export function validLabel(untrusted: string): string {
  if (untrusted.length > LIMITS.labelChars) throw new SdError('TooLarge', `label is longer than ${LIMITS.labelChars} characters.`);
  return untrusted;
}

export function validAttributes(untrusted: Record<string, string>): Record<string, string> {
  // Count before iterating values: 100,000 attributes are refused without touching them.
  const keys = Object.keys(untrusted);
  if (keys.length > LIMITS.attributeCount) throw new SdError('TooLarge', `${keys.length} attributes (limit ${LIMITS.attributeCount}).`);
  const out: Record<string, string> = {};
  for (const key of keys) {
    const value = untrusted[key]!;
    if (key.length === 0 || key.length > LIMITS.attributeKeyChars) throw new SdError(key.length ? 'TooLarge' : 'InvalidArgs', `attribute names must be 1-${LIMITS.attributeKeyChars} characters.`);
    if (CONTROL.test(key)) throw new SdError('InvalidArgs', 'attribute names may not contain control characters.');
    if (typeof value !== 'string') throw new SdError('InvalidArgs', 'attribute values must be strings.');
    if (value.length > LIMITS.attributeValueChars) throw new SdError('TooLarge', `attribute value longer than ${LIMITS.attributeValueChars} characters.`);
    out[key] = value;
  }
  return out;
}

export function validSecret(untrusted: Buffer, what = 'secret'): Buffer {
  if (untrusted.length > LIMITS.secretBytes) {
    untrusted.fill(0);
    throw new SdError('TooLarge', `${what} is larger than ${LIMITS.secretBytes} bytes.`);
  }
  return untrusted;
}

export function validPassphrase(untrusted: Buffer, what = 'passphrase'): Buffer {
  if (untrusted.length === 0 || untrusted.length > LIMITS.passphraseBytes) {
    untrusted.fill(0);
    throw new SdError(untrusted.length ? 'TooLarge' : 'InvalidArgs', `${what} must be 1-${LIMITS.passphraseBytes} bytes.`);
  }
  return untrusted;
}

export function validContentType(untrusted: string): string {
  if (untrusted.length > LIMITS.contentTypeChars) throw new SdError('TooLarge', `content type longer than ${LIMITS.contentTypeChars} characters.`);
  if (untrusted === '') return 'text/plain';
  if (!CONTENT_TYPE.test(untrusted)) throw new SdError('InvalidArgs', 'content type must be printable ASCII like "text/plain".');
  return untrusted;
}

export function validRecoveryCode(untrusted: string): string {
  if (untrusted.length === 0 || untrusted.length > 256 || CONTROL.test(untrusted)) throw new SdError('InvalidArgs', 'recovery code must be 1-256 printable characters.');
  return untrusted;
}


// A request's reason: the rule lives in core/ because the agent applies it too, before forwarding.
export { validReason } from '../../core/reason.js';

export function validTier(untrusted: unknown, what = 'tier'): Tier {
  if (!isTier(untrusted)) throw new SdError('InvalidArgs', `${what} must be "low", "normal" or "high".`);
  return untrusted;
}

/** What the console typed as a high-tier request's confirm word: short printable text, compared later. */
export function validConfirmWord(untrusted: string): string {
  if (untrusted.length > 64 || CONTROL.test(untrusted)) throw new SdError('InvalidArgs', 'confirm word must be at most 64 printable characters.');
  return untrusted;
}
