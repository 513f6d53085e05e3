// The real daemon gives back a burst's garbage once the calls stop (daemon/idle-collector.ts): never
// in the middle of a burst, once QUIET_MS after the last call. Observed through the daemon's debug
// log line for each collection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUIET_MS } from '../../daemon/idle-collector.js';
import type { BusClient } from '../helpers/bus-client.js';
import { startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';

let h: DaemonHarness;
let desktop: BusClient;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const collections = () => (h.daemonLog().match(/idle collection/g) ?? []).length;

/** Resolves with the time the next collection was seen, after `count` were seen before. */
async function nextCollection(count: number, withinMs: number): Promise<number> {
  const until = Date.now() + withinMs;
  while (Date.now() < until) {
    if (collections() > count) return Date.now();
    await sleep(20);
  }
  throw new Error(`no idle collection within ${withinMs} ms\n--- daemon log ---\n${h.daemonLog()}`);
}

const createItem = (i: number) => desktop.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', `burst ${i}`, { burst: String(i) }, Buffer.from(`secret ${i}`), 'text/plain', false, {}] });

beforeAll(async () => {
  h = await startDaemonHarness();
  desktop = await h.client();
  // Start from quiet: the harness's own calls (register, create store) are followed by a collection.
  await nextCollection(0, QUIET_MS + 10_000);
});
afterAll(async () => {
  await h?.stop();
});

describe('idle collection', () => {
  it('waits until a burst of calls is over, then runs once, about QUIET_MS after the last reply', async () => {
    await sleep(QUIET_MS + 500);
    const before = collections();
    // Calls 250 ms apart for twice the quiet period: no collection may fall in between.
    const burstEnd = Date.now() + 2 * QUIET_MS;
    let i = 0;
    while (Date.now() < burstEnd) {
      await createItem(i++);
      await sleep(250);
    }
    await createItem(i++);
    const lastReply = Date.now();
    expect(collections()).toBe(before);
    const seen = await nextCollection(before, QUIET_MS + 5000);
    // The timer started just before the reply was sent; allow for that and for the polling.
    expect(seen - lastReply).toBeGreaterThanOrEqual(QUIET_MS - 200);
    await sleep(QUIET_MS + 500);
    expect(collections()).toBe(before + 1);
  });
});
