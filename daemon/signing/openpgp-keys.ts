// OpenPGP keys and detached signatures with the `openpgp` package. Only v4 keys go in or come
// out: gpg 2.2 (Debian 12), which verifies what we sign, cannot read v6 keys or signatures.
// Private keys are kept unencrypted inside the store (the store itself is encrypted), so a key's
// own passphrase is needed once, at import.
import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import * as openpgp from 'openpgp';
import { SdError } from '../../core/errors.js';
import { LIMITS } from '../../core/limits.js';
import type { KeyRecord } from '../store/types.js';
import { armorSignature, hashSupported, PUBKEY_EDDSA_LEGACY, v4DetachedSignature, type V4Signer } from './v4-signature.js';

/** The public facts about a key, as the console and ListKeys show them. */
export interface KeyFacts extends KeyRecord {
  /** The key's secret material is passphrase-protected. */
  encrypted: boolean;
}

const MAX_ARMORED_KEY_BYTES = 1024 * 1024;

function hex(fingerprint: string): string {
  return fingerprint.toUpperCase();
}

/** "ed25519", "rsa3072", "nistp256": how gpg users name algorithms. */
export function describeAlgorithm(info: openpgp.AlgorithmInfo): string {
  if ('bits' in info && typeof info.bits === 'number' && info.algorithm.startsWith('rsa')) return `rsa${info.bits}`;
  if ('curve' in info && typeof info.curve === 'string') {
    if (info.curve === 'ed25519Legacy' || info.curve === 'curve25519Legacy') return info.curve === 'ed25519Legacy' ? 'ed25519' : 'cv25519';
    return info.curve.toLowerCase();
  }
  return String(info.algorithm);
}

function factsOf(key: openpgp.PrivateKey): KeyFacts {
  const fingerprint = hex(key.getFingerprint());
  return {
    fingerprint,
    keyId: fingerprint.slice(-16),
    userIds: key.getUserIDs(),
    algorithm: describeAlgorithm(key.getAlgorithmInfo()),
    created: Math.floor(key.getCreationTime().getTime() / 1000),
    subkeys: key.getSubkeys().map((subkey) => hex(subkey.getFingerprint())),
    encrypted: !key.isDecrypted(),
  };
}

/** Parse an armored (or binary) secret key; refuses public keys, v6 keys and oversized input. */
export async function readSecretKey(untrustedKey: Buffer): Promise<openpgp.PrivateKey> {
  if (untrustedKey.length > MAX_ARMORED_KEY_BYTES) throw new SdError('TooLarge', `key is ${untrustedKey.length} bytes (limit ${MAX_ARMORED_KEY_BYTES}).`);
  let key: openpgp.PrivateKey;
  try {
    const text = untrustedKey.toString('latin1');
    key = text.includes('-----BEGIN PGP')
      ? await openpgp.readPrivateKey({ armoredKey: text })
      : await openpgp.readPrivateKey({ binaryKey: new Uint8Array(untrustedKey) });
  } catch (err) {
    const reason = (err as Error).message ?? '';
    if (/public key|not of type private key/i.test(reason)) throw new SdError('InvalidArgs', 'This is a public key; import the secret key (gpg --export-secret-keys -a KEYID).');
    throw new SdError('InvalidArgs', `Not an OpenPGP secret key (${reason.split('\n')[0]?.slice(0, 120)}).`);
  }
  if (key.keyPacket.version !== 4) {
    throw new SdError('InvalidArgs', `Only OpenPGP v4 keys are supported (this is v${key.keyPacket.version}; gpg 2.2 cannot verify v6 signatures).`);
  }
  return key;
}

export async function keyFacts(untrustedKey: Buffer): Promise<KeyFacts> {
  return factsOf(await readSecretKey(untrustedKey));
}

/**
 * The key made ready for the store: decrypted with its passphrase when it has one, re-armored.
 * The passphrase Buffer is the caller's to wipe; openpgp needs it as a string for a moment.
 */
export async function unlockForStore(untrustedKey: Buffer, passphrase: Buffer | null): Promise<{ facts: KeyFacts; armored: Buffer }> {
  let key = await readSecretKey(untrustedKey);
  const facts = factsOf(key);
  if (!key.isDecrypted()) {
    if (!passphrase || passphrase.length === 0) throw new SdError('WrongPassphrase', 'The key is passphrase-protected; enter its passphrase on the console.');
    if (passphrase.length > LIMITS.passphraseBytes) throw new SdError('TooLarge', 'The key passphrase is too long.');
    try {
      key = await openpgp.decryptKey({ privateKey: key, passphrase: passphrase.toString('utf8') });
    } catch {
      throw new SdError('WrongPassphrase', 'The passphrase does not unlock this key.');
    }
  }
  await assertCanSign(key);
  return { facts: { ...facts, encrypted: false }, armored: Buffer.from(key.armor(), 'utf8') };
}

async function assertCanSign(key: openpgp.PrivateKey): Promise<void> {
  try {
    await key.getSigningKey();
  } catch {
    throw new SdError('InvalidArgs', 'This key has no valid signing (sub)key (expired, revoked or encryption-only).');
  }
}

export type GenerateAlgorithm = 'ed25519' | 'rsa3072' | 'rsa4096';

export function parseGenerateAlgorithm(untrusted: string): GenerateAlgorithm {
  const value = untrusted === '' ? 'ed25519' : untrusted.toLowerCase();
  if (value === 'ed25519' || value === 'rsa3072' || value === 'rsa4096') return value;
  throw new SdError('InvalidArgs', `algorithm ${JSON.stringify(untrusted.slice(0, 32))} is not one of ed25519, rsa3072, rsa4096.`);
}

/** A new v4 key: EdDSA (legacy, the one gpg 2.2 reads) with a cv25519 subkey, or RSA. */
export async function generateKey(name: string, email: string, algorithm: GenerateAlgorithm, now: Date): Promise<{ facts: KeyFacts; armored: Buffer }> {
  const common = { userIDs: [{ name, email }], date: now, format: 'object' as const, config: { v6Keys: false } };
  let privateKey: openpgp.PrivateKey;
  try {
    ({ privateKey } = algorithm === 'ed25519'
      ? await openpgp.generateKey({ ...common, type: 'ecc', curve: 'ed25519Legacy' })
      : await openpgp.generateKey({ ...common, type: 'rsa', rsaBits: algorithm === 'rsa3072' ? 3072 : 4096 }));
  } catch (err) {
    // openpgp checks the user id (e.g. an email without a domain dot); say which input it refused.
    throw new SdError('InvalidArgs', `cannot make a key for ${JSON.stringify(`${name} <${email}>`)}: ${((err as Error).message ?? '').slice(0, 120)}`);
  }
  return { facts: factsOf(privateKey), armored: Buffer.from(privateKey.armor(), 'utf8') };
}

export async function publicKeyArmored(storedKey: Buffer): Promise<string> {
  const key = await readSecretKey(storedKey);
  return key.toPublic().armor();
}

/** What gpg prints in SIG_CREATED, read back from the signature we made. */
export interface SignatureInfo {
  fingerprint: string;
  keyId: string;
  pubkeyAlgorithm: number;
  hashAlgorithm: number;
  created: number;
}

export interface DetachedSignature {
  armored: string;
  info: SignatureInfo;
}

/** openpgp's own wipe (it zeroes and drops each key packet's private parameters); missing from its typings. */
function clearPrivateParams(key: openpgp.PrivateKey): void {
  (key as unknown as { clearPrivateParams(): void }).clearPrivateParams();
}

/** Signed once with both openpgp and node:crypto when a key is prepared; the two must be identical. */
const PROBE_PAYLOAD = Buffer.from('tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nsecrets-dispatcher signing self-test\n');

interface FastSigner {
  signer: V4Signer;
  fingerprint: string;
  /** The signing (sub)key's validity in ms; outside it openpgp decides (and refuses with the reason). */
  notBefore: number;
  notAfter: number;
}

/**
 * A parsed secret key ready to sign. For an ed25519 signing (sub)key it also holds a node:crypto
 * signer (v4-signature.ts), used only after a signature made both ways came out byte-identical
 * (see prepareSigningKey); every other key, and any time outside the signing key's validity, goes
 * through openpgp.sign, which also names the reason it refuses.
 */
export class SigningKey {
  constructor(readonly key: openpgp.PrivateKey, private fast: FastSigner | null) {}

  /** Whether signatures skip openpgp (ed25519 keys whose self-test matched). */
  get fastPath(): boolean {
    return this.fast !== null;
  }

  /**
   * A detached, armored, binary-mode (type 0x00) signature over the exact payload bytes, as `gpg -bsa`
   * makes, by the key's own choice of signing (sub)key or, given `exact`, by that (sub)key.
   */
  async sign(payload: Buffer, now: Date, exact: string | null = null): Promise<DetachedSignature> {
    if (!this.key.isDecrypted()) throw new SdError('Internal', 'A stored key is still passphrase-protected.');
    const fast = this.fast;
    const at = now.getTime();
    if (!fast || at < fast.notBefore || at >= fast.notAfter || (exact !== null && exact !== fast.fingerprint)) {
      return openpgpSignature(this.key, payload, now, exact);
    }
    const created = Math.floor(at / 1000);
    return {
      armored: armorSignature(v4DetachedSignature(fast.signer, payload, created)),
      info: {
        fingerprint: fast.fingerprint,
        keyId: fast.fingerprint.slice(-16),
        pubkeyAlgorithm: PUBKEY_EDDSA_LEGACY,
        hashAlgorithm: fast.signer.hashAlgorithm,
        created,
      },
    };
  }

  /**
   * Zeroes openpgp's copy of the private parameters and drops the node:crypto key object, whose
   * OpenSSL copy is cleared and freed when the garbage collector reclaims it (node:crypto offers no
   * explicit wipe).
   */
  wipe(): void {
    clearPrivateParams(this.key);
    this.fast = null;
  }
}

/** The unencrypted PKCS#8 form of an ed25519 seed (RFC 8410), the only way to hand it to node:crypto without a string copy. */
function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

function expiryMs(value: Date | number | null): number {
  if (value instanceof Date) return value.getTime();
  return value === null ? -Infinity : Infinity;
}

/**
 * The key with, where it can, its node:crypto signer. The signer is used only if a probe signed both
 * ways at `now` is byte-identical (which also picks openpgp's hash algorithm for this key); any
 * difference or error leaves the key on openpgp, which is slower and always right.
 */
export async function prepareSigningKey(key: openpgp.PrivateKey, now: Date): Promise<SigningKey> {
  if (!key.isDecrypted()) return new SigningKey(key, null);
  try {
    const signing = await key.getSigningKey(undefined, now);
    const privateParams = (signing.keyPacket as unknown as { privateParams?: { seed?: Uint8Array } }).privateParams;
    const info = signing.getAlgorithmInfo();
    if (info.algorithm !== 'eddsaLegacy' || info.curve !== 'ed25519Legacy' || !privateParams?.seed) return new SigningKey(key, null);
    const reference = await openpgpSignature(key, PROBE_PAYLOAD, now);
    if (!hashSupported(reference.info.hashAlgorithm)) return new SigningKey(key, null);
    const fingerprint = hex(signing.getFingerprint());
    const fast: FastSigner = {
      signer: { privateKey: ed25519PrivateKey(privateParams.seed), fingerprint: Buffer.from(fingerprint, 'hex'), hashAlgorithm: reference.info.hashAlgorithm },
      fingerprint,
      notBefore: signing.getCreationTime().getTime(),
      notAfter: Math.min(expiryMs(await key.getExpirationTime()), expiryMs(await signing.getExpirationTime())),
    };
    const ours = armorSignature(v4DetachedSignature(fast.signer, PROBE_PAYLOAD, reference.info.created));
    return new SigningKey(key, ours === reference.armored ? fast : null);
  } catch {
    return new SigningKey(key, null);
  }
}

/**
 * Secret keys parsed once per unlock. Parsing a key and checking its self-signatures costs more than
 * the signature itself, and a rebase signs many commits in a row under one remembered decision. An
 * entry is found by fingerprint and checked against a digest of the stored bytes, so a key removed
 * and imported again is parsed anew. wipe() zeroes the decrypted private parameters; the daemon calls
 * it whenever the store locks, so a locked daemon holds no key material here either.
 */
export class ParsedKeyCache {
  private readonly entries = new Map<string, { digest: Buffer; key: SigningKey }>();

  async get(fingerprint: string, storedKey: Buffer, now = new Date()): Promise<SigningKey> {
    const digest = createHash('sha256').update(storedKey).digest();
    const found = this.entries.get(fingerprint);
    if (found && found.digest.equals(digest)) return found.key;
    const key = await prepareSigningKey(await readSecretKey(storedKey), now);
    found?.key.wipe();
    this.entries.set(fingerprint, { digest, key });
    return key;
  }

  forget(fingerprint: string): void {
    this.entries.get(fingerprint)?.key.wipe();
    this.entries.delete(fingerprint);
  }

  wipe(): void {
    for (const { key } of this.entries.values()) key.wipe();
    this.entries.clear();
  }
}

/** A detached signature of `payload`, from a stored key (parsed for this one call) or a prepared one. */
export async function signDetached(storedKey: Buffer | SigningKey, payload: Buffer, now: Date, exact: string | null = null): Promise<DetachedSignature> {
  const key = Buffer.isBuffer(storedKey) ? await prepareSigningKey(await readSecretKey(storedKey), now) : storedKey;
  return key.sign(payload, now, exact);
}

/** openpgp's detached signature: the reference the fast path is checked against, and the path for every other key. */
async function openpgpSignature(key: openpgp.PrivateKey, payload: Buffer, now: Date, exact: string | null = null): Promise<DetachedSignature> {
  const message = await openpgp.createMessage({ binary: new Uint8Array(payload.buffer, payload.byteOffset, payload.length) });
  // No salt notation: gpg 2.2 would print it as binary garbage under every `git log --show-signature`,
  // and gpg itself makes v4 signatures without one.
  // Detached with format 'object' yields a Signature (the typings say Message); no re-parse needed.
  // gpg's "KEYID!": exactly that (sub)key signs, if it may; otherwise openpgp picks, as gpg does.
  const named = exact === null ? null : key.getKeys().find((k) => hex(k.getFingerprint()) === exact);
  if (named === undefined) throw new SdError('NoSuchKey', `The key has no (sub)key ${exact}.`);
  let signature: openpgp.Signature;
  try {
    signature = (await openpgp.sign({
      message, signingKeys: key, detached: true, format: 'object', date: now, config: { nonDeterministicSignaturesViaNotation: false },
      ...(named ? { signingKeyIDs: named.getKeyID() } : {}),
    })) as unknown as openpgp.Signature;
  } catch (err) {
    // openpgp.sign picks the signing (sub)key itself, checking expiry and revocation at `now`.
    if (/signing key|key is expired|revoked/i.test((err as Error).message ?? '')) throw new SdError('NoSuchKey', 'The key has no valid signing (sub)key at this time (expired or revoked).');
    throw err;
  }
  const armored = signature.armor();
  const packet = signature.packets[0];
  if (!packet) throw new SdError('Internal', 'openpgp produced no signature packet.');
  // The issuer fingerprint subpacket names the (sub)key that signed, which gpg reports in SIG_CREATED.
  const fingerprint = packet.issuerFingerprint
    ? Buffer.from(packet.issuerFingerprint).toString('hex').toUpperCase()
    : hex((await key.getSigningKey(undefined, now)).getFingerprint());
  return {
    armored,
    info: {
      fingerprint,
      keyId: fingerprint.slice(-16),
      pubkeyAlgorithm: Number(packet.publicKeyAlgorithm),
      hashAlgorithm: Number(packet.hashAlgorithm),
      created: Math.floor((packet.created ?? now).getTime() / 1000),
    },
  };
}
