// Who is asking. The UID comes from the bus (the kernel's SO_PEERCRED via the bus daemon), never
// from the caller; everything read from /proc is for the human to look at; the caller's own
// context (a{sv}) is kept apart in `claimed`. The daemon authorises on the UID itself, as well as
// the policy file, so a mistaken or missing policy does not open the console interface.
import type { CallContext } from '../../core/dbus/service.js';
import { SdError } from '../../core/errors.js';
import { LIMITS } from '../../core/limits.js';
import type { RequesterInfo } from '../../core/wire.js';
import type { RequesterResolver } from '../services.js';
import type { UserTable } from '../users.js';
import { addDisplayDetails, readParentChain, readProcessIdentity, readStartTime, readSystemdUnit } from './proc.js';

const CLAIM_KEY = /^[A-Za-z0-9_.-]{1,64}$/;

/** The caller's context a{sv}, validated: string keys, string (or number/boolean) values, capped. */
export function sanitizeClaims(untrustedContext: Record<string, unknown>): Record<string, string> {
  const entries = Object.entries(untrustedContext);
  if (entries.length > LIMITS.contextEntries) throw new SdError('TooLarge', `context has ${entries.length} entries (limit ${LIMITS.contextEntries}).`);
  const claimed: Record<string, string> = {};
  for (const [untrustedKey, untrustedValue] of entries) {
    if (!CLAIM_KEY.test(untrustedKey)) throw new SdError('InvalidArgs', 'context keys are 1-64 characters of A-Z a-z 0-9 _ . -');
    let value: string;
    if (typeof untrustedValue === 'string') value = untrustedValue;
    else if (typeof untrustedValue === 'number' || typeof untrustedValue === 'boolean' || typeof untrustedValue === 'bigint') value = String(untrustedValue);
    else throw new SdError('InvalidArgs', `context value "${untrustedKey}" must be a string.`);
    if (value.length > LIMITS.contextValueChars) throw new SdError('TooLarge', `context value "${untrustedKey}" is longer than ${LIMITS.contextValueChars} characters.`);
    claimed[untrustedKey] = value;
  }
  return claimed;
}

export interface RequesterUids { desktopUid: number; companionUid: number }

export class ProcRequesterResolver implements RequesterResolver {
  constructor(private readonly uids: RequesterUids, private readonly users: UserTable) {}

  /**
   * Cheap on purpose: a read covered by a remembered decision needs only UID and executable. The
   * parent chain, command line, cwd and unit are added by `describeForConsole` when a human will
   * be asked.
   */
  async resolve(ctx: CallContext, untrustedContext: Record<string, unknown>): Promise<RequesterInfo> {
    const claimed = sanitizeClaims(untrustedContext);
    const creds = await ctx.credentials();
    const proc = creds.pid === null ? null : readProcessIdentity(creds.pid);
    // A process that is not the caller's UID is not the caller (the PID was reused already).
    const verified = proc && proc.uid === creds.uid ? proc : null;
    const requester: RequesterInfo = {
      busName: ctx.sender,
      uid: creds.uid,
      userName: this.users.nameOf(creds.uid),
      process: null,
      chain: [],
      systemdUnit: null,
      claimed,
    };
    if (verified) {
      const { ppid, session, ...info } = verified;
      requester.process = info;
      parents.set(requester, { ppid, session });
    }
    return requester;
  }

  async assertDesktopCaller(ctx: CallContext): Promise<void> {
    const { uid } = await ctx.credentials();
    // The companion may use the request interface too: in the dev sandbox both are one user.
    if (uid !== this.uids.desktopUid && uid !== this.uids.companionUid) {
      throw new SdError('NotAuthorized', `UID ${uid} may not use the request interface.`);
    }
  }

  async assertCompanionCaller(ctx: CallContext): Promise<void> {
    const { uid } = await ctx.credentials();
    if (uid !== this.uids.companionUid) throw new SdError('NotAuthorized', `UID ${uid} may not use the console interface.`);
  }
}

/** Where the parent chain starts, kept beside (not inside) the wire object. */
const parents = new WeakMap<RequesterInfo, { ppid: number; session: number }>();

/** Fill in what the console shows: command line, cwd, parent chain, systemd unit. */
export function describeForConsole(requester: RequesterInfo): void {
  const proc = requester.process;
  const start = parents.get(requester);
  if (!proc || !start) return;
  parents.delete(requester);
  addDisplayDetails(proc);
  requester.chain = readParentChain({ pid: proc.pid, ...start });
  requester.systemdUnit = readSystemdUnit(proc.pid);
}

/**
 * PID reuse guard: true while the process that asked is still the one running under that PID
 * (same start time). A request whose requester process was not readable has nothing to re-check.
 */
export function requesterStillRunning(requester: RequesterInfo): boolean {
  if (!requester.process) return true;
  return readStartTime(requester.process.pid) === requester.process.startTime;
}
