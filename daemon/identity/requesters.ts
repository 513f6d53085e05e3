// Who is asking. The UID comes from the bus (the kernel's SO_PEERCRED via the bus daemon), never
// from the caller: it is the one fact about the sender the daemon can establish. The PID is the
// process that opened the connection, and nothing more: a client can connect, fork, exec another
// program in the parent and send everything (Hello included) from the child, or hand the socket
// to any process of its UID, so no read of /proc at any moment proves who sends. What /proc says
// is therefore shown as "the process that opened the connection (pid N) now runs …", with what
// changed between the daemon's reads (when the connection appeared, at the request, at the
// decision) and a grant that rests on it says so in its own words (approvals/grant-scope.ts).
// The caller's own context (a{sv}) is kept apart in `claimed`. The daemon authorises on the UID
// itself, as well as the policy file, so a mistaken or missing policy does not open the console
// interface.
import type { CallContext } from '../../core/dbus/service.js';
import { SdError } from '../../core/errors.js';
import { LIMITS } from '../../core/limits.js';
import { REASON_KEY } from '../../core/reason.js';
import type { RequesterInfo } from '../../core/wire.js';
import type { RequesterResolver } from '../services.js';
import type { UserTable } from '../users.js';
import type { ConnectionOpeners } from './connections.js';
import { addDisplayDetails, readExe, readParentChain, readProcessIdentity, readStartTime, readSystemdUnit, readSystemdUnits } from './proc.js';

const CLAIM_KEY = /^[A-Za-z0-9_.-]{1,64}$/;

/** The caller's context a{sv}, validated: string keys, string (or number/boolean) values, capped. */
export function sanitizeClaims(untrustedContext: Record<string, unknown>): Record<string, string> {
  const entries = Object.entries(untrustedContext);
  if (entries.length > LIMITS.contextEntries) throw new SdError('TooLarge', `context has ${entries.length} entries (limit ${LIMITS.contextEntries}).`);
  const claimed: Record<string, string> = {};
  for (const [untrustedKey, untrustedValue] of entries) {
    // The request's reason is not a claim about who asks: request/asker.ts validates it apart.
    if (untrustedKey === REASON_KEY) continue;
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
  constructor(private readonly uids: RequesterUids, private readonly users: UserTable, private readonly openers?: ConnectionOpeners) {}

  /**
   * Cheap on purpose: a read covered by a remembered decision needs only UID and executable. The
   * parent chain, command line, cwd and unit are added by `describeForConsole` when a human will
   * be asked.
   */
  async resolve(ctx: CallContext, untrustedContext: Record<string, unknown>): Promise<RequesterInfo> {
    const claimed = sanitizeClaims(untrustedContext);
    const creds = await ctx.credentials();
    const atConnection = await this.openers?.atConnection(ctx.sender);
    const proc = creds.pid === null ? null : readProcessIdentity(creds.pid);
    // A process that is not the caller's UID, or not the one seen when the connection appeared,
    // did not open the connection (it exited and its PID was reused).
    const sameOpener = atConnection === undefined
      ? proc !== null && (this.openers?.couldPredateWatch(proc.startTime) ?? true)
      : atConnection !== null && atConnection.startTime === proc?.startTime;
    const opener = proc && proc.uid === creds.uid && sameOpener ? proc : null;
    const changes: string[] = [];
    if (opener && atConnection && atConnection.exe !== opener.exe) {
      changes.push(`ran ${atConnection.exe ?? '(unreadable)'} when the connection appeared, ${opener.exe ?? '(unreadable)'} at the request`);
    }
    const requester: RequesterInfo = {
      busName: ctx.sender,
      uid: creds.uid,
      userName: this.users.nameOf(creds.uid),
      process: null,
      chain: [],
      systemdUnit: null,
      claimed,
      changes,
    };
    if (atConnection !== undefined) requester.exeAtConnection = atConnection?.exe ?? null;
    if (opener) {
      const { ppid, ...info } = opener;
      requester.process = info;
      const { session } = opener;
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
 * The systemd units the process that opened the connection runs under, read now (an admin rule
 * may need them before the console's details are); empty when unknown or when that PID is
 * another process now.
 */
export function systemdUnitsOf(requester: RequesterInfo): string[] {
  const proc = requester.process;
  if (!proc) return [];
  const units = readSystemdUnits(proc.pid);
  // Read after the cgroup: a PID reused in between is caught here.
  return readStartTime(proc.pid) === proc.startTime ? units : [];
}

/**
 * The read at decision time: null while the process that opened the connection is still the one
 * the human was shown (same start time, same executable), else why not; a change is also added
 * to `requester.changes`. A request whose opener was not readable has nothing to re-check.
 */
export function requesterChange(requester: RequesterInfo): string | null {
  const proc = requester.process;
  if (!proc) return null;
  const exe = readExe(proc.pid);
  if (readStartTime(proc.pid) !== proc.startTime) return 'The process that opened the connection exited before the decision.';
  if (exe === proc.exe) return null;
  const change = `ran ${proc.exe ?? '(unreadable)'} at the request, ${exe ?? '(unreadable)'} at the decision`;
  (requester.changes ??= []).push(change);
  return `The process that opened the connection (pid ${proc.pid}) ${change}.`;
}
