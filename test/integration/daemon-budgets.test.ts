// Quotas against a hostile desktop process, end to end (the real daemon on a private bus with our
// policy): creating items in a loop ends up asking the console; a desktop Lock in a loop is refused.
// The flood of requests is daemon-flood.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Variant } from '../../core/dbus/bus.js';
import type { BusClient } from '../helpers/bus-client.js';
import { startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';

const ERR = 'net.mowaka.SecretsDispatcher1.Error.';
const CREATES = 3;

let h: DaemonHarness;
let desktop: BusClient;
let floodItem: string;

const createItem = async (c: BusClient, label: string, secret: string) =>
  (await c.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', label, { label }, Buffer.from(secret), 'text/plain', false, {}], timeoutMs: 30_000 }))[0] as string;

const getSecrets = (c: BusClient, ids: string[], context: Record<string, string> = {}, timeoutMs = 600_000) =>
  c.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [ids, Object.fromEntries(Object.entries(context).map(([k, v]) => [k, new Variant('s', v)]))], timeoutMs });

beforeAll(async () => {
  h = await startDaemonHarness({
    config: { requestTimeoutSeconds: 600, budgets: { createsWithoutAskingPerHour: CREATES } },
  });
  desktop = await h.client();
  floodItem = await createItem(desktop, 'read while locking', 'flood-secret');
});
afterAll(async () => {
  await desktop?.close();
  await h?.stop();
});

describe('creating items without asking', () => {
  it(`past ${CREATES} an hour per UID (one made before this test), creation asks on the console; denied, nothing is stored`, async () => {
    for (let i = 1; i < CREATES; i++) await createItem(desktop, `quota ${i}`, 'x');
    const asking = createItem(desktop, 'over the quota', 'y');
    const pending = await h.console.waitForPending((r) => r.kind === 'write');
    expect(pending.summary).toMatch(/wants to create 'over the quota'.*more than 3 items without asking/);
    await h.console.decide(pending.id, 'deny');
    await expect(asking).rejects.toMatchObject({ dbusName: `${ERR}Denied` });
    const found = await desktop.call({ member: 'SearchItems', signature: 'sa{ss}', body: ['login', { label: 'over the quota' }] });
    expect(found[0]).toEqual([]);
    // Approved, it is created.
    const approved = createItem(desktop, 'approved over the quota', 'z');
    await h.console.decide((await h.console.waitForPending((r) => r.kind === 'write')).id, 'once');
    expect(await approved).toMatch(/./);
  });
});

describe('a desktop Lock in a loop', () => {
  it('is honoured once; the next is refused with RateLimited and changes nothing; the console can still lock', async () => {
    await desktop.call({ member: 'Lock' });
    expect((await h.console.status()).locked).toBe(true);
    await h.console.unlock('correct horse battery staple');
    const waiting = getSecrets(desktop, [floodItem]).catch((e) => e);
    const pending = await h.console.waitForPending((r) => r.kind === 'secret');
    await expect(desktop.call({ member: 'Lock' })).rejects.toMatchObject({ dbusName: `${ERR}RateLimited` });
    expect((await h.console.status()).locked).toBe(false);
    expect((await h.console.listPending()).map((r) => r.id)).toContain(pending.id);
    await h.console.decide(pending.id, 'once');
    expect(Buffer.from((await waiting)[0][0][1]).toString()).toBe('flood-secret');
    await h.console.lock();
    expect((await h.console.status()).locked).toBe(true);
    await h.console.unlock('correct horse battery staple');
  });
});
