// Keeps the daemon's and the console's memory (the data key, decrypted secrets) out of core dumps
// and out of reach of other processes of the same UID. Two syscalls Node lacks, through the project's addon (core/native.ts):
// - prctl(PR_SET_DUMPABLE, 0): the kernel then writes no core at all, not even to systemd-coredump
//   (fs.suid_dumpable applies to processes made undumpable by a change of credentials, not to
//   this); it also makes the files in /proc/PID root-owned and refuses ptrace, /proc/PID/mem and
//   environ to a same-UID process without CAP_SYS_PTRACE (the daemon reading its own /proc is
//   unaffected).
// - setrlimit(RLIMIT_CORE, 0): core size 0 as well, as the units' LimitCORE=0 says; it covers
//   `npm start`, where no unit sets it (systemd-coredump reads the limit and stores nothing).
// Both hold for the whole process (every thread, later threads too) and survive until exec.
import { sdNative } from './native.js';

/** No core file and no same-UID ptrace for this process; throws if the kernel refuses either. */
export function forbidCoreDumps(): void {
  const errno = sdNative().forbidCoreDumps();
  if (errno !== 0) throw new Error(`forbidding core dumps failed (setrlimit(RLIMIT_CORE, 0) or prctl(PR_SET_DUMPABLE, 0): errno ${errno})`);
}

/** What the kernel says now: true if this process may be dumped (PR_GET_DUMPABLE). */
export function isDumpable(): boolean {
  const rc = sdNative().dumpable();
  if (rc < 0) throw new Error(`prctl(PR_GET_DUMPABLE) failed (errno ${-rc})`);
  return rc !== 0;
}
