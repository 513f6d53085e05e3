// The process that opened each connection, as the daemon read it when the bus announced the
// connection. The bus's PID for a connection is the process that called connect() on the bus
// socket; that process may since have forked, exec'd another program, or exited and had its PID
// reused. What is kept here lets later reads say what changed (requesters.ts) and anchors the PID
// to one process: its start time, checked against the moment the connection was announced, so a
// process that started afterwards (a reused PID) never passes as the opener.
//
// A pidfd would be the stronger anchor only if it came from the bus itself (SO_PEERPIDFD, which
// newer bus daemons report as ProcessFD); one opened from the PID here has the same window as the
// start time, so the start time is what is used.
import type { PeerCredentials } from '../../core/dbus/bus.js';
import { bootTicksNow, readProcessIdentity } from './proc.js';

export interface OpenerAtConnection { pid: number; startTime: number; exe: string | null }

export class ConnectionOpeners {
  private readonly seen = new Map<string, Promise<OpenerAtConnection | null>>();
  /** Connections not seen appearing were there before the watch began, and so were their openers. */
  private readonly watchStart = bootTicksNow();

  /** The bus announced `name`; `credentials` is the bus's answer for it. */
  arrived(name: string, credentials: Promise<PeerCredentials>): void {
    const announcedAt = bootTicksNow();
    this.seen.set(name, credentials.then((c) => (c.pid === null ? null : readOpener(c.pid, c.uid, announcedAt)), () => null));
  }

  /**
   * The opener as read when the connection appeared: null if it was already gone or not the
   * caller's UID then; undefined when the daemon did not see the connection appear (it predates
   * the daemon's watch).
   */
  atConnection(name: string): Promise<OpenerAtConnection | null> | undefined {
    return this.seen.get(name);
  }

  /** For a connection not seen appearing: could a process with this start time have opened it? */
  couldPredateWatch(startTime: number): boolean {
    return this.watchStart === null || startTime <= this.watchStart;
  }

  gone(name: string): void {
    this.seen.delete(name);
  }

  get size(): number {
    return this.seen.size;
  }
}

function readOpener(pid: number, uid: number, announcedAt: number | null): OpenerAtConnection | null {
  const proc = readProcessIdentity(pid);
  if (!proc || proc.uid !== uid) return null;
  if (announcedAt !== null && proc.startTime > announcedAt) return null;
  return { pid, startTime: proc.startTime, exe: proc.exe };
}
