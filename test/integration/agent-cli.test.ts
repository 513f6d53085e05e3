// `secrets-dispatcher get|set|list|rm`: a Secret Service client through the agent, approvals on the
// scripted console.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/daemon-harness.js';
import { runClient, startAgentHarness, startClient, type AgentHarness } from '../helpers/agent-harness.js';

let h: AgentHarness;

beforeAll(async () => {
  h = await startAgentHarness();
});

afterAll(async () => {
  await h?.stop();
});

const cli = (args: string[], input?: string) => runClient(process.execPath, [CLI, ...args], h.env, input);

async function decideNext(verb: 'once' | 'deny'): Promise<string> {
  const req = await h.daemon.console.waitForPending(() => true, 20_000);
  await h.daemon.console.decide(req.id, verb);
  return req.kind;
}

describe('secrets-dispatcher get|set|list|rm', () => {
  it('set stores from stdin, list shows labels and attributes without secrets, get prints after approval', async () => {
    const set = await cli(['set', '--label', 'Deploy key', 'service=deploy', 'env=prod'], 'tok-123');
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);

    const list = await cli(['list', '--json', 'service=deploy']);
    expect(list.code).toBe(0);
    const items = JSON.parse(list.stdout.toString());
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ label: 'Deploy key', attributes: { service: 'deploy', env: 'prod' } });
    expect(list.stdout.toString()).not.toContain('tok-123');

    const get = startClient(process.execPath, [CLI, 'get', 'service=deploy'], h.env);
    expect(await decideNext('once')).toBe('secret');
    const got = await get.done;
    expect(got.stderr).toBe('');
    expect(got.stdout.toString()).toBe('tok-123');

    const getJson = startClient(process.execPath, [CLI, 'get', '--json', 'service=deploy'], h.env);
    await decideNext('once');
    expect(JSON.parse((await getJson.done).stdout.toString())).toMatchObject({ label: 'Deploy key', secret: 'tok-123', contentType: 'text/plain' });
  });

  it('a denied get exits 1 with the reason and prints no secret', async () => {
    const get = startClient(process.execPath, [CLI, 'get', 'service=deploy'], h.env);
    await decideNext('deny');
    const r = await get.done;
    expect(r.code).toBe(1);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toMatch(/denied/i);
  });

  it('set replaces after approval; rm deletes after approval', async () => {
    const replace = startClient(process.execPath, [CLI, 'set', '--label', 'Deploy key', 'service=deploy', 'env=prod'], h.env, 'tok-456');
    expect(await decideNext('once')).toBe('write');
    expect((await replace.done).code).toBe(0);
    const get = startClient(process.execPath, [CLI, 'get', 'service=deploy'], h.env);
    await decideNext('once');
    expect((await get.done).stdout.toString()).toBe('tok-456');

    const rm = startClient(process.execPath, [CLI, 'rm', 'service=deploy'], h.env);
    expect(await decideNext('once')).toBe('delete');
    expect((await rm.done).code).toBe(0);
    const after = await cli(['get', 'service=deploy']);
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/no item matches/);
  });

  it('usage errors exit 64 and name the problem; --help exits 0', async () => {
    const noAttrs = await cli(['get']);
    expect(noAttrs.code).toBe(64);
    expect(noAttrs.stderr).toMatch(/KEY=VALUE/);
    const noLabel = await cli(['set', 'a=b'], 'x');
    expect(noLabel.code).toBe(64);
    expect(noLabel.stderr).toMatch(/--label/);
    for (const cmd of ['get', 'set', 'list', 'rm']) {
      const help = await cli([cmd, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout.toString()).toMatch(new RegExp(`^Usage: secrets-dispatcher ${cmd}`));
    }
  });

  it('with no Secret Service on the bus, says how to start the agent (exit 2)', async () => {
    await h.stopAgent();
    try {
      const r = await cli(['list']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/systemctl --user start secrets-dispatcher-agent/);
    } finally {
      await h.startAgent();
    }
  });
});
