// kill -9 of the daemon in the middle of a burst of writes over the bus: after a restart and
// unlock, every write the daemon acknowledged is there with its secret, and the store still works.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusClient } from '../helpers/bus-client.js';
import { startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';

let h: DaemonHarness;
let writer: BusClient;

beforeAll(async () => {
  // A thousand items created in a burst: past the default quota creation would ask the console.
  h = await startDaemonHarness({ config: { budgets: { createsWithoutAskingPerHour: 100_000 } } });
  writer = await h.client();
});
afterAll(async () => {
  await h?.stop();
});

describe('crash safety through the daemon', () => {
  it('kill -9 during a burst of 1,000 writes: every acknowledged write survives', async () => {
    const acked = new Map<string, string>();
    let failed = 0;
    let next = 0;
    // Eight writers in flight at a time, as a busy client would have.
    const worker = async () => {
      while (next < 1000) {
        const n = next++;
        try {
          const [id] = await writer.call({
            member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', timeoutMs: 10_000,
            body: ['login', `burst ${n}`, { burst: String(n) }, Buffer.from(`value-${n}`), 'text/plain', false, {}],
          });
          acked.set(id, `value-${n}`);
        } catch {
          failed++;
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    while (acked.size < 300) await new Promise((r) => setTimeout(r, 5));
    process.kill(h.daemonPid, 'SIGKILL');
    await Promise.all(workers);
    expect(failed).toBeGreaterThan(0);

    await h.restartDaemon('SIGKILL');
    const ids = [...acked.keys()];
    const found = new Set<string>();
    for (let i = 0; i < ids.length; i += 500) {
      const [items] = await writer.call({ member: 'GetItems', signature: 'as', body: [ids.slice(i, i + 500)] });
      for (const item of items) found.add(item[0]);
    }
    expect(ids.filter((id) => !found.has(id))).toEqual([]);

    const sample = ids.slice(0, 200);
    const reading = writer.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [sample, {}], timeoutMs: 30_000 });
    await h.console.decide((await h.console.waitForPending()).id, 'once');
    const [secrets] = await reading;
    expect(secrets).toHaveLength(sample.length);
    for (const [id, secret] of secrets) expect(Buffer.from(secret).toString()).toBe(acked.get(id));

    const [id] = await writer.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', 'after crash', { after: 'crash' }, Buffer.from('ok'), '', false, {}] });
    expect(id).toMatch(/^[0-9a-f]+$/);
  });
});
