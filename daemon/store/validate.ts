// Checks on what callers hand the store. The daemon validates requester input first; these are
// the store's own floor, so no caller can write a value larger than core/limits.ts allows.
import { SdError } from '../../core/errors.js';
import { LIMITS } from '../../core/limits.js';
import { isTier } from '../../core/tiers.js';
import type { Tier } from '../../core/wire.js';

export function checkText(value: unknown, max: number, what: string): string {
  if (typeof value !== 'string') throw new SdError('InvalidArgs', `${what} must be a string.`);
  if (value.length > max) throw new SdError('TooLarge', `${what} is longer than ${max} characters.`);
  return value;
}

export function checkAttributes(attributes: Record<string, string>): [string, string][] {
  if (attributes === null || typeof attributes !== 'object') throw new SdError('InvalidArgs', 'Attributes must be a map of strings.');
  const entries = Object.entries(attributes);
  if (entries.length > LIMITS.attributeCount) throw new SdError('TooLarge', `More than ${LIMITS.attributeCount} attributes.`);
  for (const [k, v] of entries) {
    checkText(k, LIMITS.attributeKeyChars, 'An attribute name');
    checkText(v, LIMITS.attributeValueChars, `Attribute ${JSON.stringify(k.slice(0, 64))}`);
  }
  return entries;
}

export function checkSecret(secret: Buffer): void {
  if (!Buffer.isBuffer(secret)) throw new SdError('InvalidArgs', 'The secret must be bytes.');
  if (secret.length > LIMITS.secretBytes) throw new SdError('TooLarge', `The secret is larger than ${LIMITS.secretBytes} bytes.`);
}

export function checkPassphrase(passphrase: Buffer, what = 'The passphrase'): void {
  if (!Buffer.isBuffer(passphrase) || passphrase.length === 0) throw new SdError('InvalidArgs', `${what} is empty.`);
  if (passphrase.length > LIMITS.passphraseBytes) throw new SdError('TooLarge', `${what} is longer than ${LIMITS.passphraseBytes} bytes.`);
}

export function checkTier(tier: unknown): Tier {
  if (!isTier(tier)) throw new SdError('InvalidArgs', 'A tier must be "low", "normal" or "high".');
  return tier;
}
