// SQLite failures reaching the store's callers. Our SQL is fixed and the schema verified, so a
// SQLite complaint about the file's contents means damage: StoreCorrupt with advice. Failures of
// the environment (disk full, I/O, permissions) are reported as such, never as corruption.
import { SdError, isSdError } from '../../core/errors.js';

const CORRUPT_CODES = ['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_FORMAT', 'SQLITE_SCHEMA', 'SQLITE_ERROR', 'SQLITE_MISMATCH', 'SQLITE_RANGE'];

export const CORRUPT_ADVICE = 'Restore the store from a backup or an export bundle.';

export function translateStoreError(err: unknown): unknown {
  if (isSdError(err)) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('SQLITE_')) {
    const message = err instanceof Error ? err.message : String(err);
    if (CORRUPT_CODES.some((c) => code === c || code.startsWith(`${c}_`)))
      return new SdError('StoreCorrupt', `SQLite: ${message}. ${CORRUPT_ADVICE}`, { cause: err });
    return new SdError('Internal', `The store's database failed (${code}: ${message}).`, { cause: err });
  }
  return err;
}
