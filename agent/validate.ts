// Checks on what a session-bus client sends, before anything is forwarded or stored. The daemon
// checks again; checking here first keeps a hostile client's 10 MiB label or 10,000 attributes
// from travelling further, and gives the spec's error names.
import { Variant } from '../core/dbus/bus.js';
import { SdError, STANDARD_DBUS_ERRORS } from '../core/errors.js';
import { LIMITS } from '../core/limits.js';

const CONTROL = /[\u0000-\u001f\u007f]/;

function invalid(detail: string): SdError {
  return new SdError('InvalidArgs', detail, { dbusName: STANDARD_DBUS_ERRORS.InvalidArgs });
}

export function validLabel(untrusted: unknown): string {
  if (typeof untrusted !== 'string') throw invalid('a label must be a string.');
  if (untrusted.length > LIMITS.labelChars) throw new SdError('TooLarge', `the label has ${untrusted.length} characters (limit ${LIMITS.labelChars}).`);
  return untrusted;
}

export function validAttributes(untrusted: unknown): Record<string, string> {
  if (!untrusted || typeof untrusted !== 'object' || Array.isArray(untrusted)) throw invalid('attributes must be a string-to-string map (a{ss}).');
  const entries = Object.entries(untrusted as Record<string, unknown>);
  if (entries.length > LIMITS.attributeCount) throw new SdError('TooLarge', `${entries.length} attributes (limit ${LIMITS.attributeCount}).`);
  const out: Record<string, string> = {};
  for (const [key, value] of entries) {
    if (typeof value !== 'string') throw invalid('attribute values must be strings.');
    if (key.length === 0 || key === '__proto__') throw invalid('attribute names must be non-empty.');
    if (CONTROL.test(key)) throw invalid('attribute names may not contain control characters.');
    if (key.length > LIMITS.attributeKeyChars) throw new SdError('TooLarge', `an attribute name is longer than ${LIMITS.attributeKeyChars} characters.`);
    if (value.length > LIMITS.attributeValueChars) throw new SdError('TooLarge', `an attribute value is longer than ${LIMITS.attributeValueChars} characters.`);
    out[key] = value;
  }
  return out;
}

export function validContentType(untrusted: unknown): string {
  if (typeof untrusted !== 'string') throw invalid('the content type must be a string.');
  if (untrusted === '') return 'text/plain';
  if (untrusted.length > LIMITS.contentTypeChars || !/^[\x21-\x7e][\x20-\x7e]*$/.test(untrusted)) throw invalid('the content type must be printable ASCII like "text/plain".');
  return untrusted;
}

export function assertSecretSize(untrustedValue: Buffer): void {
  // The encrypted form is at most one AES block longer than the secret.
  if (untrustedValue.length > LIMITS.secretBytes + 16) throw new SdError('TooLarge', `the secret is larger than ${LIMITS.secretBytes} bytes.`);
}

/** A property from a{sv} (CreateItem, CreateCollection), checked against the expected signature. */
export function propertyOf(untrustedProps: unknown, name: string, signature: string): unknown {
  if (!untrustedProps || typeof untrustedProps !== 'object') return undefined;
  const v = (untrustedProps as Record<string, unknown>)[name];
  if (v === undefined) return undefined;
  if (!(v instanceof Variant) || v.signature !== signature) throw invalid(`property ${name} must have type ${signature}.`);
  return v.value;
}
