// Transport encryption for Secret Service sessions (spec 0.2, "Transfer of Secrets"). Two
// algorithms: `plain` (the secret travels as is, fine on a per-user session bus) and
// `dh-ietf1024-sha256-aes128-cbc-pkcs7`: a Diffie-Hellman exchange in the RFC 2409 1024-bit group,
// HKDF-SHA256 with empty salt and info over the shared secret padded to the prime's length, giving
// an AES-128-CBC key; PKCS#7 padding; a fresh IV per secret sent as the secret's `parameters`.
// Everything here is Node's own crypto (DESIGN §8): no big-number or padding code of ours.
import { createCipheriv, createDecipheriv, createDiffieHellman, getDiffieHellman, hkdfSync, randomBytes } from 'node:crypto';
import { SdError, STANDARD_DBUS_ERRORS } from '../core/errors.js';

export const PLAIN_ALGORITHM = 'plain';
export const DH_ALGORITHM = 'dh-ietf1024-sha256-aes128-cbc-pkcs7';

const MODP2 = getDiffieHellman('modp2');
// Only the group's numbers are taken from here; see DhSession for why sessions do not use it.
const PRIME = MODP2.getPrime();
const PRIME_BIGINT = BigInt(`0x${PRIME.toString('hex')}`);
const GENERATOR = MODP2.getGenerator();
const AES_KEY_BYTES = 16;
// Built once at start (OpenSSL checks the prime here, ~100 ms), not per client.
const SHARED_DH = createDiffieHellman(PRIME, GENERATOR);
const IV_BYTES = 16;

/** What travels in the Secret struct, minus the session path. */
export interface WireSecret { parameters: Buffer; value: Buffer; contentType: string }

export interface SessionCrypto {
  readonly algorithm: string;
  /** The `output` of OpenSession: empty for plain, our public key for DH. */
  readonly output: Buffer;
  encrypt(secret: Buffer): { parameters: Buffer; value: Buffer };
  /** Decrypt a secret a client sent; the caller wipes the returned Buffer. */
  decrypt(untrustedParameters: Buffer, untrustedValue: Buffer): Buffer;
  /** Forget the key (Session.Close, client gone). */
  wipe(): void;
}

function invalid(detail: string): SdError {
  return new SdError('InvalidArgs', detail, { dbusName: STANDARD_DBUS_ERRORS.InvalidArgs });
}

class PlainSession implements SessionCrypto {
  readonly algorithm = PLAIN_ALGORITHM;
  readonly output = Buffer.alloc(0);

  encrypt(secret: Buffer): { parameters: Buffer; value: Buffer } {
    return { parameters: Buffer.alloc(0), value: Buffer.from(secret) };
  }

  decrypt(untrustedParameters: Buffer, untrustedValue: Buffer): Buffer {
    if (untrustedParameters.length !== 0) throw invalid('a plain session takes no secret parameters.');
    return Buffer.from(untrustedValue);
  }

  wipe(): void {
    // nothing secret is held
  }
}

/** Left-pad a big-endian number to the prime's length, as the clients' own DH code does. */
function padToPrime(value: Buffer): Buffer {
  if (value.length >= PRIME.length) return value;
  return Buffer.concat([Buffer.alloc(PRIME.length - value.length), value]);
}

export function deriveAesKey(sharedSecret: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', padToPrime(sharedSecret), Buffer.alloc(0), Buffer.alloc(0), AES_KEY_BYTES));
}

export function aesEncrypt(key: Buffer, iv: Buffer, plaintext: Buffer): Buffer {
  const cipher = createCipheriv('aes-128-cbc', key, iv);
  return Buffer.concat([cipher.update(plaintext), cipher.final()]);
}

export function aesDecrypt(key: Buffer, iv: Buffer, ciphertext: Buffer): Buffer {
  const decipher = createDecipheriv('aes-128-cbc', key, iv);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

class DhSession implements SessionCrypto {
  readonly algorithm = DH_ALGORITHM;
  readonly output: Buffer;
  private readonly key: Buffer;

  constructor(untrustedClientPublic: Buffer, privateKey?: Buffer) {
    if (untrustedClientPublic.length === 0 || untrustedClientPublic.length > PRIME.length) {
      throw invalid(`the DH public key must be 1-${PRIME.length} bytes, got ${untrustedClientPublic.length}.`);
    }
    const y = BigInt(`0x${untrustedClientPublic.toString('hex')}`);
    // 1 and p-1 (and anything outside the group) would make the shared secret guessable.
    if (y <= 1n || y >= PRIME_BIGINT - 1n) throw invalid('the DH public key is not in the group.');
    // A fresh exponent per session on one shared DH object: building a DH object makes OpenSSL
    // test the prime (about 100 ms), which would dominate every client's start-up. The calls
    // below are synchronous, so sessions never interleave on it.
    const exponent = privateKey ? Buffer.from(privateKey) : randomBytes(PRIME.length);
    if (!privateKey) exponent[0]! &= 0x7f; // below the prime, whose top bits are all ones
    const dh = SHARED_DH;
    dh.setPrivateKey(exponent);
    dh.generateKeys();
    this.output = padToPrime(dh.getPublicKey());
    const shared = dh.computeSecret(untrustedClientPublic);
    this.key = deriveAesKey(shared);
    shared.fill(0);
    exponent.fill(0);
    // Leave no session's exponent behind in the shared object.
    dh.setPrivateKey(Buffer.from([1]));
  }

  encrypt(secret: Buffer): { parameters: Buffer; value: Buffer } {
    const iv = randomBytes(IV_BYTES);
    return { parameters: iv, value: aesEncrypt(this.key, iv, secret) };
  }

  decrypt(untrustedParameters: Buffer, untrustedValue: Buffer): Buffer {
    if (untrustedParameters.length !== IV_BYTES) throw invalid(`the secret's parameters must be a ${IV_BYTES}-byte IV.`);
    if (untrustedValue.length === 0 || untrustedValue.length % 16 !== 0) throw invalid('the encrypted secret is not a whole number of AES blocks.');
    try {
      return aesDecrypt(this.key, untrustedParameters, untrustedValue);
    } catch {
      throw invalid('the secret could not be decrypted with this session\'s key.');
    }
  }

  wipe(): void {
    this.key.fill(0);
  }
}

/**
 * Start a session for OpenSession(algorithm, input). Unknown algorithms are NotSupported, as the
 * spec asks, so clients fall back (libsecret retries with plain).
 * `privateKey` exists for known-answer tests only.
 */
export function openSessionCrypto(untrustedAlgorithm: string, untrustedInput: unknown, privateKey?: Buffer): SessionCrypto {
  if (untrustedAlgorithm === PLAIN_ALGORITHM) return new PlainSession();
  if (untrustedAlgorithm === DH_ALGORITHM) {
    if (!Buffer.isBuffer(untrustedInput)) throw invalid(`${DH_ALGORITHM} takes the client's public key as a byte array (variant "ay").`);
    return new DhSession(untrustedInput, privateKey);
  }
  throw new SdError('InvalidArgs', `Algorithm "${untrustedAlgorithm.slice(0, 64)}" is not supported; use "${PLAIN_ALGORITHM}" or "${DH_ALGORITHM}".`, { dbusName: STANDARD_DBUS_ERRORS.NotSupported });
}
