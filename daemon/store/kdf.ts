// Passphrase → key with Argon2id (raw output). Parameters are stored with the wrapped key so a
// later config change never locks anyone out; they are bounded before use because a bundle from
// elsewhere could otherwise ask for gigabytes.
import argon2 from 'argon2';
import { SdError } from '../../core/errors.js';
import { KEY_BYTES } from './seal.js';

export interface KdfParams {
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}

export const SALT_BYTES = 16;
const MAX_MEMORY_KIB = 4 * 1024 * 1024;
const MAX_ITERATIONS = 64;

export function checkKdfParams(untrusted: unknown): KdfParams | null {
  if (untrusted === null || typeof untrusted !== 'object') return null;
  const { memoryKiB, iterations, parallelism } = untrusted as Record<string, unknown>;
  const isInt = (v: unknown, min: number, max: number): v is number => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
  if (!isInt(parallelism, 1, 16) || !isInt(iterations, 1, MAX_ITERATIONS) || !isInt(memoryKiB, 8 * parallelism, MAX_MEMORY_KIB)) return null;
  return { memoryKiB, iterations, parallelism };
}

export async function deriveKey(passphrase: Buffer, salt: Buffer, params: KdfParams): Promise<Buffer> {
  if (passphrase.length === 0) throw new SdError('InvalidArgs', 'The passphrase is empty.');
  return argon2.hash(passphrase, {
    type: argon2.argon2id,
    raw: true,
    salt,
    hashLength: KEY_BYTES,
    memoryCost: params.memoryKiB,
    timeCost: params.iterations,
    parallelism: params.parallelism,
  });
}
