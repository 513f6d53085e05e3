// A v4 detached binary-document signature (RFC 4880 §5.2.3), built with node:crypto. openpgp.js
// re-verifies the key's self-signatures and walks its generic packet code on every signature,
// which made a remembered signature cost the daemon 1–3 ms; node:crypto signs ed25519 in ~0.05 ms.
// The bytes are openpgp's own: the same hashed subpackets in the same order, the same MPI and armor
// encoding. openpgp-keys.ts proves that per key before using this (a signature made both ways must
// be identical; ed25519 is deterministic), so openpgp stays the reference and the fallback.
import { createHash, sign as cryptoSign, type KeyObject } from 'node:crypto';

/** OpenPGP public-key algorithm ids this builder signs with. */
export const PUBKEY_EDDSA_LEGACY = 22;

/** OpenPGP hash algorithm ids and their node:crypto names. */
const HASHES: Record<number, string> = { 8: 'sha256', 9: 'sha384', 10: 'sha512', 11: 'sha224' };

export function hashSupported(hashAlgorithm: number): boolean {
  return hashAlgorithm in HASHES;
}

const SUBPACKET_CREATED = 2;
const SUBPACKET_ISSUER_KEY_ID = 16;
const SUBPACKET_ISSUER_FINGERPRINT = 33;
const CRITICAL = 0x80;
const SIGNATURE_PACKET_TAG = 2;
const SIG_BINARY_DOCUMENT = 0x00;

/** What a signature needs of the key that makes it. */
export interface V4Signer {
  /** The private key of the signing (sub)key, EdDSA over ed25519. */
  privateKey: KeyObject;
  /** The v4 fingerprint (20 bytes) of that (sub)key. */
  fingerprint: Buffer;
  hashAlgorithm: number;
}

function subpacket(type: number, data: Buffer): Buffer {
  // Every subpacket we write is shorter than 192 bytes: a one-octet length.
  return Buffer.concat([Buffer.from([data.length + 1, type]), data]);
}

/** A multiprecision integer: the bit count, then the value without leading zero bytes. */
export function mpi(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length && value[start] === 0) start++;
  const digits = value.subarray(start);
  const bits = digits.length === 0 ? 0 : (digits.length - 1) * 8 + (32 - Math.clz32(digits[0]!));
  const head = Buffer.alloc(2);
  head.writeUInt16BE(bits);
  return Buffer.concat([head, digits]);
}

/** The signature packet, header included, over exactly `payload`, made at `created` (Unix seconds). */
export function v4DetachedSignature(signer: V4Signer, payload: Buffer, created: number): Buffer {
  const hashName = HASHES[signer.hashAlgorithm];
  if (!hashName) throw new Error(`hash algorithm ${signer.hashAlgorithm} is not supported here`);
  const time = Buffer.alloc(4);
  time.writeUInt32BE(created);
  const hashed = Buffer.concat([
    subpacket(SUBPACKET_CREATED | CRITICAL, time),
    subpacket(SUBPACKET_ISSUER_KEY_ID, signer.fingerprint.subarray(12)),
    subpacket(SUBPACKET_ISSUER_FINGERPRINT, Buffer.concat([Buffer.from([4]), signer.fingerprint])),
  ]);
  const head = Buffer.alloc(6);
  head.writeUInt8(4, 0);
  head.writeUInt8(SIG_BINARY_DOCUMENT, 1);
  head.writeUInt8(PUBKEY_EDDSA_LEGACY, 2);
  head.writeUInt8(signer.hashAlgorithm, 3);
  head.writeUInt16BE(hashed.length, 4);
  const hashedPart = Buffer.concat([head, hashed]);
  const trailer = Buffer.alloc(6);
  trailer.writeUInt8(4, 0);
  trailer.writeUInt8(0xff, 1);
  trailer.writeUInt32BE(hashedPart.length, 2);
  const digest = createHash(hashName).update(payload).update(hashedPart).update(trailer).digest();
  // OpenPGP's EdDSA signs the digest itself; the 64-byte result is R and S, each written as an MPI.
  const rs = cryptoSign(null, digest, signer.privateKey);
  const body = Buffer.concat([
    hashedPart,
    Buffer.from([0, 0]), // no unhashed subpackets
    digest.subarray(0, 2),
    mpi(rs.subarray(0, 32)),
    mpi(rs.subarray(32)),
  ]);
  // A new-format header (RFC 4880 §4.2.2); an ed25519 signature body is about 117 bytes, always
  // below 192, so its length takes one octet.
  return Buffer.concat([Buffer.from([0xc0 | SIGNATURE_PACKET_TAG, body.length]), body]);
}

/** CRC-24 of RFC 4880 §6.1, for the armor's checksum line. */
export function crc24(data: Buffer): number {
  let crc = 0xb704ce;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

/** ASCII armor as `gpg -a` and openpgp write it: 60-column base64 and the CRC-24 line. */
export function armorSignature(packet: Buffer): string {
  const base64 = packet.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 60) lines.push(base64.slice(i, i + 60));
  const crc = Buffer.alloc(3);
  crc.writeUIntBE(crc24(packet), 0, 3);
  return `-----BEGIN PGP SIGNATURE-----\n\n${lines.join('\n')}\n=${crc.toString('base64')}\n-----END PGP SIGNATURE-----\n`;
}
