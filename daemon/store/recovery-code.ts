// The one-time recovery code: 160 random bits in Crockford base32 (no I, L, O, U), grouped by
// four so a human can copy it onto paper and type it back. Reading is forgiving about case,
// spaces, dashes and the look-alikes I/L → 1 and O → 0.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const RECOVERY_CODE_BYTES = 20;

export function newRecoveryCode(): { text: string; bytes: Buffer } {
  const bytes = randomBytes(RECOVERY_CODE_BYTES);
  let bits = 0;
  let acc = 0;
  let out = '';
  for (const byte of bytes) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(acc >> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  return { text: out.match(/.{1,4}/g)!.join('-'), bytes };
}

/** The code's bytes, or null when the text cannot be a recovery code. */
export function parseRecoveryCode(untrustedText: string): Buffer | null {
  const cleaned = untrustedText.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
  if (cleaned.length !== (RECOVERY_CODE_BYTES * 8) / 5) return null;
  const out = Buffer.alloc(RECOVERY_CODE_BYTES);
  let bits = 0;
  let acc = 0;
  let pos = 0;
  for (const ch of cleaned) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) return null;
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out[pos++] = (acc >> (bits - 8)) & 0xff;
      bits -= 8;
      acc &= (1 << bits) - 1;
    }
  }
  return out;
}
