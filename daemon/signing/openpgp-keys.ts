// OpenPGP keys and detached signatures with the `openpgp` package. Only v4 keys go in or come
// out: gpg 2.2 (Debian 12), which verifies what we sign, cannot read v6 keys or signatures.
// Private keys are kept unencrypted inside the store (the store itself is encrypted), so a key's
// own passphrase is needed once, at import.
import { createHash } from 'node:crypto';
import * as openpgp from 'openpgp';
import { SdError } from '../../core/errors.js';
import { LIMITS } from '../../core/limits.js';
import type { KeyRecord } from '../store/types.js';

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

/**
 * Secret keys parsed once per unlock. Parsing a key and checking its self-signatures costs more than
 * the signature itself (ed25519 here: ~1.7 of ~2.9 ms), and a rebase signs many commits in a row
 * under one remembered decision. An entry is found by fingerprint and checked against a digest of
 * the stored bytes, so a key removed and imported again is parsed anew. wipe() zeroes the decrypted
 * private parameters; the daemon calls it whenever the store locks, so a locked daemon holds no
 * key material here either.
 */
/** openpgp's own wipe (it zeroes and drops each key packet's private parameters); missing from its typings. */
function clearPrivateParams(key: openpgp.PrivateKey): void {
  (key as unknown as { clearPrivateParams(): void }).clearPrivateParams();
}

export class ParsedKeyCache {
  private readonly entries = new Map<string, { digest: Buffer; key: openpgp.PrivateKey }>();

  async get(fingerprint: string, storedKey: Buffer): Promise<openpgp.PrivateKey> {
    const digest = createHash('sha256').update(storedKey).digest();
    const found = this.entries.get(fingerprint);
    if (found && found.digest.equals(digest)) return found.key;
    const key = await readSecretKey(storedKey);
    if (found) clearPrivateParams(found.key);
    this.entries.set(fingerprint, { digest, key });
    return key;
  }

  forget(fingerprint: string): void {
    const found = this.entries.get(fingerprint);
    if (found) clearPrivateParams(found.key);
    this.entries.delete(fingerprint);
  }

  wipe(): void {
    for (const { key } of this.entries.values()) clearPrivateParams(key);
    this.entries.clear();
  }
}

/** A detached, armored, binary-mode (type 0x00) signature over the exact payload bytes, as `gpg -bsa` makes. */
export async function signDetached(storedKey: Buffer | openpgp.PrivateKey, payload: Buffer, now: Date): Promise<{ armored: string; info: SignatureInfo }> {
  const key = Buffer.isBuffer(storedKey) ? await readSecretKey(storedKey) : storedKey;
  if (!key.isDecrypted()) throw new SdError('Internal', 'A stored key is still passphrase-protected.');
  const message = await openpgp.createMessage({ binary: new Uint8Array(payload.buffer, payload.byteOffset, payload.length) });
  // No salt notation: gpg 2.2 would print it as binary garbage under every `git log --show-signature`,
  // and gpg itself makes v4 signatures without one.
  // Detached with format 'object' yields a Signature (the typings say Message); no re-parse needed.
  let signature: openpgp.Signature;
  try {
    signature = (await openpgp.sign({ message, signingKeys: key, detached: true, format: 'object', date: now, config: { nonDeterministicSignaturesViaNotation: false } })) as unknown as openpgp.Signature;
  } catch (err) {
    // openpgp.sign picks the signing (sub)key itself, checking expiry and revocation at `now`.
    if (/signing key/i.test((err as Error).message ?? '')) throw new SdError('NoSuchKey', 'The key has no valid signing (sub)key at this time (expired or revoked).');
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
