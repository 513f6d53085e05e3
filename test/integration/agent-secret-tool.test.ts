// secret-tool (libsecret), unmodified, against the agent and the real daemon; the human is the
// scripted console. Proves the Unlock → Prompt → Completed flow carries a decision of any delay.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { runClient, startAgentHarness, startClient, type AgentHarness } from '../helpers/agent-harness.js';

let h: AgentHarness;

beforeAll(async () => {
  h = await startAgentHarness();
});

afterAll(async () => {
  await h?.stop();
});

const tool = (args: string[], input?: Buffer | string) => runClient('secret-tool', args, h.env, input);

/** Approve the next pending secret read (or the one matching `label`) once. */
async function approveNext(verb: 'once' | 'deny' = 'once', label?: string): Promise<void> {
  const req = await h.daemon.console.waitForPending((r) => !label || r.items.some((i) => i.label === label), 20_000);
  await h.daemon.console.decide(req.id, verb);
}

/** Play a human who approves whatever appears until the client is done; returns its result. */
async function approveUntil<T>(done: Promise<T>, checkKinds?: (kinds: string[]) => void): Promise<T> {
  let finished = false;
  const kinds: string[] = [];
  void done.then(() => { finished = true; });
  while (!finished) {
    const req = await h.daemon.console.waitForPending(() => true, 300).catch(() => null);
    if (req) {
      kinds.push(req.kind);
      await h.daemon.console.decide(req.id, 'once');
    }
  }
  checkKinds?.(kinds);
  return done;
}

describe('secret-tool through the agent', () => {
  it('stores, looks up after approval, and shows the requester as claimed context', async () => {
    const stored = await tool(['store', '--label=GitHub token', 'service', 'github', 'user', 'nb'], 'ghp_secret_1');
    expect(stored.stderr).toBe('');
    expect(stored.code).toBe(0);

    const lookup = startClient('secret-tool', ['lookup', 'service', 'github'], h.env);
    const req = await h.daemon.console.waitForPending(() => true, 20_000);
    expect(req.kind).toBe('secret');
    expect(req.items.map((i) => i.label)).toEqual(['GitHub token']);
    expect(req.requester.claimed['requester.pid']).toBe(String(lookup.child.pid));
    expect(req.requester.claimed['requester.exe']).toMatch(/secret-tool$/);
    await h.daemon.console.decide(req.id, 'once');
    const result = await lookup.done;
    expect(result.stderr).toBe('');
    expect(result.stdout.toString()).toBe('ghp_secret_1');
  });

  it('a denied lookup says so, prints no secret and exits non-zero, without hanging', async () => {
    const lookup = startClient('secret-tool', ['lookup', 'service', 'github'], h.env);
    await approveNext('deny');
    const result = await lookup.done;
    expect(result.stdout.length).toBe(0);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/denied on the console/);
  });

  it('round-trips binary secrets, and looks up a 1 MiB secret', async () => {
    const binary = Buffer.from([0, 1, 2, 255, 254, 0, 10, 13, 0x1b, 0x80]);
    expect((await tool(['store', '--label=binary', 'kind', 'binary'], binary)).code).toBe(0);
    const lookBinary = startClient('secret-tool', ['lookup', 'kind', 'binary'], h.env);
    await approveNext('once', 'binary');
    expect((await lookBinary.done).stdout.equals(binary)).toBe(true);

    // secret-tool store reads at most 8 KiB from stdin (its own limit), so the 1 MiB secret goes
    // in through secretstorage and comes out through secret-tool (which prints text/plain only).
    const big = randomBytes(1024 * 1024);
    const stored = await runClient('/usr/bin/python3', ['-c', [
      'import sys, secretstorage',
      'bus = secretstorage.dbus_init()',
      'c = secretstorage.get_default_collection(bus)',
      "c.create_item('big', {'kind': 'big'}, sys.stdin.buffer.read(), content_type='text/plain')",
    ].join('\n')], h.env, big);
    expect(stored.stderr).toBe('');
    const lookBig = startClient('secret-tool', ['lookup', 'kind', 'big'], h.env);
    await approveNext('once', 'big');
    const got = await lookBig.done;
    expect(got.stdout.length).toBe(big.length);
    expect(got.stdout.equals(big)).toBe(true);
  });

  it('search --all lists every match with its secret after approval; clear deletes after approval', async () => {
    expect((await tool(['store', '--label=one', 'app', 'multi', 'n', '1'], 's-one')).code).toBe(0);
    expect((await tool(['store', '--label=two', 'app', 'multi', 'n', '2'], 's-two')).code).toBe(0);
    const search = startClient('secret-tool', ['search', '--all', 'app', 'multi'], h.env);
    const out = await approveUntil(search.done);
    expect(out.code).toBe(0);
    const text = out.stdout.toString() + out.stderr;
    expect(text).toContain('secret = s-one');
    expect(text).toContain('secret = s-two');
    expect(text).toContain('label = one');
    expect(text).toContain('attribute.n = 2');

    const clear = startClient('secret-tool', ['clear', 'app', 'multi'], h.env);
    const cleared = await approveUntil(clear.done, (kinds) => expect(kinds).toEqual(['delete', 'delete']));
    expect(cleared.code).toBe(0);
    const after = await tool(['search', 'app', 'multi']);
    expect(after.stdout.toString()).toBe('');
  });

  it('a lookup approved only after 40 s still succeeds (beyond the clients\' 25 s call timeout)', async () => {
    expect((await tool(['store', '--label=slow', 'kind', 'slow'], 'worth-the-wait')).code).toBe(0);
    const lookup = startClient('secret-tool', ['lookup', 'kind', 'slow'], h.env);
    const req = await h.daemon.console.waitForPending((r) => r.items.some((i) => i.label === 'slow'), 20_000);
    await new Promise((r) => setTimeout(r, 40_000));
    await h.daemon.console.decide(req.id, 'once');
    const result = await lookup.done;
    expect(result.stderr).toBe('');
    expect(result.stdout.toString()).toBe('worth-the-wait');
  }, 90_000);
});
