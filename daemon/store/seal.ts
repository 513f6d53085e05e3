// Record encryption: AES-256-GCM with a fresh random nonce per record, and associated data that
// names the row a ciphertext belongs to, so a ciphertext copied into another row fails to open.
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

const FORMAT = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;

/** Length-prefixed parts, so ("ab","c") and ("a","bc") never give the same associated data. */
export function encodeParts(...parts: (string | Buffer | number)[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const bytes = typeof part === 'number' ? Buffer.from(String(part)) : typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(bytes.length);
    chunks.push(len, bytes);
  }
  return Buffer.concat(chunks);
}

export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  return Buffer.concat([Buffer.of(FORMAT), nonce, head, tail, cipher.getAuthTag()]);
}

/** The plaintext, or null when the tag does not verify (wrong key, damaged bytes or wrong row). */
export function open(key: Buffer, sealed: Buffer, aad: Buffer): Buffer | null {
  if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== FORMAT) return null;
  const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
  const body = sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const plain = decipher.update(body);
  try {
    const tail = decipher.final();
    if (tail.length === 0) return plain;
    const whole = Buffer.concat([plain, tail]);
    plain.fill(0);
    return whole;
  } catch {
    plain.fill(0);
    return null;
  }
}

export function subkey(root: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), `secrets-dispatcher store ${purpose}`, KEY_BYTES));
}

export function mac(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

export function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function wipe(...buffers: (Buffer | null | undefined)[]): void {
  for (const b of buffers) b?.fill(0);
}
