// A request's reason: the requester's own words on why it asks (CLI --reason, the context key
// `reason`, the agent's SetReason). One rule, used by the daemon (request/validate.ts re-exports
// it) and by the agent before it forwards anything.
import { SdError } from './errors.js';
import { LIMITS } from './limits.js';

/** The context a{sv} key a requester puts its reason under. */
export const REASON_KEY = 'reason';

/**
 * Validate a reason from the context key `reason`.
 * Capped, never rewritten: control characters and escape sequences are kept as sent and shown
 * inert by the console and `history` (core/untrusted-text.ts), so what the human reads is what the
 * requester wrote. Empty or absent: no reason.
 */
export function validReason(untrusted: unknown): string | null {
  if (untrusted === undefined || untrusted === '') return null;
  if (typeof untrusted !== 'string') throw new SdError('InvalidArgs', 'context value "reason" must be a string.');
  if (untrusted.length > LIMITS.reasonChars) throw new SdError('TooLarge', `reason is ${untrusted.length} characters (limit ${LIMITS.reasonChars}).`);
  return untrusted;
}

/**
 * Our addition on the Secret Service object (agent/introspection/): SetReason(s) gives the
 * reason for the calling connection's following requests, which the agent forwards.
 */
export const REASON_INTERFACE = 'net.mowaka.SecretsDispatcher1.Reason';
