// The store header: how to get from a passphrase or the recovery code to the data key. The data
// key is random and never changes; it is wrapped twice (AES-256-GCM) — under an Argon2id key from
// the passphrase and under a key from the recovery code — so changing or resetting the passphrase
// rewrites only this header. The header's bytes carry a SHA-256 (tells damage from a wrong
// passphrase without any key) and an HMAC under a key from the data key (checked after unlock).
import { hkdfSync, randomBytes } from 'node:crypto';
import { SdError } from '../../core/errors.js';
import { checkKdfParams, deriveKey, SALT_BYTES, type KdfParams } from './kdf.js';
import { encodeParts, KEY_BYTES, open, seal, wipe } from './seal.js';

export interface Header {
  version: 1;
  kdf: KdfParams;
  passphraseSalt: Buffer;
  passphraseWrap: Buffer;
  recoverySalt: Buffer;
  recoveryWrap: Buffer;
}

function passphraseAad(salt: Buffer, kdf: KdfParams): Buffer {
  return encodeParts('wrap-passphrase', salt, kdf.memoryKiB, kdf.iterations, kdf.parallelism);
}

function recoveryKey(code: Buffer, salt: Buffer): Buffer {
  // The code carries 160 random bits, so a plain HKDF is enough; stretching adds nothing.
  return Buffer.from(hkdfSync('sha256', code, salt, 'secrets-dispatcher store recovery wrap', KEY_BYTES));
}

export async function wrapForPassphrase(dataKey: Buffer, passphrase: Buffer, kdf: KdfParams): Promise<Pick<Header, 'kdf' | 'passphraseSalt' | 'passphraseWrap'>> {
  const passphraseSalt = randomBytes(SALT_BYTES);
  const kek = await deriveKey(passphrase, passphraseSalt, kdf);
  try {
    return { kdf, passphraseSalt, passphraseWrap: seal(kek, dataKey, passphraseAad(passphraseSalt, kdf)) };
  } finally {
    wipe(kek);
  }
}

export function wrapForRecovery(dataKey: Buffer, code: Buffer): Pick<Header, 'recoverySalt' | 'recoveryWrap'> {
  const recoverySalt = randomBytes(SALT_BYTES);
  const kek = recoveryKey(code, recoverySalt);
  try {
    return { recoverySalt, recoveryWrap: seal(kek, dataKey, encodeParts('wrap-recovery', recoverySalt)) };
  } finally {
    wipe(kek);
  }
}

/** The data key, or null for a wrong passphrase. */
export async function unwrapWithPassphrase(header: Header, passphrase: Buffer): Promise<Buffer | null> {
  const kek = await deriveKey(passphrase, header.passphraseSalt, header.kdf);
  try {
    return open(kek, header.passphraseWrap, passphraseAad(header.passphraseSalt, header.kdf));
  } finally {
    wipe(kek);
  }
}

/** The data key, or null for a wrong recovery code. */
export function unwrapWithRecovery(header: Header, code: Buffer): Buffer | null {
  const kek = recoveryKey(code, header.recoverySalt);
  try {
    return open(kek, header.recoveryWrap, encodeParts('wrap-recovery', header.recoverySalt));
  } finally {
    wipe(kek);
  }
}

export function encodeHeader(h: Header): Buffer {
  return Buffer.from(
    JSON.stringify({
      version: h.version,
      kdf: h.kdf,
      passphraseSalt: h.passphraseSalt.toString('base64'),
      passphraseWrap: h.passphraseWrap.toString('base64'),
      recoverySalt: h.recoverySalt.toString('base64'),
      recoveryWrap: h.recoveryWrap.toString('base64'),
    }),
    'utf8',
  );
}

export function decodeHeader(bytes: Buffer): Header {
  const bad = () => new SdError('StoreCorrupt', 'The store header is not readable.');
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw bad();
  }
  const kdf = checkKdfParams(raw.kdf);
  const b64 = (v: unknown, len?: number): Buffer => {
    if (typeof v !== 'string') throw bad();
    const b = Buffer.from(v, 'base64');
    if (len !== undefined && b.length !== len) throw bad();
    return b;
  };
  if (raw.version !== 1 || !kdf) throw bad();
  return {
    version: 1,
    kdf,
    passphraseSalt: b64(raw.passphraseSalt, SALT_BYTES),
    passphraseWrap: b64(raw.passphraseWrap),
    recoverySalt: b64(raw.recoverySalt, SALT_BYTES),
    recoveryWrap: b64(raw.recoveryWrap),
  };
}
