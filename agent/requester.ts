// Who called the agent on the session bus: PID and UID from the bus daemon (the kernel's
// SO_PEERCRED), executable and command name from /proc. The agent passes this to the daemon as
// *claimed* context: the daemon can only verify that the agent itself called, so the console shows
// these values marked as reported by the agent.
import { readFileSync, readlinkSync } from 'node:fs';
import { getPeerCredentials, type MessageBus } from '../core/dbus/bus.js';
import { LIMITS } from '../core/limits.js';

export interface SessionCaller {
  busName: string;
  uid: number | null;
  pid: number | null;
  exe: string | null;
  comm: string | null;
  cmdline: string | null;
}

function readOrNull(read: () => string): string | null {
  try {
    return read();
  } catch {
    return null;
  }
}

export async function describeCaller(bus: MessageBus, busName: string): Promise<SessionCaller> {
  let uid: number | null = null;
  let pid: number | null = null;
  try {
    ({ uid, pid } = await getPeerCredentials(bus, busName));
  } catch {
    // The caller left already; its request will be cancelled anyway.
  }
  const proc = (file: string) => `/proc/${pid}/${file}`;
  return {
    busName, uid, pid,
    exe: pid === null ? null : readOrNull(() => readlinkSync(proc('exe'))),
    comm: pid === null ? null : readOrNull(() => readFileSync(proc('comm'), 'utf8').trim()),
    cmdline: pid === null ? null : readOrNull(() => readFileSync(proc('cmdline'), 'utf8').split('\0').filter(Boolean).join(' ').slice(0, LIMITS.cmdlineChars)),
  };
}

/** The context a{sv} entries (string values; keys the daemon accepts). */
export function claimedContext(caller: SessionCaller): Record<string, string> {
  const out: Record<string, string> = { via: 'secret-service-agent', 'requester.busName': caller.busName };
  if (caller.pid !== null) out['requester.pid'] = String(caller.pid);
  if (caller.uid !== null) out['requester.uid'] = String(caller.uid);
  if (caller.exe) out['requester.exe'] = caller.exe;
  if (caller.comm) out['requester.comm'] = caller.comm;
  if (caller.cmdline) out['requester.cmdline'] = caller.cmdline;
  return out;
}

/** "python3 (pid 4242)" for notifications. */
export function callerName(caller: SessionCaller): string {
  const name = caller.comm ?? caller.exe?.split('/').pop() ?? 'an unknown process';
  return caller.pid === null ? name : `${name} (pid ${caller.pid})`;
}
