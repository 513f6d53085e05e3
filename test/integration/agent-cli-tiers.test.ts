// Tiers through the Secret Service: `secrets-dispatcher set --tier`, the sd:tier attribute the agent
// maps to the daemon's tier, `list` showing it, and lowering refused with a plain error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Variant } from '../../core/dbus/bus.js';
import { connectInProcess } from '../helpers/bus-client.js';
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
const listed = async (attr: string) => JSON.parse((await cli(['list', '--json', attr])).stdout.toString());

describe('secrets-dispatcher set --tier', () => {
  it('stores a high-tier item; list shows the tier; get needs the word on the console', async () => {
    const set = await cli(['set', '--tier', 'high', '--label', 'Prod DB', 'service=prod'], 'prod-pw');
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    const [item] = await listed('service=prod');
    expect(item).toMatchObject({ label: 'Prod DB', tier: 'high', attributes: { service: 'prod' } });
    expect((await cli(['list', 'service=prod'])).stdout.toString()).toBe('Prod DB\tservice=prod\ttier high\n');

    const get = startClient(process.execPath, [CLI, 'get', 'service=prod'], h.env);
    const req = await h.daemon.console.waitForPending(() => true, 20_000);
    expect(req).toMatchObject({ kind: 'secret', tier: 'high', rememberScope: null });
    await expect(h.daemon.console.decide(req.id, 'once')).rejects.toMatchObject({ dbusName: 'net.mowaka.SecretsDispatcher1.Error.InvalidArgs' });
    await h.daemon.console.call({ member: 'DecideConfirmed', signature: 'ss', body: [req.id, req.confirmWord] });
    expect((await get.done).stdout.toString()).toBe('prod-pw');
  });

  it('cannot lower a tier: exit 1 with the reason, nobody asked, the item unchanged', async () => {
    const lower = await cli(['set', '--tier', 'normal', '--label', 'Prod DB', 'service=prod'], 'other');
    expect(lower.code).toBe(1);
    expect(lower.stderr).toMatch(/Only the console can lower a tier/);
    expect(await h.daemon.console.listPending()).toEqual([]);
    expect((await listed('service=prod'))[0].tier).toBe('high');
  });

  it('raises the tier of an existing item when it replaces it (asked at the tier it had)', async () => {
    expect((await cli(['set', '--label', 'CI', 'service=ci'], 'ci-1')).code).toBe(0);
    expect((await listed('service=ci'))[0].tier).toBe('normal');
    const raise = startClient(process.execPath, [CLI, 'set', '--tier', 'high', '--label', 'CI', 'service=ci'], h.env, 'ci-2');
    const req = await h.daemon.console.waitForPending(() => true, 20_000);
    expect(req).toMatchObject({ kind: 'write', tier: 'normal' });
    await h.daemon.console.decide(req.id, 'once');
    expect((await raise.done).code).toBe(0);
    expect((await listed('service=ci'))[0].tier).toBe('high');
  });

  it('a value that is not a tier is a usage error (exit 64)', async () => {
    const bad = await cli(['set', '--tier', 'HIGH\x1b[2J', '--label', 'x', 'a=b'], 'x');
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(/--tier must be low, normal or high/);
  });
});

describe('one client holding its connection open', () => {
  it('gets a normal item again from the agent without asking, a high-tier one only once more per approval', async () => {
    expect((await cli(['set', '--label', 'Plain', 'service=plain'], 'p'.repeat(3))).code).toBe(0);
    expect((await cli(['set', '--tier', 'high', '--label', 'Vault', 'service=vault'], 'v'.repeat(3))).code).toBe(0);
    const client = await connectInProcess(h.session.address);
    try {
      const SS = { destination: 'org.freedesktop.secrets', path: '/org/freedesktop/secrets' };
      const [, session] = await client.call({ ...SS, interface: 'org.freedesktop.Secret.Service', member: 'OpenSession', signature: 'sv', body: ['plain', new Variant('s', '')] });
      const pathOf = async (service: string) => {
        const [unlocked, locked] = await client.call({ ...SS, interface: 'org.freedesktop.Secret.Service', member: 'SearchItems', signature: 'a{ss}', body: [{ service }] });
        return [...unlocked, ...locked][0] as string;
      };
      const read = (path: string) => client.call({ destination: SS.destination, path, interface: 'org.freedesktop.Secret.Item', member: 'GetSecret', signature: 'o', body: [session], timeoutMs: 30_000 })
        .then(([[, , value]]) => Buffer.from(value).toString());
      const approveNext = async () => {
        const req = await h.daemon.console.waitForPending(() => true, 20_000);
        if (req.confirmWord) await h.daemon.console.call({ member: 'DecideConfirmed', signature: 'ss', body: [req.id, req.confirmWord] });
        else await h.daemon.console.decide(req.id, 'once');
        return req.tier;
      };
      const plain = await pathOf('plain');
      const vault = await pathOf('vault');

      const first = read(plain);
      expect(await approveNext()).toBe('normal');
      expect(await first).toBe('ppp');
      expect(await read(plain)).toBe('ppp');
      expect(await read(plain)).toBe('ppp');

      const v1 = read(vault);
      expect(await approveNext()).toBe('high');
      expect(await v1).toBe('vvv');
      // The spec's flow reads once more (e.g. for the content type): that read is covered.
      expect(await read(vault)).toBe('vvv');
      expect(await h.daemon.console.listPending()).toEqual([]);
      // The next one is asked again.
      const v3 = read(vault);
      expect(await approveNext()).toBe('high');
      expect(await v3).toBe('vvv');
    } finally {
      await client.close();
    }
  });
});
