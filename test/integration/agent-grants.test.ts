// What a remembered decision given through the Secret Service agent covers: the agent's own
// connection and the program it reports, nothing else. Real secret-tool through the real agent and
// daemon; the attacker is a plain node process calling the daemon directly with the agent's claims.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Variant } from '../../core/dbus/bus.js';
import { runClient, startAgentHarness, startClient, type AgentHarness } from '../helpers/agent-harness.js';

const ERR = 'net.mowaka.SecretsDispatcher1.Error.';
let h: AgentHarness;

beforeAll(async () => {
  h = await startAgentHarness();
});
afterAll(async () => {
  await h?.stop();
});

const lookup = () => startClient('secret-tool', ['lookup', 'service', 'github'], h.env);

describe('a grant given through the agent', () => {
  it('covers the agent\'s next lookups, never a direct caller presenting the same claims, and ends when the agent restarts', async () => {
    expect((await runClient('secret-tool', ['store', '--label=GitHub token', 'service', 'github'], h.env, 'ghp_secret_1')).code).toBe(0);
    const first = lookup();
    const req = await h.daemon.console.waitForPending(() => true, 20_000);
    const secretTool = req.requester.claimed['requester.exe']!;
    expect(secretTool).toMatch(/secret-tool$/);
    expect(req.summary).toBe(`uid ${process.getuid!()} via the Secret Service agent (reported: ${secretTool}) wants the secret of 'GitHub token'`);
    expect(req.rememberScope?.description).toBe(`connections opened by pid ${h.agentPid()} (${process.execPath}) that report the program ${secretTool}, until that process exits, may read 'GitHub token' for 10 minutes`);
    await h.daemon.console.decide(req.id, 'remember');
    expect((await first.done).stdout.toString()).toBe('ghp_secret_1');

    // The agent's next lookup for secret-tool is covered (on a new connection of the same agent).
    const second = await runClient('secret-tool', ['lookup', 'service', 'github'], h.env);
    expect(second.stdout.toString()).toBe('ghp_secret_1');
    expect((await h.daemon.console.history(5)).find((e) => e.kind === 'secret')?.outcome).toBe('remembered');

    // A node script (this test process) claiming to be the agent forwarding secret-tool asks.
    const attacker = await h.daemon.client();
    const itemId = req.items[0]!.itemId;
    const claims = { via: new Variant('s', 'secret-service-agent'), 'requester.exe': new Variant('s', secretTool) };
    const stolen = attacker.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [[itemId], claims], timeoutMs: 30_000 })
      .then(() => 'got the secret', (e: { dbusName?: string }) => e.dbusName);
    const forged = await h.daemon.console.waitForPending((r) => r.requester.busName === attacker.uniqueName);
    expect(forged.requester.process?.pid).toBe(process.pid);
    await h.daemon.console.decide(forged.id, 'deny');
    expect(await stolen).toBe(`${ERR}Denied`);
    await attacker.close();

    // An agent restart is a new process: the grant is gone and the next lookup asks.
    await h.stopAgent();
    await h.startAgent();
    expect(await h.daemon.console.listRemembered()).toEqual([]);
    const third = lookup();
    const again = await h.daemon.console.waitForPending(() => true, 20_000);
    await h.daemon.console.decide(again.id, 'deny');
    expect((await third.done).stdout.length).toBe(0);
  });
});
