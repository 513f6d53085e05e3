// Gives memory back once the daemon has gone quiet after a burst of calls.
//
// Measured with bench/daemon-bench.ts (docs/BENCHMARKS.md, Daemon): after 10,000 CreateItem calls
// and an unlock, the idle daemon held ~6 MiB of dead JS objects and ~5 MiB of dead Buffers, and
// still held them after 100 s idle. V8 collects when the program allocates, and an idle daemon
// allocates nothing, so the last burst's garbage stays. The Buffers (D-Bus messages, the rows
// unlock hashes) are malloc'ed outside the JS heap and go back only once a GC finds them dead.
// A plain full GC frees both but, in about half the runs, leaves the old generation's pages
// sparsely used (16 MiB of pages for 8.4 MiB of objects) and keeps them; a compacting one moves the
// survivors together and gives the emptied pages back (9 MiB of pages). Together: idle RSS with
// 10,000 items 81.5 → 72.6–76.1 MiB. It takes ~40 ms with 10,000 items, so it runs only after QUIET_MS
// without a call, never during a burst.
//
// After the collection, glibc's malloc_trim(0) hands the freed malloc arenas back (~2-4 MiB by
// measurement); the project's addon makes that call for a few pages, where loading a general FFI
// for it cost more than it gave. MALLOC_TRIM_THRESHOLD_ and MALLOC_MMAP_THRESHOLD_ changed nothing
// beyond noise. The young generation is capped by
// --max-semi-space-size=1 from the unit's NODE_OPTIONS: a full collection does not shrink it, and a
// running process cannot set it.
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from '../core/logger.js';
import { sdNative } from '../core/native.js';

/** How long without a call before collecting: longer than an unlock normally takes (< 1.5 s). */
export const QUIET_MS = 2000;

/** Runs `collect` once `quietMs` have passed since the last activity(). */
export class IdleCollector {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly collect: () => void,
    private readonly quietMs = QUIET_MS,
  ) {}

  activity(): void {
    if (this.timer) {
      // Pushes the same timer back: cheap enough for every call of a burst.
      this.timer.refresh();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.collect();
    }, this.quietMs);
    // A pending collection is no reason to keep the process alive.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * A full, compacting V8 garbage collection. Node offers gc() only under --expose-gc; setting that
 * flag at run time gives gc() to contexts created afterwards, so one new context hands it over and
 * the daemon's own global scope never has a gc(). Compaction is asked for this one collection only:
 * the collections V8 runs by itself during a burst stay as cheap as before. Needs no node flag, so
 * the systemd unit, the dev sandbox and the bench all get it.
 */
export function compactingCollection(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return () => {
    setFlagsFromString('--compact-on-every-full-gc');
    try {
      gc();
    } finally {
      setFlagsFromString('--no-compact-on-every-full-gc');
    }
  };
}

/** The daemon's idle collection, logged at debug level with its cost. */
export function idleGarbageCollection(logger: Logger): () => void {
  const gc = compactingCollection();
  const mib = (n: number) => (n / 1048576).toFixed(1);
  return () => {
    const before = process.memoryUsage();
    const start = performance.now();
    gc();
    sdNative().mallocTrim();
    const ms = performance.now() - start;
    const after = process.memoryUsage();
    logger.debug('idle collection', { ms: Math.round(ms), heapTotalMiB: `${mib(before.heapTotal)}→${mib(after.heapTotal)}`, heapUsedMiB: `${mib(before.heapUsed)}→${mib(after.heapUsed)}` });
  };
}
