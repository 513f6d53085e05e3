// Questions --check asks the running system (not the files): who owns a bus name, what runs on a
// VT, whether systemd accepts our units. Each answers "unknown" with a reason when it cannot tell.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Probe<T> = { known: true; value: T } | { known: false; why: string };

export interface LiveProbes {
  /** The UID owning `name` on the system bus, or null when nobody owns it. */
  systemBusOwnerUid(name: string): Promise<Probe<number | null>>;
  /** The command line of the process owning `name` on `uid`'s session bus, or null. */
  sessionBusOwnerCommand(uid: number, name: string): Promise<Probe<string | null>>;
  /** PIDs of processes of `uid` whose controlling terminal is /dev/tty<vt>. */
  processesOnVt(vt: number, uid: number): Probe<number[]>;
  /** Problems `systemd-analyze verify` finds in the unit files (named as installed). */
  verifyUnits(files: { name: string; path: string }[]): Promise<Probe<string>>;
  /** Does `uid` have a logind session (or at least a runtime dir)? */
  userLoggedIn(uid: number): boolean;
  /** /proc/sys/kernel/yama/ptrace_scope, or null when the kernel has no Yama. */
  ptraceScope(): Probe<number | null>;
  /** The mode AppArmor reports for a loaded profile (enforce, complain), or null if not loaded. */
  apparmorProfileMode(name: string): Probe<string | null>;
}

function runCommand(file: string, args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: options.timeoutMs ?? 5000, env: options.env ?? process.env }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 127) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err && code === 127 ? err.message : '') });
    });
  });
}

function dbusSendArgs(bus: string[], method: string, arg: string): string[] {
  return [...bus, '--print-reply=literal', '--reply-timeout=2000', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', `org.freedesktop.DBus.${method}`, arg];
}

const NO_OWNER = /NameHasNoOwner|does not have an owner|no owner/i;

export function systemBusAddress(): string {
  return process.env.DBUS_SYSTEM_BUS_ADDRESS ?? 'unix:path=/run/dbus/system_bus_socket';
}

function socketOf(address: string): string | null {
  const m = /unix:path=([^,;]+)/.exec(address);
  return m ? m[1]! : null;
}

export function createLiveProbes(): LiveProbes {
  return {
    async systemBusOwnerUid(name) {
      const address = systemBusAddress();
      const socket = socketOf(address);
      if (socket && !existsSync(socket)) return { known: false, why: `no system bus here (${socket} does not exist)` };
      const bus = [`--bus=${address}`];
      const owner = await runCommand('dbus-send', dbusSendArgs(bus, 'GetNameOwner', `string:${name}`));
      if (owner.code !== 0) {
        if (NO_OWNER.test(owner.stderr)) return { known: true, value: null };
        return { known: false, why: `dbus-send failed: ${owner.stderr.trim() || `exit ${owner.code}`}` };
      }
      const uid = await runCommand('dbus-send', dbusSendArgs(bus, 'GetConnectionUnixUser', `string:${owner.stdout.trim()}`));
      const value = Number(/(\d+)\s*$/.exec(uid.stdout.trim())?.[1]);
      return Number.isInteger(value) ? { known: true, value } : { known: false, why: `could not read the owner's UID: ${uid.stderr.trim()}` };
    },

    async sessionBusOwnerCommand(uid, name) {
      const socket = `/run/user/${uid}/bus`;
      if (!existsSync(socket)) return { known: false, why: `UID ${uid} has no session bus (${socket}): not logged in` };
      const bus = [`--bus=unix:path=${socket}`];
      // A session bus only lets its own user in, so root asks as that user.
      const asUser = (args: string[]) => (process.getuid?.() === uid ? runCommand('dbus-send', args) : runCommand('setpriv', [`--reuid=${uid}`, `--regid=${gidOf(uid)}`, '--clear-groups', 'dbus-send', ...args]));
      if (process.getuid?.() !== 0 && process.getuid?.() !== uid) return { known: false, why: 'only root or that user can ask their session bus' };
      const owner = await asUser(dbusSendArgs(bus, 'GetNameOwner', `string:${name}`));
      if (owner.code !== 0) {
        if (NO_OWNER.test(owner.stderr)) return { known: true, value: null };
        return { known: false, why: `dbus-send failed: ${owner.stderr.trim() || `exit ${owner.code}`}` };
      }
      const pid = await asUser(dbusSendArgs(bus, 'GetConnectionUnixProcessID', `string:${owner.stdout.trim()}`));
      const value = Number(/(\d+)\s*$/.exec(pid.stdout.trim())?.[1]);
      if (!Number.isInteger(value)) return { known: false, why: `could not read the owner's PID: ${pid.stderr.trim()}` };
      try {
        return { known: true, value: readFileSync(`/proc/${value}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ') };
      } catch {
        return { known: true, value: `pid ${value}` };
      }
    },

    processesOnVt(vt, uid) {
      // tty_nr in /proc/PID/stat: major 4 (the VTs) in bits 8-15, the minor (VT number) below.
      const wanted = (4 << 8) | vt;
      const pids: number[] = [];
      for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        try {
          const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          if (Number(fields[4]) === wanted && statSync(`/proc/${entry}`).uid === uid) pids.push(Number(entry));
        } catch {
          // the process ended while we looked
        }
      }
      return { known: true, value: pids };
    },

    async verifyUnits(files) {
      const dir = mkdtempSync(join(tmpdir(), 'sd-verify-'));
      try {
        for (const f of files) copyFileSync(f.path, join(dir, f.name));
        const probe = await runCommand('systemd-analyze', ['verify', '--man=no', ...files.map((f) => join(dir, f.name))], {
          timeoutMs: 20_000,
          env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:`, SYSTEMD_LOG_COLOR: '0' },
        });
        if (probe.code === 127) return { known: false, why: 'systemd-analyze is not installed' };
        const text = `${probe.stdout}${probe.stderr}`.split(dir + '/').join('').trim();
        return { known: true, value: probe.code === 0 ? text : text || `systemd-analyze verify exited ${probe.code}` };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },

    userLoggedIn(uid) {
      return existsSync(`/run/user/${uid}`);
    },

    ptraceScope() {
      const path = '/proc/sys/kernel/yama/ptrace_scope';
      if (!existsSync(path)) return { known: true, value: null };
      const value = Number(readFileSync(path, 'utf8').trim());
      return Number.isInteger(value) ? { known: true, value } : { known: false, why: `${path} is not a number` };
    },

    apparmorProfileMode(name) {
      let text: string;
      try {
        text = readFileSync('/sys/kernel/security/apparmor/profiles', 'utf8');
      } catch (err) {
        return { known: false, why: `cannot read /sys/kernel/security/apparmor/profiles (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
      }
      // One line per profile: "NAME (MODE)".
      const line = text.split('\n').find((l) => l.startsWith(`${name} (`));
      return { known: true, value: line ? line.slice(name.length + 2, -1) : null };
    },
  };
}

function gidOf(uid: number): number {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (Number(f[2]) === uid) return Number(f[3]);
    }
  } catch {
    // fall back below
  }
  return uid;
}

/** Where Debian (and most others) install apparmor_parser, or null. */
export function apparmorParser(): string | null {
  return ['/usr/sbin/apparmor_parser', '/sbin/apparmor_parser'].find((p) => existsSync(p)) ?? null;
}

/** The kernel enforces AppArmor profiles and this system can load one. */
export function apparmorConfines(): boolean {
  try {
    return readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y' && apparmorParser() !== null;
  } catch {
    return false;
  }
}
