// SQLite failures reaching the store's callers. Our SQL is fixed, our values are capped and the
// schema is verified at open, so any SQLite complaint that is not about the environment (disk
// full, I/O, permissions, memory, locking) can only come from the file's contents: StoreCorrupt
// with advice. Environment failures are reported as such, never as corruption.
import { SdError, isSdError } from '../../core/errors.js';

const ENVIRONMENT_CODES = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_NOMEM', 'SQLITE_READONLY', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_CANTOPEN', 'SQLITE_PERM', 'SQLITE_AUTH', 'SQLITE_INTERRUPT', 'SQLITE_NOLFS'];

export const CORRUPT_ADVICE = 'Restore the store from a backup or an export bundle.';

export function translateStoreError(err: unknown): unknown {
  if (isSdError(err)) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('SQLITE_')) {
    const message = err instanceof Error ? err.message : String(err);
    if (ENVIRONMENT_CODES.some((c) => code === c || code.startsWith(`${c}_`)))
      return new SdError('Internal', `The store's database failed (${code}: ${message}).`, { cause: err });
    return new SdError('StoreCorrupt', `SQLite: ${message} (${code}). ${CORRUPT_ADVICE}`, { cause: err });
  }
  return err;
}
