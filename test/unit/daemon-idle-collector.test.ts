// The daemon's idle collection: never during a burst of calls, once after it, and the collection
// itself really frees what nothing references any more (without node's --expose-gc flag).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { getHeapSpaceStatistics } from 'node:v8';
import { compactingCollection, IdleCollector, QUIET_MS } from '../../daemon/idle-collector.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('IdleCollector', () => {
  it('collects once, QUIET_MS after the last call of a burst, and never while calls keep coming', () => {
    vi.useFakeTimers();
    const collect = vi.fn();
    const idle = new IdleCollector(collect);
    // A burst: a call every 500 ms for 30 s (each call reports its start and its end).
    for (let t = 0; t < 30_000; t += 500) {
      if (t > 0) vi.advanceTimersByTime(490);
      idle.activity();
      vi.advanceTimersByTime(10);
      idle.activity();
    }
    expect(collect).not.toHaveBeenCalled();
    vi.advanceTimersByTime(QUIET_MS - 1);
    expect(collect).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(collect).toHaveBeenCalledTimes(1);
    // Staying idle does not collect again; the next call starts a new quiet period.
    vi.advanceTimersByTime(60_000);
    expect(collect).toHaveBeenCalledTimes(1);
    idle.activity();
    vi.advanceTimersByTime(QUIET_MS);
    expect(collect).toHaveBeenCalledTimes(2);
  });

  it('stop() cancels a pending collection', () => {
    vi.useFakeTimers();
    const collect = vi.fn();
    const idle = new IdleCollector(collect, 100);
    idle.activity();
    idle.stop();
    vi.advanceTimersByTime(1000);
    expect(collect).not.toHaveBeenCalled();
  });

  it('does not keep the process alive while waiting', () => {
    const idle = new IdleCollector(() => undefined, 60_000);
    idle.activity();
    const timer = (idle as unknown as { timer: NodeJS.Timeout }).timer;
    expect(timer.hasRef()).toBe(false);
    idle.stop();
  });
});

describe('compactingCollection', () => {
  it('frees an unreachable object and its Buffer, without --expose-gc and without a global gc()', async () => {
    expect(process.execArgv.join(' ')).not.toContain('expose-gc');
    const collect = compactingCollection();
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    let ref: WeakRef<object>;
    // Allocated in a function of its own, so nothing on this stack keeps it.
    (() => {
      const garbage = { payload: Buffer.alloc(4 * 1024 * 1024, 1) };
      ref = new WeakRef(garbage);
    })();
    // A WeakRef target stays alive until the end of the current job: collect in a later one.
    await new Promise((r) => setImmediate(r));
    collect();
    expect(ref!.deref()).toBeUndefined();
  });

  it('gives back old-generation pages that a burst left sparsely used', () => {
    const collect = compactingCollection();
    const oldSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!;
    // Fill old-generation pages, then let 19 in 20 objects die: every page keeps a few survivors.
    let objects: object[] = [];
    for (let i = 0; i < 400_000; i++) objects.push({ i, s: `x${i}` });
    collect();
    objects = objects.filter((_, i) => i % 20 === 0);
    collect();
    const { space_size: size, space_used_size: used } = oldSpace();
    // A plain full GC keeps ~25 MiB of pages here for ~1 MiB of survivors.
    expect(size - used).toBeLessThan(4 * 1024 * 1024);
    expect(objects).toHaveLength(20_000);
  });
});
