// The one error catalogue. Every failure that can reach a user or the bus has a code here; the
// D-Bus name is derived from it, so clients can match on names and tests can assert them.
import { ERROR_PREFIX } from './names.js';

export const ERROR_CODES = {
  Denied: 'The request was denied on the console.',
  Timeout: 'Nobody answered on the console before the deadline.',
  Cancelled: 'The request was cancelled.',
  NoConsole: 'No approval console is connected. Start it: systemctl start secrets-dispatcher-console@<vt> (or `secrets-dispatcher tui`).',
  QueueFull: 'Too many requests from this requester are already waiting on the console.',
  NotAuthorized: 'This caller is not allowed to use this interface.',
  InvalidArgs: 'The arguments are not valid.',
  TooLarge: 'A value is larger than the limit.',
  NotFound: 'No such object.',
  AlreadyExists: 'The object already exists.',
  StoreLocked: 'The store is locked. Unlock it on the console.',
  StoreNotInitialized: 'The store has not been created yet. Create it on the console.',
  StoreAlreadyInitialized: 'The store already exists.',
  WrongPassphrase: 'Wrong passphrase.',
  WrongRecoveryCode: 'Wrong recovery code.',
  TooManyAttempts: 'Too many wrong attempts; wait before trying again.',
  RateLimited: 'Asked for too often; wait before trying again.',
  StoreCorrupt: 'The store failed its integrity check.',
  BadBundle: 'The bundle is damaged or was not made by secrets-dispatcher export.',
  BadPayload: 'The payload to sign is not a commit, tag or push certificate.',
  NoSuchKey: 'No signing key matches.',
  NotRemembered: 'No remembered decision covers this request.',
  CannotLowerTier: 'Only the console can lower a tier.',
  Unavailable: 'The companion daemon is not reachable. Is it running? Run `sd-provision --check`.',
  Config: 'The configuration is not valid.',
  Internal: 'Internal error; see the daemon log.',
  DeniedByRule: 'An administrator\'s rule refuses this request; nobody was asked.',
  ReasonRequired: 'This request needs a reason (e.g. --reason TEXT); nobody was asked.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The spec's own names, used where a Secret Service client matches on them. */
export const SECRET_SERVICE_ERRORS = {
  IsLocked: 'org.freedesktop.Secret.Error.IsLocked',
  NoSession: 'org.freedesktop.Secret.Error.NoSession',
  NoSuchObject: 'org.freedesktop.Secret.Error.NoSuchObject',
} as const;

export const STANDARD_DBUS_ERRORS = {
  InvalidArgs: 'org.freedesktop.DBus.Error.InvalidArgs',
  NotSupported: 'org.freedesktop.DBus.Error.NotSupported',
  UnknownMethod: 'org.freedesktop.DBus.Error.UnknownMethod',
  UnknownObject: 'org.freedesktop.DBus.Error.UnknownObject',
  UnknownInterface: 'org.freedesktop.DBus.Error.UnknownInterface',
  UnknownProperty: 'org.freedesktop.DBus.Error.UnknownProperty',
  AccessDenied: 'org.freedesktop.DBus.Error.AccessDenied',
  PropertyReadOnly: 'org.freedesktop.DBus.Error.PropertyReadOnly',
} as const;

export function dbusErrorName(code: ErrorCode): string {
  return `${ERROR_PREFIX}.${code}`;
}

export function codeFromDbusErrorName(name: string): ErrorCode | undefined {
  if (!name.startsWith(`${ERROR_PREFIX}.`)) return undefined;
  const code = name.slice(ERROR_PREFIX.length + 1);
  return code in ERROR_CODES ? (code as ErrorCode) : undefined;
}

/**
 * The detail follows the catalogue's sentence, so it starts a sentence too: a leading lower-case
 * word ("the secret is…") gets its capital. A detail that starts with a path, a quoted name or an
 * identifier such as userIds (no space or comma right after the lower-case letters) is left as is.
 */
function asSentence(detail: string): string {
  return /^[a-z]+[ ,]/.test(detail) ? `${detail[0]!.toUpperCase()}${detail.slice(1)}` : detail;
}

/**
 * The error every module throws. `detail` must never contain a secret; it is shown to the caller
 * and logged. `dbusName` overrides the derived name where a spec demands its own (e.g. IsLocked).
 */
export class SdError extends Error {
  readonly code: ErrorCode;
  readonly dbusName: string;

  constructor(code: ErrorCode, detail?: string, options?: { dbusName?: string; cause?: unknown }) {
    super(detail ? `${ERROR_CODES[code]} ${asSentence(detail)}` : ERROR_CODES[code], options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SdError';
    this.code = code;
    this.dbusName = options?.dbusName ?? dbusErrorName(code);
  }
}

export function isSdError(err: unknown, code?: ErrorCode): err is SdError {
  return err instanceof SdError && (code === undefined || err.code === code);
}

/** Exit codes shared by every command, so scripts can tell failures apart. */
export const EXIT = {
  ok: 0,
  failure: 1,
  unavailable: 2,
  usage: 64,
  alreadyRunning: 75,
  config: 78,
} as const;
