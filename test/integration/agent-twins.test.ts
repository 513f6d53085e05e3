// The approval twins seen from Secret Service clients: nobody answers before the deadline, the
// console is gone. Approve, deny, requester gone and store locked are in the other agent tests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runClient, startAgentHarness, startClient, type AgentHarness } from '../helpers/agent-harness.js';
import { connectInProcess, type BusClient } from '../helpers/bus-client.js';

let h: AgentHarness;

beforeAll(async () => {
  h = await startAgentHarness({ config: { requestTimeoutSeconds: 3 } });
  await runClient('secret-tool', ['store', '--label=twin', 'twin', 'one'], h.env, 'twin-secret');
});

afterAll(async () => {
  await h?.stop();
});

describe('approval twins through the agent', () => {
  it('timeout: secret-tool says nobody answered, after the deadline and not much later', async () => {
    const started = Date.now();
    const lookup = startClient('secret-tool', ['lookup', 'twin', 'one'], h.env);
    await h.daemon.console.waitForPending(() => true, 20_000);
    const r = await lookup.done;
    const took = Date.now() - started;
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toMatch(/Nobody answered on the console before the deadline/);
    expect(took).toBeGreaterThanOrEqual(2500);
    expect(took).toBeLessThan(15_000);
  });

  it('timeout: a raw secretstorage read gets Timeout instead of hanging', async () => {
    const r = await runClient('/usr/bin/python3', ['-c', `
import secretstorage
bus = secretstorage.dbus_init()
item = next(secretstorage.search_items(bus, {'twin': 'one'}))
try:
    item.get_secret()
    print('GOT SECRET')
except Exception as e:
    print(getattr(e, 'name', type(e).__name__))
`], h.env, undefined, 30_000);
    expect(r.stdout.toString().trim()).toBe('net.mowaka.SecretsDispatcher1.Error.Timeout');
  });

  it('console gone: the client is told at once that no console is connected; back when it returns', async () => {
    await h.daemon.console.close();
    try {
      const started = Date.now();
      const r = await runClient('secret-tool', ['lookup', 'twin', 'one'], h.env);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(r.stdout.length).toBe(0);
      expect(r.stderr).toMatch(/No approval console is connected/);
    } finally {
      // A fresh console peer, as a restarted console would be.
      const peer: BusClient = await connectInProcess(h.daemon.busAddress);
      (h.daemon.console as unknown as { peer: BusClient }).peer = peer;
      await h.daemon.console.register();
    }
    const lookup = startClient('secret-tool', ['lookup', 'twin', 'one'], h.env);
    const req = await h.daemon.console.waitForPending(() => true, 20_000);
    await h.daemon.console.decide(req.id, 'once');
    expect((await lookup.done).stdout.toString()).toBe('twin-secret');
  });
});
