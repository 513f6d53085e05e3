// Who a decision covers, and the words the console shows for each choice: both come from here, so
// a grant covers exactly what its line said.
//
// The daemon knows a caller's UID and which process opened its connection, never which process
// sends (identity/requesters.ts). A grant therefore rests on one of these subjects:
// - process: the opener (PID + start time), until it exits. A forked child that inherited the
//   connection is covered too; nothing else is.
// - session: the opener's kernel session (its session id plus the session leader's PID and start
//   time), until the leader exits. A process cannot join another session: setsid() only makes a
//   new one, and setpgid() cannot cross sessions, so a process outside the session cannot present
//   itself as inside it. (A cgroup is no such anchor: the user may move its processes into any of
//   its own cgroups.) The leader's start time guards against its PID being reused.
// - program: the executable the opener runs, or for an interpreter the script it runs plus a
//   SHA-256 of the script's contents (identity/interpreters.ts) — the script path comes from the
//   command line the process reported, so the line says "reported". Within the session by default;
//   across sessions only when the human picks it, and then the line says that any process of the
//   UID that presents itself so is covered.
// - A connection that speaks for someone else (any `requester.*` or `via` claim: the Secret
//   Service agent forwarding a desktop app) gets grants bound to the process that opened it and
//   the program it reports, until that process exits: the claim only narrows.
// Client claims other than these (a signing client's repository) only ever add to the target.
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type BigIntStats } from 'node:fs';
import type { RequesterInfo } from '../../core/wire.js';
import { interpretedScript, isInterpreter } from '../identity/interpreters.js';
import { addDisplayDetails, readStat } from '../identity/proc.js';

/** A process whose life bounds a grant (PID + start time). */
export interface Binding { pid: number; startTime: number }

export interface Subject {
  /** Matched exactly against later requests of the same UID, kind and target. */
  anchor: string;
  /** "any process of uid 1000 that presents itself as /usr/bin/git" */
  words: string;
  /** Set when grants on this subject end with that process. */
  binding: Binding | null;
}

export interface Subjects {
  process: Subject | null;
  session: Subject | null;
  /** The program within this session (or, for a forwarder, within its opener's life). */
  program: Subject | null;
  /** The program in any session; null for forwarders and where no program subject exists. */
  programAnySession: Subject | null;
  /** Why there is no program subject, for the console (an inline interpreter, an unreadable script). */
  noProgram: string | null;
}

const FORWARDING_CLAIM = /^(requester\.|via$)/;
/** A script larger than this is not hashed: no program subject (scripts are small; this bounds the read). */
const SCRIPT_MAX_BYTES = 4 * 1048576;

const NONE: Subjects = { process: null, session: null, program: null, programAnySession: null, noProgram: null };

/** The opener's session: its id and its leader (PID = session id) with start time and comm. */
export interface SessionFacts { sid: number; leaderStartTime: number; leaderComm: string }
/** `knownSession`: the session id read with the process's start time, if the caller has it. */
export type SessionReader = (pid: number, startTime: number, knownSession?: number) => SessionFacts | null;

/** From /proc: null when the process is not the one named, or its session has no leader left. */
export const sessionFromProc: SessionReader = (pid, startTime, knownSession) => {
  let sid = knownSession;
  if (sid === undefined) {
    const stat = readStat(pid);
    if (!stat || stat.startTime !== startTime) return null;
    sid = stat.session;
  }
  if (sid <= 0) return null;
  const leader = readStat(sid);
  // A leader is in its own session; a process with that PID elsewhere is not the leader.
  if (!leader || leader.session !== sid) return null;
  return { sid, leaderStartTime: leader.startTime, leaderComm: leader.comm };
};

export function subjectsOf(requester: RequesterInfo, readSession: SessionReader = sessionFromProc): Subjects {
  const p = requester.process;
  if (!p?.exe || requester.changes?.length) return { ...NONE, noProgram: p?.exe ? 'its executable changed between reads' : 'its executable could not be read' };
  const binding = { pid: p.pid, startTime: p.startTime };
  const processSubject: Subject = {
    anchor: `P\0${p.pid}\0${p.startTime}`,
    words: `the process pid ${p.pid} (${p.exe}) and children that inherited its connection, until it exits,`,
    binding,
  };
  if (Object.keys(requester.claimed).some((k) => FORWARDING_CLAIM.test(k))) {
    const untrustedProgram = requester.claimed['requester.exe'] ?? '(no program reported)';
    // No process or session scope: the forwarder's process speaks for every app it forwards.
    return {
      ...NONE,
      noProgram: null,
      program: {
        anchor: `F\0${p.pid}\0${p.startTime}\0${untrustedProgram}`,
        words: `connections opened by pid ${p.pid} (${p.exe}) that report the program ${untrustedProgram}, until that process exits,`,
        binding,
      },
    };
  }
  const facts = readSession(p.pid, p.startTime, p.session);
  const session: Subject | null = facts
    ? {
        anchor: `S\0${facts.sid}\0${facts.leaderStartTime}`,
        words: `any process of uid ${requester.uid} in session ${facts.sid} (led by pid ${facts.sid}, ${facts.leaderComm}), until that session ends,`,
        binding: { pid: facts.sid, startTime: facts.leaderStartTime },
      }
    : null;
  const program = programOf(requester, p.exe);
  if ('why' in program) return { ...NONE, process: processSubject, session, noProgram: program.why };
  return {
    process: processSubject,
    session,
    program: session
      ? { anchor: `G\0${program.anchor}\0${session.anchor}`, words: `${program.words} in session ${facts!.sid}`, binding: session.binding }
      : null,
    programAnySession: {
      anchor: `G\0${program.anchor}`,
      words: `any process of uid ${requester.uid} that presents itself as ${program.words.replace(/^any process of uid \d+ that presents itself as /, '')}, in any session,`,
      binding: null,
    },
    noProgram: session ? null : 'its session could not be read',
  };
}

/** The program a direct caller runs: the executable, or the script an interpreter runs plus its hash. */
function programOf(requester: RequesterInfo, exe: string): { anchor: string; words: string } | { why: string } {
  const p = requester.process!;
  const binary = { anchor: `exe\0${exe}`, words: `any process of uid ${requester.uid} that presents itself as ${exe}` };
  // Only an interpreter's command line says what it runs: no /proc read for anything else.
  if (!isInterpreter(exe)) return binary;
  if (p.cmdline.length === 0) addDisplayDetails(p);
  const run = interpretedScript(exe, p.cmdline, p.cwd);
  if (run.kind === 'binary') return binary;
  if (run.kind === 'inline') return { why: `${exe} runs no script file (${run.why}), so only this process or this session can be covered` };
  const digest = hashFile(run.untrustedScript);
  if (!digest) return { why: `the script ${run.untrustedScript} could not be read by the daemon, so its contents cannot be pinned` };
  return {
    anchor: `script\0${exe}\0${run.untrustedScript}\0${digest}`,
    words: `any process of uid ${requester.uid} that presents itself as ${exe} running the script ${run.untrustedScript} (as its command line reports) with contents sha256 ${digest.slice(0, 16)}`,
  };
}

/**
 * Hashes of scripts read lately, by what changes whenever a file's contents do: device, inode,
 * size, and the modification and change times in nanoseconds. The change time cannot be set by the
 * file's owner, so a rewritten script is read and hashed again. Bounded; oldest dropped first.
 */
const recentHashes = new Map<string, string>();
const RECENT_HASHES = 256;

function hashFile(path: string): string | null {
  // A script seen before costs one stat; a new or changed one is opened, checked again and read.
  try {
    const st = statSync(path, { bigint: true });
    if (!st.isFile()) return null;
    const seen = recentHashes.get(versionOf(st));
    if (seen) return seen;
  } catch {
    return null;
  }
  let fd: number;
  try {
    // Non-blocking: the path is the process's own report, and a FIFO swapped in after the stat
    // would otherwise hold the daemon in open() until someone writes to it.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile() || st.size > BigInt(SCRIPT_MAX_BYTES)) return null;
    const version = versionOf(st);
    const digest = hashOpen(fd);
    if (digest) {
      if (recentHashes.size >= RECENT_HASHES) recentHashes.delete(recentHashes.keys().next().value!);
      recentHashes.set(version, digest);
    }
    return digest;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

function versionOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

function hashOpen(fd: number): string | null {
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(65536);
  let total = 0;
  for (;;) {
    const n = readSync(fd, chunk, 0, chunk.length, null);
    if (n === 0) break;
    total += n;
    if (total > SCRIPT_MAX_BYTES) return null;
    hash.update(chunk.subarray(0, n));
  }
  return hash.digest('hex');
}
