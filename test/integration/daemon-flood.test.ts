// A flood from a hostile desktop process, end to end: the real daemon on a private bus with our
// policy. Requests with maximal claims and 8 MiB payloads must not knock the daemon off the bus,
// lock the store, drop other callers' requests, or grow the audit log past its quota; a remembered
// read from another process of the same UID keeps being answered, nearly as fast as without it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Variant } from '../../core/dbus/bus.js';
import { connectInProcess, type BusClient } from '../helpers/bus-client.js';
import { startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';
import { runCli, withDecision } from '../helpers/gpg-flow.js';

const ERR = 'net.mowaka.SecretsDispatcher1.Error.';
const READER = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'timed-reader.mjs');
const QUOTA_ROWS = 120;

let h: DaemonHarness;
let desktop: BusClient;
let readerItem: string;
let floodItem: string;

const createItem = async (c: BusClient, label: string, secret: string) =>
  (await c.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', label, { label }, Buffer.from(secret), 'text/plain', false, {}], timeoutMs: 30_000 }))[0] as string;

const getSecrets = (c: BusClient, ids: string[], context: Record<string, string> = {}, timeoutMs = 600_000) =>
  c.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [ids, Object.fromEntries(Object.entries(context).map(([k, v]) => [k, new Variant('s', v)]))], timeoutMs });

/** Claims as hostile as the caps allow: control characters swell six-fold when escaped for display. */
const claims = (entries: number, chars: number, seed: string): Record<string, string> =>
  Object.fromEntries(Array.from({ length: entries }, (_, i) => [`c${i}`, `${seed}${i}:`.padEnd(chars, '\x01')]));

function percentile(ms: number[], p: number): number {
  const sorted = [...ms].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The timed reader child: one JSON line per command. */
function startReader(itemId: string): { child: ChildProcess; send(line: string): Promise<{ ms: number[]; errors: string[] }>; ready: Promise<unknown> } {
  const child = spawn(process.execPath, [READER, h.busAddress, itemId], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const queue: ((v: any) => void)[] = [];
  lines.on('line', (l) => queue.shift()?.(JSON.parse(l)));
  const next = () => new Promise<any>((resolve) => queue.push(resolve));
  const ready = next();
  return {
    child, ready,
    send(line: string) {
      const reply = line === 'loop' ? Promise.resolve({ ms: [], errors: [] }) : next();
      child.stdin!.write(`${line}\n`);
      return reply;
    },
  };
}

function peakRssMiB(pid: number): number {
  const kib = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kib / 1024;
}

beforeAll(async () => {
  h = await startDaemonHarness({
    config: { requestTimeoutSeconds: 600, budgets: { unattendedAuditRowsPerMinute: QUOTA_ROWS } },
  });
  desktop = await h.client();
  readerItem = await createItem(desktop, 'read by the timed reader', 'reader-secret');
  floodItem = await createItem(desktop, 'what the flood asks for', 'flood-secret');
});
afterAll(async () => {
  await desktop?.close();
  await h?.stop();
});

describe('a flood from the desktop UID', () => {
  it('10,000 requests from 50 connections with maximal claims plus 8 MiB Sign payloads: the daemon stays up, others are served, audit stays within its quota', async () => {
    // A signing key, so the 8 MiB payloads reach the queue.
    const gen = await withDecision(h, runCli(h, ['gpg', 'generate', '--name', 'Flood Test', '--email', 'flood@example.org']), 'key', (r) => h.console.decide(r.id, 'once'));
    expect(gen.result.code).toBe(0);

    // Another process of the same UID with a remembered decision for its item.
    const reader = startReader(readerItem);
    await reader.ready;
    const first = reader.send('run 1');
    await h.console.decide((await h.console.waitForPending((r) => r.items.some((i) => i.itemId === readerItem))).id, 'remember');
    expect((await first).errors).toEqual([]);
    const baseline = await reader.send('run 300');
    expect(baseline.errors).toEqual([]);

    // Someone else's request, waiting before the flood starts.
    const bystander = await connectInProcess(h.busAddress);
    const bystanderRead = getSecrets(bystander, [floodItem], { purpose: 'bystander' }).catch((e) => e);
    const bystanderPending = await h.console.waitForPending((r) => r.requester.busName === bystander.uniqueName);

    // Rows for reads a grant answered are what the grant is for; the quota is on the rest.
    const unattended = async () => (await h.console.history(10_000)).filter((r) => r.outcome !== 'remembered');
    const auditBefore = (await unattended()).length;
    await reader.send('loop');
    const floodStart = Date.now();
    const connections = await Promise.all(Array.from({ length: 50 }, () => connectInProcess(h.busAddress)));
    const outcomes = new Map<string, number>();
    const count = (name: string) => outcomes.set(name, (outcomes.get(name) ?? 0) + 1);
    const signer = await connectInProcess(h.busAddress);
    // A commit whose message is 8 MiB of \x01 (the payload cap), parsed and shown like any other.
    const header = Buffer.from(`tree ${'4b825dc642cb6eb9a060e54bf8d69288fbee4904'}\nauthor F <f@example.org> 1700000000 +0000\ncommitter F <f@example.org> 1700000000 +0000\n\n`);
    const payload = Buffer.concat([header, Buffer.alloc(8 * 1024 * 1024 - header.length, 1)]);
    const signs = Array.from({ length: 4 }, (_, i) => signer.call({
      member: 'Sign', signature: 'aysa{sv}', body: [payload, 'flood@example.org', Object.fromEntries(Object.entries(claims(64, 16 * 1024, `sign${i}`)).map(([k, v]) => [k, new Variant('s', v)]))], timeoutMs: 600_000,
    }).then(() => count('signed'), (e) => count(String(e.dbusName).replace(ERR, ''))));
    // 200 requests per connection, each with the most claims allowed (64); one in a hundred with
    // the longest values allowed too (64 x 16 KiB), the rest 64 x 256 characters: ~300 MiB in all.
    let sentBytes = 4 * payload.length;
    const floods = connections.map(async (c, ci) => {
      const inFlight = new Set<Promise<unknown>>();
      for (let i = 0; i < 200; i++) {
        const chars = i % 100 === 0 ? 16 * 1024 : 256;
        sentBytes += 64 * chars;
        const call = getSecrets(c, [floodItem], claims(64, chars, `${ci}.${i}`)).then(() => count('answered'), (e) => count(String(e.dbusName).replace(ERR, '')));
        inFlight.add(call);
        void call.finally(() => inFlight.delete(call));
        // A real flooder keeps under the bus's 128 calls in flight per connection, or the bus refuses them.
        if (inFlight.size >= 100) await Promise.race(inFlight);
      }
    });
    // Wait until every request was answered or is waiting on the console (the bystander waits too).
    const settledOrWaiting = async () => {
      for (;;) {
        const total = [...outcomes.values()].reduce((a, b) => a + b, 0);
        const waiting = (await h.console.status()).pending;
        if (total + waiting >= 10_000 + 4 + 1) return;
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await Promise.all(floods);
    await settledOrWaiting();
    const during = await reader.send('stop');
    const floodSeconds = (Date.now() - floodStart) / 1000;
    const p99Before = percentile(baseline.ms, 99);
    const p99During = percentile(during.ms, 99);
    const rss = peakRssMiB(h.daemonPid);
    console.log(`flood: ${floodSeconds.toFixed(1)} s, ${(sentBytes / 1048576).toFixed(0)} MiB sent, outcomes ${JSON.stringify(Object.fromEntries(outcomes))}; `
      + `remembered read p99 ${p99Before.toFixed(2)} ms before, ${p99During.toFixed(2)} ms during (${during.ms.length} reads, ${(p99During / p99Before).toFixed(1)}x); daemon peak RSS ${rss.toFixed(0)} MiB`);

    // The daemon is still on the bus, the store unlocked, the bystander's request intact and decidable.
    const status = await h.console.status();
    expect(status.locked).toBe(false);
    expect(status.throttled).toMatchObject({ uid: process.getuid!() });
    expect(await desktop.call({ member: 'Ping' })).toEqual(['pong']);
    const listed = await h.console.listPending();
    expect(listed.map((r) => r.id)).toContain(bystanderPending.id);
    // What the bus let through was refused by the daemon at once; what it did not, the bus refused
    // itself (LimitsExceeded: the daemon's incoming queue was full). Either way nothing was answered.
    expect(outcomes.get('answered') ?? 0).toBe(0);
    expect(outcomes.get('QueueFull') ?? 0).toBeGreaterThan(4000);
    expect([...outcomes.keys()].filter((k) => k !== 'QueueFull' && k !== 'org.freedesktop.DBus.Error.LimitsExceeded')).toEqual([]);
    await h.console.decide(bystanderPending.id, 'once');
    expect(Buffer.from((await bystanderRead)[0][0][1]).toString()).toBe('flood-secret');

    // The remembered read kept being answered, and quickly.
    expect(during.errors).toEqual([]);
    expect(p99During).toBeLessThanOrEqual(5 * p99Before);
    // Peak RSS: the pending budget (128 MiB in all) plus the daemon's own ~80 MiB and the bus's buffers.
    expect(rss).toBeLessThan(512);

    // Audit rows from requests nobody decided stay within the quota per minute.
    for (const c of [...connections, signer, bystander]) await c.close();
    await Promise.allSettled(signs);
    const rows = (await unattended()).length - auditBefore;
    const windows = Math.ceil(floodSeconds / 60) + 2;
    console.log(`flood: ${rows} audit rows for requests nobody decided (quota ${QUOTA_ROWS} a minute, ${windows} windows)`);
    expect(rows).toBeLessThanOrEqual(windows * (QUOTA_ROWS + 1) + 10);
    reader.child.stdin!.write('quit\n');
  }, 600_000);
});
