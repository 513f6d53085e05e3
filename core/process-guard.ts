// Keeps the daemon's and the console's memory (the data key, decrypted secrets) out of core dumps
// and out of reach of other processes of the same UID. Two syscalls Node lacks, through koffi:
// - prctl(PR_SET_DUMPABLE, 0): the kernel then writes no core at all, not even to systemd-coredump
//   (fs.suid_dumpable applies to processes made undumpable by a change of credentials, not to
//   this); it also makes the files in /proc/PID root-owned and refuses ptrace, /proc/PID/mem and
//   environ to a same-UID process without CAP_SYS_PTRACE (the daemon reading its own /proc is
//   unaffected).
// - setrlimit(RLIMIT_CORE, 0): core size 0 as well, as the units' LimitCORE=0 says; it covers
//   `npm start`, where no unit sets it (systemd-coredump reads the limit and stores nothing).
// Both hold for the whole process (every thread, later threads too) and survive until exec.
import koffi from 'koffi';

const PR_SET_DUMPABLE = 4;
const PR_GET_DUMPABLE = 3;
const RLIMIT_CORE = 4;

interface Libc {
  prctl: (option: number, arg2: number, arg3: number, arg4: number, arg5: number) => number;
  setrlimit: (resource: number, limit: { rlim_cur: number; rlim_max: number }) => number;
}
let libc: Libc | null = null;

function load(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  koffi.struct('sd_rlimit', { rlim_cur: 'unsigned long', rlim_max: 'unsigned long' });
  libc = {
    prctl: lib.func('int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)') as unknown as Libc['prctl'],
    setrlimit: lib.func('int setrlimit(int resource, const sd_rlimit *rlim)') as unknown as Libc['setrlimit'],
  };
  return libc;
}

/** No core file and no same-UID ptrace for this process; throws if the kernel refuses either. */
export function forbidCoreDumps(): void {
  const c = load();
  if (c.setrlimit(RLIMIT_CORE, { rlim_cur: 0, rlim_max: 0 }) !== 0) throw new Error(`setrlimit(RLIMIT_CORE, 0) failed (errno ${koffi.errno()})`);
  if (c.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) !== 0) throw new Error(`prctl(PR_SET_DUMPABLE, 0) failed (errno ${koffi.errno()})`);
}

/** What the kernel says now: true if this process may be dumped (PR_GET_DUMPABLE). */
export function isDumpable(): boolean {
  return load().prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) !== 0;
}
