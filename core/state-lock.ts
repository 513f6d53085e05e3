// One writer per state directory: the store and the audit log are opened by one process at a
// time, and one dev sandbox runs per dev state directory. The holder keeps an exclusive flock(2)
// on a lock file in the directory, through the project's addon (core/native.ts). The kernel drops the lock when the holder
// dies however it dies (kill -9 included), so there is no stale lock to clean up and no liveness
// guess that could race. Who holds it is read from /proc/locks, the kernel's own record, rather
// than from anything the holder wrote. The lock file stays in place after release: removing it
// would let two processes lock two different files of the same name.
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sdNative } from './native.js';

const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;

function flock(fd: number, operation: number): number {
  return sdNative().flock(fd, operation);
}

/** Another live process holds the lock; nothing was changed. */
export class StateDirInUse extends Error {
  constructor(
    readonly lockFile: string,
    /** From /proc/locks; null when the kernel does not show it (e.g. another PID namespace). */
    readonly holderPid: number | null,
  ) {
    super(`${lockFile} is held by ${holderPid === null ? 'another process' : `pid ${holderPid}`}`);
    this.name = 'StateDirInUse';
  }
}

export interface StateLock {
  readonly lockFile: string;
  /** Drops the lock (closing the file does); idempotent. The process ending drops it too. */
  release(): void;
}

/** "major:minor:inode" as /proc/locks writes it, from fstat's st_dev (glibc's encoding). */
function procLocksId(fd: number): string {
  const { dev, ino } = fstatSync(fd, { bigint: true });
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${ino}`;
}

/** The PID the kernel lists as holding a flock on this file, if it lists one. */
function flockHolder(fd: number): number | null {
  let table: string;
  try {
    table = readFileSync('/proc/locks', 'utf8');
  } catch {
    return null;
  }
  const id = procLocksId(fd);
  for (const line of table.split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 4425 fe:00:2162700 0 EOF"; a waiter's line has "->" after the number.
    const fields = line.trim().split(/\s+/);
    if (fields[1] !== 'FLOCK' || fields[5] !== id) continue;
    const pid = Number(fields[4]);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  }
  return null;
}

/**
 * Takes the exclusive lock `name` in `dir` without waiting. Throws StateDirInUse naming the
 * holder when another process has it. The directory must exist.
 */
export function acquireStateLock(dir: string, name: string): StateLock {
  const lockFile = join(dir, name);
  // O_NOFOLLOW: a symlink planted in the directory cannot point the lock (or its creation) elsewhere.
  const fd = openSync(lockFile, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  const errno = flock(fd, LOCK_EX | LOCK_NB);
  if (errno !== 0) {
    const holder = errno === EWOULDBLOCK ? flockHolder(fd) : null;
    closeSync(fd);
    if (errno === EWOULDBLOCK) throw new StateDirInUse(lockFile, holder);
    throw new Error(`cannot lock ${lockFile} (errno ${errno})`);
  }
  let open = true;
  return {
    lockFile,
    release() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}
