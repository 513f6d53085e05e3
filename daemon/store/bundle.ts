// The export bundle: a self-describing file to move a store between machines.
//
//   magic "SDBUNDLE" | u16 version | u32 memoryKiB | u32 iterations | u32 parallelism
//   | salt[16] | nonce[12] | AES-256-GCM(contents, aad = everything before) | tag[16] | SHA-256[32]
//
// The trailing SHA-256 (over everything before it) tells "damaged in transit" apart from "wrong
// passphrase" before any Argon2 work; the GCM tag authenticates the contents and header under the
// passphrase. Contents: u32 json length | JSON description | secrets as u32-length-prefixed bytes,
// so secrets never pass through JS strings.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { SdError } from '../../core/errors.js';
import { LIMITS } from '../../core/limits.js';
import { checkKdfParams, deriveKey, SALT_BYTES, type KdfParams } from './kdf.js';
import { sameBytes, sha256, wipe } from './seal.js';

const MAGIC = Buffer.from('SDBUNDLE', 'ascii');
const VERSION = 1;
const HEADER_BYTES = MAGIC.length + 2 + 4 * 3 + SALT_BYTES + 12;
const TAG_BYTES = 16;
const SUM_BYTES = 32;

const timestamp = z.number().int().min(0);
const contentsSchema = z.strictObject({
  format: z.literal(1),
  collections: z.array(z.strictObject({
    id: z.string().regex(/^[A-Za-z0-9_]{1,64}$/),
    label: z.string().max(LIMITS.labelChars),
    aliases: z.array(z.string().max(LIMITS.idChars)).max(64),
    created: timestamp,
    modified: timestamp,
  })),
  items: z.array(z.strictObject({
    id: z.string().regex(/^[A-Za-z0-9_]{1,64}$/),
    collectionId: z.string(),
    label: z.string().max(LIMITS.labelChars),
    attributes: z.record(z.string().max(LIMITS.attributeKeyChars), z.string().max(LIMITS.attributeValueChars)),
    contentType: z.string().max(LIMITS.contentTypeChars),
    created: timestamp,
    modified: timestamp,
    tier: z.enum(['low', 'normal', 'high']).optional(),
    secret: z.number().int().min(0),
  })),
  keys: z.array(z.strictObject({
    fingerprint: z.string().max(LIMITS.idChars),
    keyId: z.string().max(LIMITS.idChars),
    userIds: z.array(z.string().max(LIMITS.labelChars)).max(256),
    algorithm: z.string().max(LIMITS.idChars),
    created: timestamp,
    subkeys: z.array(z.string().max(LIMITS.idChars)).max(LIMITS.subkeysPerKey).optional(),
    tier: z.enum(['low', 'normal', 'high']).optional(),
    secret: z.number().int().min(0),
  })),
});

export type BundleContents = z.infer<typeof contentsSchema>;

/** Encrypts description + blobs. The caller keeps ownership of (and wipes) the blobs it passed. */
export async function sealBundle(description: BundleContents, blobs: Buffer[], passphrase: Buffer, params: KdfParams): Promise<Buffer> {
  const json = Buffer.from(JSON.stringify(description), 'utf8');
  const parts: Buffer[] = [u32(json.length), json];
  for (const blob of blobs) parts.push(u32(blob.length), blob);
  const plain = Buffer.concat(parts);
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(12);
  const header = Buffer.concat([MAGIC, u16(VERSION), u32(params.memoryKiB), u32(params.iterations), u32(params.parallelism), salt, nonce]);
  const key = await deriveKey(passphrase, salt, params);
  try {
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(header);
    const body = Buffer.concat([header, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return Buffer.concat([body, sha256(body)]);
  } finally {
    wipe(key, plain);
  }
}

export interface OpenedBundle {
  contents: BundleContents;
  /** Views into `plain`; wipe `plain` when done. */
  blobs: Buffer[];
  plain: Buffer;
}

/** `maxMemoryKiB`: the most Argon2 memory the bundle's header may ask for (it is the file's claim). */
export async function openBundle(untrustedBundle: Buffer, passphrase: Buffer, maxMemoryKiB = 1024 * 1024): Promise<OpenedBundle> {
  const bad = (why: string) => new SdError('BadBundle', why);
  if (untrustedBundle.length > LIMITS.bundleBytes) throw new SdError('TooLarge', `The bundle is larger than ${LIMITS.bundleBytes} bytes.`);
  if (untrustedBundle.length < HEADER_BYTES + TAG_BYTES + SUM_BYTES || !untrustedBundle.subarray(0, MAGIC.length).equals(MAGIC))
    throw bad('It does not start with the bundle marker.');
  const body = untrustedBundle.subarray(0, untrustedBundle.length - SUM_BYTES);
  if (!sameBytes(sha256(body), untrustedBundle.subarray(untrustedBundle.length - SUM_BYTES))) throw bad('Its checksum does not match: the file is damaged or truncated.');
  let at = MAGIC.length;
  const version = body.readUInt16BE(at);
  at += 2;
  if (version !== VERSION) throw bad(`Unknown bundle version ${version}.`);
  const params = checkKdfParams({ memoryKiB: body.readUInt32BE(at), iterations: body.readUInt32BE(at + 4), parallelism: body.readUInt32BE(at + 8) });
  at += 12;
  if (!params || params.memoryKiB > maxMemoryKiB) throw bad(`Its key-derivation parameters are out of range (at most ${maxMemoryKiB} KiB of memory).`);
  const salt = body.subarray(at, at + SALT_BYTES);
  const nonce = body.subarray(at + SALT_BYTES, at + SALT_BYTES + 12);
  const header = body.subarray(0, HEADER_BYTES);
  const key = await deriveKey(passphrase, salt, params);
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(header);
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    const head = decipher.update(body.subarray(HEADER_BYTES, body.length - TAG_BYTES));
    try {
      decipher.final();
    } catch {
      wipe(head);
      throw bad('Wrong bundle passphrase.');
    }
    plain = head;
  } finally {
    wipe(key);
  }
  try {
    return { ...parseContents(plain), plain };
  } catch (err) {
    wipe(plain);
    throw err;
  }
}

function parseContents(plain: Buffer): { contents: BundleContents; blobs: Buffer[] } {
  const bad = new SdError('BadBundle', 'Its contents are not in the expected format.');
  if (plain.length < 4) throw bad;
  const jsonLen = plain.readUInt32BE(0);
  if (4 + jsonLen > plain.length) throw bad;
  let parsed: unknown;
  try {
    parsed = JSON.parse(plain.subarray(4, 4 + jsonLen).toString('utf8'));
  } catch {
    throw bad;
  }
  const result = contentsSchema.safeParse(parsed);
  if (!result.success) throw bad;
  const blobs: Buffer[] = [];
  let at = 4 + jsonLen;
  while (at < plain.length) {
    if (at + 4 > plain.length) throw bad;
    const len = plain.readUInt32BE(at);
    if (at + 4 + len > plain.length) throw bad;
    blobs.push(plain.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  const refs = [...result.data.items.map((i) => i.secret), ...result.data.keys.map((k) => k.secret)];
  if (refs.some((r) => r >= blobs.length)) throw bad;
  return { contents: result.data, blobs };
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
