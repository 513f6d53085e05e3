// Who a remembered decision covers, and the words the console shows for it next to `a`: both come
// from this one function, so a grant covers exactly what its remember line said.
//
// The daemon knows a caller's UID and which process opened its connection, never which process
// sends (identity/requesters.ts). So a grant rests on one of two anchors:
// - A connection that speaks for someone else (any `requester.*` or `via` claim: the Secret
//   Service agent forwarding a desktop app) gets grants bound to the process that opened it (PID
//   and start time) and the program it reports. The agent opens a connection per request, so the
//   anchor is its process, not one connection: no other process's connections match, whatever
//   they claim, and the grants end when that process exits (an agent restart drops them). The
//   claim only narrows: the agent's connections without that claim are not covered either.
// - Any other caller gets grants for its UID and the executable its connection's opener runs, and
//   the remember line says that in plain words: any process of that UID that presents itself so
//   (a process that connects, forks and execs that program passes too). Only when the opener's
//   executable did not change between the daemon's reads; otherwise nothing is remembered.
// Client claims other than these (a signing client's repository) only ever add to the target.
import type { RequesterInfo } from '../../core/wire.js';

export interface GrantHolder {
  /** Matched exactly against later requests of the same UID and kind. */
  anchor: string;
  /** "any process of uid 1000 that presents itself as /usr/bin/git" */
  words: string;
  /** Set when the grant ends with this process (PID + start time). */
  opener: { pid: number; startTime: number } | null;
}

const FORWARDING_CLAIM = /^(requester\.|via$)/;

export function grantHolder(requester: RequesterInfo): GrantHolder | null {
  const p = requester.process;
  if (!p?.exe || requester.changes?.length) return null;
  if (Object.keys(requester.claimed).some((k) => FORWARDING_CLAIM.test(k))) {
    const untrustedProgram = requester.claimed['requester.exe'] ?? '(no program reported)';
    return {
      anchor: `process\0${p.pid}\0${p.startTime}\0${untrustedProgram}`,
      words: `connections opened by pid ${p.pid} (${p.exe}) that report the program ${untrustedProgram}, until that process exits,`,
      opener: { pid: p.pid, startTime: p.startTime },
    };
  }
  return { anchor: `exe\0${p.exe}`, words: `any process of uid ${requester.uid} that presents itself as ${p.exe}`, opener: null };
}

/** The remember line: "<holder> may <action> for N minutes". */
export function rememberLine(holder: GrantHolder, action: string, minutes: number): string {
  return `${holder.words} may ${action} for ${minutes} minutes`;
}
