// A clock the integration tests can move, so cooldowns, deadlines and grant lifetimes are tested
// without waiting: when SD_TEST_CLOCK_FILE names a file, both clocks run that many milliseconds
// (the file's text, an integer >= 0) ahead of the system's, re-read on every call. Time only ever
// moves forward this way, like suspend, so nothing that ends can be made to last longer.
//
// The daemon's environment is its unit's (the desktop user cannot set it), and the file must be
// the daemon's own and writable by nobody else, or the daemon refuses to start.
import { fstatSync, openSync, readSync, closeSync, constants } from 'node:fs';
import { SdError } from '../core/errors.js';
import { systemClock, type Clock } from './clock.js';

export const TEST_CLOCK_ENV = 'SD_TEST_CLOCK_FILE';

function readOffset(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    throw new SdError('Config', `${TEST_CLOCK_ENV}: cannot open ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}; a symlink is refused).`);
  }
  try {
    const st = fstatSync(fd);
    if (st.uid !== process.geteuid?.() || (st.mode & 0o022) !== 0) {
      throw new SdError('Config', `${TEST_CLOCK_ENV}: ${path} must belong to the daemon's user and be writable by it alone.`);
    }
    const buf = Buffer.alloc(32);
    const text = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('ascii').trim();
    if (!/^\d{1,15}$/.test(text)) throw new SdError('Config', `${TEST_CLOCK_ENV}: ${path} must hold a whole number of milliseconds.`);
    return Number(text);
  } finally {
    closeSync(fd);
  }
}

/** The system clock, or (under SD_TEST_CLOCK_FILE) the system clock moved ahead by the file's offset. */
export function clockFromEnvironment(env: NodeJS.ProcessEnv, base: Clock = systemClock): Clock {
  const path = env[TEST_CLOCK_ENV];
  if (!path) return base;
  readOffset(path);
  return { wall: () => base.wall() + readOffset(path), boot: () => base.boot() + readOffset(path) };
}
