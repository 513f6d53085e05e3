import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusClient } from '../helpers/bus-client.js';
import { startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';

let h: DaemonHarness;
let desktop: BusClient;
let itemId: string;

beforeAll(async () => {
  h = await startDaemonHarness({ config: { requestTimeoutSeconds: 3 } });
  desktop = await h.client();
  [itemId] = await desktop.call({
    member: 'CreateItem', signature: 'ssa{ss}aysba{sv}',
    body: ['login', 'GitHub token', { service: 'github', user: 'nb' }, Buffer.from('s3cret'), 'text/plain', false, {}],
  });
});
afterAll(async () => {
  await h?.stop();
});

const getSecrets = (c: BusClient, ids: string[], timeoutMs = 20_000) =>
  c.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [ids, {}], timeoutMs });

describe('a secret read waits for the console', () => {
  it('approve once → the secret', async () => {
    const reading = getSecrets(desktop, [itemId]);
    const pending = await h.console.waitForPending((r) => r.items.some((i) => i.itemId === itemId));
    expect(pending.kind).toBe('secret');
    expect(pending.requester.process?.pid).toBe(process.pid);
    expect(pending.items[0]).toMatchObject({ label: 'GitHub token', attributes: { service: 'github', user: 'nb' } });
    await h.console.decide(pending.id, 'once');
    const [secrets] = await reading;
    expect(secrets).toHaveLength(1);
    expect(secrets[0][0]).toBe(itemId);
    expect(Buffer.from(secrets[0][1]).toString()).toBe('s3cret');
  });

  it('deny → Denied', async () => {
    const reading = getSecrets(desktop, [itemId]);
    const pending = await h.console.waitForPending();
    await h.console.decide(pending.id, 'deny');
    await expect(reading).rejects.toMatchObject({ dbusName: 'net.mowaka.SecretsDispatcher1.Error.Denied' });
  });

  it('no answer by the deadline → Timeout', async () => {
    const started = Date.now();
    await expect(getSecrets(desktop, [itemId])).rejects.toMatchObject({ dbusName: 'net.mowaka.SecretsDispatcher1.Error.Timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
    expect(await h.console.listPending()).toEqual([]);
  });
});
