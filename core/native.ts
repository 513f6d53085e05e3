// The project's own native addon (native/sd_native.c): the Linux calls Node lacks and the daemon
// needs from its first moment (boot clock, no core dumps, flock). Built by `npm ci` (the package's
// install script) for the Node it runs on. Loaded once, on first use.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface SdNative {
  /** Milliseconds on CLOCK_BOOTTIME, or a negative errno. */
  bootTimeMs(): number;
  /** setrlimit(RLIMIT_CORE, 0) then prctl(PR_SET_DUMPABLE, 0): 0 or the errno of the first failure. */
  forbidCoreDumps(): number;
  /** 1 if this process may be dumped, 0 if not, or a negative errno. */
  dumpable(): number;
  /** flock(fd, operation): 0 or the errno. */
  flock(fd: number, operation: number): number;
  /** glibc malloc_trim(0): 1 if memory went back to the kernel. */
  mallocTrim(): number;
}

const ADDON = join('native', 'build', 'Release', 'sd_native.node');
let addon: SdNative | null = null;

/** The addon, from the package root above this file (source tree or dist/). */
export function sdNative(): SdNative {
  if (addon) return addon;
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    const file = join(dir, ADDON);
    if (existsSync(file)) {
      addon = createRequire(import.meta.url)(file) as SdNative;
      return addon;
    }
    if (dirname(dir) === dir) throw new Error(`the native addon ${ADDON} is missing above ${here}: run \`npm ci\` (it builds it) or \`npx node-gyp rebuild --directory=native\``);
  }
}
