// Rate limits end to end: the real daemon on a private bus with the default limits, a scripted
// console nobody answers, and the daemon's clock moved by the test (daemon/test-clock.ts). A script
// that asks 200 times gets RateLimited after the cap; the daemon and a different program are
// unaffected; the console's Status says who is limited and until when; after its requests go
// unanswered the script is in cooldown, and once that is over it is asked again. A claim of being
// another program keys nothing, and a burst of reads under a remembered decision is asked again.
import { realpathSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../core/config.js';
import { Variant } from '../../core/dbus/bus.js';
import { DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH, REQUEST_INTERFACE } from '../../core/names.js';
import type { RequestDetail } from '../../core/wire.js';
import { connectInProcess, type BusClient } from '../helpers/bus-client.js';
import { startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';
import { runCli, start } from '../helpers/gpg-flow.js';

const ERR = 'net.mowaka.SecretsDispatcher1.Error.';
const GDBUS = '/usr/bin/gdbus';
const LIMITS = configSchema.shape.rateLimits.parse(undefined);
const NODE = realpathSync(process.execPath);
const MINUTE = 60_000;

let h: DaemonHarness;
let desktop: BusClient;
let item: string;

const createItem = async (label: string, secret: string) =>
  (await desktop.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', label, { label }, Buffer.from(secret), 'text/plain', false, {}], timeoutMs: 30_000 }))[0] as string;

const getSecrets = (c: BusClient, ids: string[], context: Record<string, string> = {}) =>
  c.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [ids, Object.fromEntries(Object.entries(context).map(([k, v]) => [k, new Variant('s', v)]))], timeoutMs: 600_000 });

/** How a call ended: 'answered' or the error's short name. */
const outcome = (p: Promise<unknown>) => p.then(() => 'answered', (e: { dbusName?: string; message?: string }) => String(e.dbusName).replace(ERR, ''));

/** A read by another program of the same UID: gdbus, whose executable the daemon reads as /usr/bin/gdbus. */
function gdbusRead(id: string) {
  const running = start(GDBUS, ['call', '--system', '--dest', DISPATCHER_BUS_NAME, '--object-path', DISPATCHER_OBJECT_PATH,
    '--method', `${REQUEST_INTERFACE}.GetSecrets`, '--timeout', '600', `['${id}']`, '@a{sv} {}'], { env: h.env });
  return running.done.then((r) => ({ ...r, secret: Buffer.from([...r.stdout.matchAll(/0x([0-9a-f]{2})/g)].map((m) => parseInt(m[1]!, 16))).toString() }));
}

/** gdbus asks, the console is asked and says yes once: the other program is served. */
async function gdbusServed(): Promise<void> {
  const reading = gdbusRead(item);
  const pending = await h.console.waitForPending((r) => r.requester.process?.exe === GDBUS);
  await h.console.decide(pending.id, 'once');
  const result = await reading;
  expect(result.code, result.stderr).toBe(0);
  expect(result.secret).toBe('rate-secret');
}

const fromNode = (r: RequestDetail) => r.requester.process?.exe === NODE;

beforeAll(async () => {
  h = await startDaemonHarness({ testClock: true, config: { rateLimits: LIMITS } });
  desktop = await h.client();
  item = await createItem('asked for too often', 'rate-secret');
}, 120_000);
afterAll(async () => {
  await desktop?.close();
  await h?.stop();
});

describe('rate limits (defaults from the config schema)', () => {
  it('200 requests in 10 s from one script: RateLimited after the cap, others unaffected, a cooldown after silence, asked again after it', async () => {
    const script = await Promise.all(Array.from({ length: 4 }, () => connectInProcess(h.busAddress)));
    const calls = Array.from({ length: 200 }, (_, i) => outcome(getSecrets(script[i % 4]!, [item])));
    // Everything over the cap comes back at once, without anyone answering.
    const refused = await (async () => {
      for (;;) {
        const s = await h.console.status();
        if (s.pending >= LIMITS.promptsPerMinutePerSubject && (s.cooldowns?.[0]?.refused ?? 0) >= 200 - LIMITS.promptsPerMinutePerSubject) return s;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    expect(refused.pending).toBe(LIMITS.promptsPerMinutePerSubject);
    expect(refused.cooldowns).toEqual([expect.objectContaining({ why: 'prompts', subject: `${NODE} (uid ${process.getuid!()})`, uid: process.getuid!(), refused: 200 - LIMITS.promptsPerMinutePerSubject })]);
    expect((await h.console.listSummaries()).total).toBe(LIMITS.promptsPerMinutePerSubject);

    // The daemon answers, and another program of the same UID is asked and served.
    expect(await desktop.call({ member: 'Ping' })).toEqual(['pong']);
    await gdbusServed();

    // Nobody answers: past the deadline the script's requests expire, and that is a cooldown.
    h.advanceClock(300_000 + 1000);
    await h.console.listSummaries();
    const ended = await Promise.all(calls);
    const counts = Object.fromEntries([...new Set(ended)].map((k) => [k, ended.filter((e) => e === k).length]));
    expect(counts).toEqual({ RateLimited: 200 - LIMITS.promptsPerMinutePerSubject, Timeout: LIMITS.promptsPerMinutePerSubject });
    const cooling = await h.console.status();
    expect(cooling.cooldowns).toEqual([expect.objectContaining({ why: 'cooldown', subject: `${NODE} (uid ${process.getuid!()})` })]);
    const until = cooling.cooldowns![0]!.until;
    const tooSoon = await getSecrets(script[0]!, [item]).catch((e) => e);
    expect(tooSoon.dbusName).toBe(`${ERR}RateLimited`);
    // The same end as the console shows (both are "now plus what is left", read a moment apart).
    const said = Date.parse(/is in cooldown until (\S+) after/.exec(tooSoon.message)![1]!);
    expect(Math.abs(said - until)).toBeLessThan(1000);
    expect((await h.console.status()).pending).toBe(0);
    // The other program is still asked during the script's cooldown.
    await gdbusServed();

    // After the cooldown the script is asked again.
    h.advanceClock(LIMITS.cooldownMinutes * MINUTE);
    const again = getSecrets(script[1]!, [item]);
    const pending = await h.console.waitForPending(fromNode);
    await h.console.decide(pending.id, 'once');
    expect(Buffer.from((await again)[0][0][1]).toString()).toBe('rate-secret');
    expect((await h.console.status()).cooldowns).toEqual([]);
    for (const c of script) await c.close();
  }, 120_000);

  it('a claim to be another program keys nothing: the claimant is limited as itself, the program it names is not', async () => {
    h.advanceClock(MINUTE);
    const forger = await connectInProcess(h.busAddress);
    const claim = { 'requester.exe': GDBUS, 'requester.pid': '1', via: 'forged' };
    const calls = Array.from({ length: LIMITS.promptsPerMinutePerSubject + 5 }, () => outcome(getSecrets(forger, [item], claim)));
    for (;;) {
      if ((await h.console.status()).pending >= LIMITS.promptsPerMinutePerSubject) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // gdbus, which the forger claims to be, is not limited...
    await gdbusServed();
    // ...and the forger is, whatever it claims next.
    const fresh = await getSecrets(forger, [item], { 'requester.exe': '/usr/bin/some-other-name' }).catch((e) => e);
    expect(fresh.dbusName).toBe(`${ERR}RateLimited`);
    expect((await h.console.status()).cooldowns).toEqual([expect.objectContaining({ why: 'prompts', subject: `${NODE} (uid ${process.getuid!()})` })]);
    // Its denied requests put it, not gdbus, into cooldown.
    for (const r of (await h.console.listPending()).filter(fromNode)) await h.console.decide(r.id, 'deny');
    const ends = await Promise.all(calls);
    expect(ends.filter((e) => e === 'Denied')).toHaveLength(LIMITS.promptsPerMinutePerSubject);
    expect((await h.console.status()).cooldowns).toEqual([expect.objectContaining({ why: 'cooldown', subject: `${NODE} (uid ${process.getuid!()})` })]);
    h.advanceClock(MINUTE);
    await gdbusServed();
    // The console lifts the cooldown: the forger is asked again at once.
    await h.console.liftCooldown((await h.console.status()).cooldowns![0]!.id);
    expect((await h.console.status()).cooldowns).toEqual([]);
    const again = getSecrets(forger, [item]);
    await h.console.decide((await h.console.waitForPending(fromNode)).id, 'once');
    expect(Buffer.from((await again)[0][0][1]).toString()).toBe('rate-secret');
    await forger.close();
  }, 120_000);

  it('a burst of reads under a remembered decision pauses it: the next read is asked on the console', async () => {
    h.advanceClock(MINUTE);
    const ids: string[] = [];
    for (let i = 0; i < LIMITS.burstDistinctItems; i++) ids.push(await createItem(`burst ${i}`, `burst-secret-${i}`));
    const first = getSecrets(desktop, ids);
    await h.console.decide((await h.console.waitForPending(fromNode)).id, 'remember');
    expect((await first)[0]).toHaveLength(ids.length);
    // Within the grant, a few items are answered without asking...
    expect((await getSecrets(desktop, ids.slice(0, 3)))[0]).toHaveLength(3);
    // ...all of them within ten seconds are a burst: asked again, and the console says why.
    const burst = getSecrets(desktop, ids);
    const pending = await h.console.waitForPending(fromNode);
    expect((await h.console.status()).cooldowns).toEqual([expect.objectContaining({ why: 'burst', subject: `${NODE} (uid ${process.getuid!()})` })]);
    await h.console.decide(pending.id, 'once');
    expect((await burst)[0]).toHaveLength(ids.length);
    // A human said yes: the grant answers again.
    expect((await h.console.status()).cooldowns).toEqual([]);
    h.advanceClock(LIMITS.burstSeconds * 1000);
    expect((await getSecrets(desktop, ids.slice(0, 3)))[0]).toHaveLength(3);
  }, 120_000);

  it('`secrets-dispatcher history` shows the refusals and the lift', async () => {
    const run = await runCli(h, ['history', '--state-dir', h.stateDir, '--limit', '1000']).done;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/secret\s+refused\s+uid \d+ pid \d+ .*\[RateLimited\]/);
    expect(run.stdout).toMatch(/store\s+done\s+.*rate limit: .* \(uid \d+\).*\[lifted on the console\]/);
  }, 60_000);
});
