// What /proc says about a process. All of it is for display except uid and start time: the
// start time (stat field 22) plus the PID names one process for its whole life, which is how a
// decision is tied to the process that opened the connection (PID reuse guard, see
// connections.ts). None of it says who sends on a connection: see requesters.ts.
//
// exe and cwd need ptrace-level access: the daemon (companion UID) reads them for the desktop
// user's processes only with CAP_SYS_PTRACE (the unit grants it as an ambient capability). Without
// it they are null, and a request without an executable cannot be remembered.
import { closeSync, openSync, readFileSync, readlinkSync, readSync, statSync } from 'node:fs';
import { LIMITS } from '../../core/limits.js';
import type { ProcessInfo } from '../../core/wire.js';

export interface StatFields { comm: string; ppid: number; session: number; startTime: number }

/**
 * One /proc file into a shared buffer: open, read, close, nothing else. readFileSync also stats the
 * file and grows a buffer, which made each read cost about twice as much; every request reads a
 * few of these. Returns at most `max` bytes (the caller says whether there was more), or null.
 */
const procBuffer = Buffer.allocUnsafe(LIMITS.cmdlineChars + 1);
function readProcFile(path: string, max: number = procBuffer.length): Buffer | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    let length = 0;
    while (length < max) {
      const n = readSync(fd, procBuffer, length, max - length, null);
      if (n === 0) break;
      length += n;
    }
    return procBuffer.subarray(0, length);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

export function readStat(pid: number): StatFields | null {
  const raw = readProcFile(`/proc/${pid}/stat`);
  if (!raw) return null;
  const text = raw.toString('latin1');
  // comm may contain spaces and parentheses: it ends at the last ')'.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const rest = text.slice(close + 2).split(' ');
  const num = (i: number) => Number(rest[i]);
  return { comm: text.slice(open + 1, close), ppid: num(1), session: num(3), startTime: num(19) };
}

/** The start time alone, for re-checking at decision time; null if the process is gone. */
export function readStartTime(pid: number): number | null {
  return readStat(pid)?.startTime ?? null;
}

/** /proc's clock tick (USER_HZ): fixed at 100 on Linux, whatever the kernel's HZ. */
const TICKS_PER_SECOND = 100;

/**
 * Time since boot in /proc clock ticks (the unit of the start time), rounded up: a process whose
 * start time is later than this had not started when it was read.
 */
export function bootTicksNow(): number | null {
  try {
    const seconds = Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]);
    return Number.isFinite(seconds) ? Math.ceil(seconds * TICKS_PER_SECOND) : null;
  } catch {
    return null;
  }
}

/** The executable alone, for comparing reads; null if unreadable. */
export function readExe(pid: number): string | null {
  return tryReadlink(`/proc/${pid}/exe`);
}

function tryReadlink(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

function readCmdline(pid: number): string[] {
  // One byte more than the cap tells whether there was more.
  const raw = readProcFile(`/proc/${pid}/cmdline`, LIMITS.cmdlineChars + 1);
  if (!raw) return [];
  const more = raw.length > LIMITS.cmdlineChars;
  const args = raw.subarray(0, LIMITS.cmdlineChars).toString('utf8').split('\0');
  if (args.at(-1) === '') args.pop();
  if (more) args.push('...');
  return args;
}

export type ProcessWithParent = ProcessInfo & { ppid: number; session: number };

/**
 * What a decision needs, cheaply (three reads): start time, owner, executable. The command line
 * and cwd are left empty; `readProcess` or `addDisplayDetails` fill them when a human will look.
 */
export function readProcessIdentity(pid: number): ProcessWithParent | null {
  const stat = readStat(pid);
  if (!stat) return null;
  let uid: number | null = null;
  try {
    uid = statSync(`/proc/${pid}`).uid;
  } catch {
    return null;
  }
  return {
    pid, startTime: stat.startTime, uid, comm: stat.comm, exe: readExe(pid),
    cmdline: [], cwd: null, ppid: stat.ppid, session: stat.session,
  };
}

/** Command line and cwd, read only if the process is still the one identified (same start time). */
export function addDisplayDetails(info: ProcessInfo): void {
  const cmdline = readCmdline(info.pid);
  const cwd = tryReadlink(`/proc/${info.pid}/cwd`);
  if (readStartTime(info.pid) !== info.startTime) return;
  info.cmdline = cmdline;
  info.cwd = cwd;
}

export function readProcess(pid: number): ProcessWithParent | null {
  const info = readProcessIdentity(pid);
  if (info) addDisplayDetails(info);
  return info;
}

/** Parents nearest first, ending at the session leader (included), init, or the depth limit. */
export function readParentChain(start: { ppid: number; session: number; pid: number }, maxDepth: number = LIMITS.parentChainDepth): ProcessInfo[] {
  const chain: ProcessInfo[] = [];
  if (start.pid === start.session) return chain;
  let ppid = start.ppid;
  while (ppid > 0 && chain.length < maxDepth) {
    const parent = readProcess(ppid);
    if (!parent) break;
    const { ppid: next, session, ...info } = parent;
    chain.push(info);
    if (parent.pid === session || parent.pid === 1) break;
    ppid = next;
  }
  return chain;
}

/**
 * Every systemd unit the process runs under, innermost first, from its cgroup path (e.g.
 * ci.service, app.slice, user@1000.service, user-1000.slice, user.slice): empty when unknown.
 */
export function readSystemdUnits(pid: number): string[] {
  try {
    return unitsInCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  } catch {
    return [];
  }
}

/** The units in the text of a /proc/PID/cgroup (the v2 line, else systemd's v1 hierarchy), innermost first. */
export function unitsInCgroup(text: string): string[] {
  const line = text.split('\n').find((l) => l.startsWith('0::')) ?? text.split('\n').find((l) => l.includes('name=systemd:'));
  if (!line) return [];
  return line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1).split('/').reverse().filter((p) => /\.(service|scope|socket|slice)$/.test(p));
}

/** The innermost systemd unit (service or scope) from /proc/PID/cgroup, if any. */
export function readSystemdUnit(pid: number): string | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return null;
  }
  const line = text.split('\n').find((l) => l.startsWith('0::')) ?? text.split('\n').find((l) => l.includes('name=systemd:'));
  if (!line) return null;
  const parts = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1).split('/').reverse();
  return parts.find((p) => /\.(service|scope|socket)$/.test(p)) ?? null;
}
