import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleRegistry } from '../../daemon/approvals/consoles.js';
import { ApprovalQueue } from '../../daemon/approvals/gate.js';
import type { Config } from '../../core/config.js';
import { createLogger } from '../../core/logger.js';
import type { RequesterInfo } from '../../core/wire.js';
import type { ApprovalInput, AuditSink } from '../../daemon/services.js';

type AuditRecord = Parameters<AuditSink['record']>[0];

// python3 runs a real script file: an interpreter's program is its script plus the script's hash.
const SCRIPT = join(mkdtempSync(join(tmpdir(), 'sd-approvals-')), 't.py');
writeFileSync(SCRIPT, 'print("t")\n');

function requester(busName: string, exe: string | null, pid = 4242): RequesterInfo {
  return {
    busName, uid: 1000, userName: 'nb',
    process: exe === null ? null : { pid, startTime: 123, uid: 1000, comm: 'python3', exe, cmdline: exe.endsWith('python3') ? [exe, SCRIPT] : [exe], cwd: '/home/nb' },
    chain: [], systemdUnit: null, claimed: {},
  };
}

function secretRead(r: RequesterInfo, itemId = 'item1'): ApprovalInput {
  return {
    kind: 'secret', requester: r, summary: `read ${itemId}`,
    items: [{ itemId, collectionId: 'login', collectionLabel: 'Login', label: `Label ${itemId}`, attributes: { service: 'github' } }],
    remember: { kind: 'secret', targets: [itemId], targetLabel: `'Label ${itemId}'`, action: `read 'Label ${itemId}'` },
  };
}

/** A wall/boot clock pair the test moves: `advance` is time passing, `stepWall` a clock set by hand, `suspend` time asleep. */
function testClock() {
  const t = { wall: 1_700_000_000_000, boot: 50_000 };
  return {
    clock: { wall: () => t.wall, boot: () => t.boot },
    advance: (ms: number) => { t.wall += ms; t.boot += ms; },
    stepWall: (ms: number) => { t.wall += ms; },
    suspend: (ms: number) => { t.wall += ms; t.boot += ms; },
  };
}

type SetupOptions = { locked?: boolean; console?: boolean; change?: string | null; maxPending?: number; budgets?: Partial<Config['budgets']> };

function setup(options: SetupOptions = {}) {
  const time = testClock();
  const exited = new Set<number>();
  const sent: Array<[string, bigint]> = [];
  const audit: AuditRecord[] = [];
  const state = { locked: options.locked ?? false, change: options.change ?? null };
  const consoles = new ConsoleRegistry((dest, gen) => sent.push([dest, gen]));
  if (options.console !== false) consoles.register(':1.console');
  const queue = new ApprovalQueue({
    config: {
      requestTimeoutSeconds: 300, rememberMinutes: 10, maxPendingPerRequester: options.maxPending ?? 50,
      budgets: { pendingPerUid: 500, pendingTotal: 1000, pendingMiBPerUid: 96, pendingMiBTotal: 128, ...options.budgets },
    },
    consoles, audit: { record: (e) => audit.push(e) }, logger: createLogger({ write: () => undefined }),
    clock: time.clock, storeLocked: () => state.locked, requesterChange: () => state.change,
    openerAlive: (pid) => !exited.has(pid),
    // Every test process is in one session, led by pid 4000.
    readSession: () => ({ sid: 4000, leaderStartTime: 1, leaderComm: 'bash' }),
  });
  queues.push(queue);
  return { queue, consoles, sent, audit, state, exited, ...time };
}

const queues: ApprovalQueue[] = [];
afterEach(() => {
  for (const q of queues.splice(0)) q.close();
});

/** Attach a handler at once so a rejection is never "unhandled" while the test waits. */
function settle<T>(p: Promise<T>) {
  const result = p.then((value) => ({ ok: true as const, value }), (error) => ({ ok: false as const, error }));
  return result;
}

async function rememberFor(queue: ApprovalQueue, r: RequesterInfo, itemId = 'item1', minutes = 0) {
  const waiting = queue.request(secretRead(r, itemId), r.busName);
  queue.decide(queue.list()[0]!.id, 'remember', minutes);
  return waiting;
}

describe('approval queue', () => {
  it('approve once resolves the waiting request and removes it from the list', async () => {
    const { queue, audit } = setup();
    const waiting = settle(queue.request(secretRead(requester(':1.5', '/usr/bin/python3')), ':1.5'));
    const [pending] = queue.list();
    expect(pending!.items[0]!.label).toBe('Label item1');
    expect(pending!.rememberScope).toEqual({
      description: expect.stringMatching(new RegExp(`^any process of uid 1000 that presents itself as /usr/bin/python3 running the script ${SCRIPT} \\(as its command line reports\\) with contents sha256 [0-9a-f]{16} in session 4000 may read 'Label item1' for 10 minutes$`)),
      minutes: 10,
    });
    queue.decide(pending!.id, 'once', 0);
    expect(await waiting).toEqual({ ok: true, value: { decision: 'once' } });
    expect(queue.list()).toEqual([]);
    expect(audit.map((a) => a.outcome)).toEqual(['pending', 'approved']);
  });

  it('deny rejects with Denied', async () => {
    const { queue } = setup();
    const waiting = settle(queue.request(secretRead(requester(':1.5', '/usr/bin/python3')), ':1.5'));
    queue.decide(queue.list()[0]!.id, 'deny', 0);
    const r = await waiting;
    expect(r.ok).toBe(false);
    expect((r as { error: { code: string } }).error.code).toBe('Denied');
  });

  it('expires at the deadline with Timeout', async () => {
    const { queue, advance, audit } = setup();
    const waiting = settle(queue.request(secretRead(requester(':1.5', '/usr/bin/python3')), ':1.5'));
    advance(299_000);
    queue.sweep();
    expect(queue.list()).toHaveLength(1);
    advance(1_000);
    queue.sweep();
    expect(queue.list()).toHaveLength(0);
    expect(((await waiting) as { error: { code: string } }).error.code).toBe('Timeout');
    expect(audit.at(-1)!.outcome).toBe('expired');
  });

  it('cancels a request at once when its owner disconnects, leaving others', async () => {
    const { queue } = setup();
    const gone = settle(queue.request(secretRead(requester(':1.5', '/usr/bin/python3')), ':1.5'));
    const other = settle(queue.request(secretRead(requester(':1.6', '/usr/bin/python3')), ':1.6'));
    queue.ownerGone(':1.5');
    expect(((await gone) as { error: { code: string } }).error.code).toBe('Cancelled');
    expect(queue.list().map((r) => r.requester.busName)).toEqual([':1.6']);
    queue.decide(queue.list()[0]!.id, 'once', 0);
    expect((await other).ok).toBe(true);
  });

  it('refuses with NoConsole at once when no console is registered', async () => {
    const { queue, audit } = setup({ console: false });
    await expect(queue.request(secretRead(requester(':1.5', '/usr/bin/python3')), ':1.5')).rejects.toMatchObject({ code: 'NoConsole' });
    expect(queue.list()).toEqual([]);
    expect(audit[0]).toMatchObject({ outcome: 'refused', detail: 'NoConsole' });
  });

  it('refuses with StoreLocked while the store is locked, and cancels pending requests on approve after a lock', async () => {
    const { queue, state } = setup({ locked: true });
    await expect(queue.request(secretRead(requester(':1.5', '/usr/bin/python3')), ':1.5')).rejects.toMatchObject({ code: 'StoreLocked' });
    state.locked = false;
    const waiting = settle(queue.request(secretRead(requester(':1.5', '/usr/bin/python3')), ':1.5'));
    state.locked = true;
    queue.decide(queue.list()[0]!.id, 'once', 0);
    expect(((await waiting) as { error: { code: string } }).error.code).toBe('StoreLocked');
  });

  it('caps pending requests per requester; another requester is unaffected', async () => {
    const { queue } = setup();
    const waits = Array.from({ length: 50 }, () => settle(queue.request(secretRead(requester(':1.5', '/usr/bin/python3')), ':1.5')));
    await expect(queue.request(secretRead(requester(':1.5', '/usr/bin/python3')), ':1.5')).rejects.toMatchObject({ code: 'QueueFull' });
    const other = settle(queue.request(secretRead(requester(':1.9', '/usr/bin/python3')), ':1.9'));
    const otherId = queue.list().find((r) => r.requester.busName === ':1.9')!.id;
    queue.decide(otherId, 'once', 0);
    expect((await other).ok).toBe(true);
    queue.ownerGone(':1.5');
    expect((await Promise.all(waits)).every((w) => !w.ok)).toBe(true);
  });

  it('cancels on approval when the connection\'s opener is no longer what the human was shown', async () => {
    const { queue, state, audit } = setup();
    const waiting = settle(queue.request(secretRead(requester(':1.5', '/usr/bin/python3')), ':1.5'));
    state.change = 'The process that opened the connection (pid 4242) ran /usr/bin/python3 at the request, /usr/bin/git at the decision.';
    queue.decide(queue.list()[0]!.id, 'once', 0);
    const result = (await waiting) as { error: { code: string; message: string } };
    expect(result.error.code).toBe('Cancelled');
    expect(result.error.message).toContain('/usr/bin/git at the decision');
    expect(audit.at(-1)).toMatchObject({ outcome: 'cancelled', detail: 'Cancelled' });
  });

  it('approve with a secret hands the requester the human\'s extra secret', async () => {
    const { queue } = setup();
    const waiting = queue.request({ ...secretRead(requester(':1.5', '/usr/bin/python3')), kind: 'key', remember: null }, ':1.5');
    const [pending] = queue.list();
    expect(pending!.rememberScope).toBeNull();
    queue.approveWithSecret(pending!.id, Buffer.from('key passphrase'));
    const outcome = await waiting;
    expect(outcome.decision).toBe('once');
    expect(outcome.secret?.toString()).toBe('key passphrase');
    expect(() => queue.decide(pending!.id, 'once', 0)).toThrow(expect.objectContaining({ code: 'NotFound' }));
  });

  it('sends Changed only to registered consoles, with a growing generation', async () => {
    const { queue, consoles, sent } = setup();
    consoles.register(':1.other-console');
    sent.length = 0;
    const waiting = settle(queue.request(secretRead(requester(':1.5', '/usr/bin/python3')), ':1.5'));
    queue.decide(queue.list()[0]!.id, 'once', 0);
    await waiting;
    expect(new Set(sent.map(([d]) => d))).toEqual(new Set([':1.console', ':1.other-console']));
    const gens = sent.filter(([d]) => d === ':1.console').map(([, g]) => g);
    expect(gens).toEqual([...gens].sort((a, b) => Number(a - b)));
    expect(new Set(gens).size).toBe(gens.length);
  });
});

describe('remembered decisions', () => {

  it('lets the same executable read the same item without a prompt', async () => {
    const { queue, audit } = setup();
    expect(await rememberFor(queue, requester(':1.5', '/usr/bin/python3'))).toEqual({ decision: 'remember' });
    // A new connection and process of the same executable and UID is the same requester.
    expect(await queue.request(secretRead(requester(':1.7', '/usr/bin/python3', 5555)), ':1.7')).toEqual({ decision: 'remembered' });
    expect(queue.list()).toEqual([]);
    expect(audit.at(-1)!.outcome).toBe('remembered');
  });

  it('still asks for another item or another executable', async () => {
    const { queue } = setup();
    await rememberFor(queue, requester(':1.5', '/usr/bin/python3'));
    const otherItem = settle(queue.request(secretRead(requester(':1.5', '/usr/bin/python3'), 'item2'), ':1.5'));
    const otherExe = settle(queue.request(secretRead(requester(':1.8', '/usr/bin/secret-tool')), ':1.8'));
    expect(queue.list()).toHaveLength(2);
    queue.ownerGone(':1.5');
    queue.ownerGone(':1.8');
    await Promise.all([otherItem, otherExe]);
  });

  it('asks again after revocation', async () => {
    const { queue } = setup();
    await rememberFor(queue, requester(':1.5', '/usr/bin/python3'));
    const [grant] = queue.listRemembered();
    expect(grant).toMatchObject({ kind: 'secret', uid: 1000, exe: '/usr/bin/python3', target: 'item1' });
    queue.revoke(grant!.id);
    expect(queue.listRemembered()).toEqual([]);
    const again = settle(queue.request(secretRead(requester(':1.5', '/usr/bin/python3')), ':1.5'));
    expect(queue.list()).toHaveLength(1);
    queue.ownerGone(':1.5');
    await again;
  });

  it('asks again once the window has passed (injected clock)', async () => {
    const { queue, advance } = setup();
    await rememberFor(queue, requester(':1.5', '/usr/bin/python3'));
    advance(9 * 60_000);
    expect(await queue.request(secretRead(requester(':1.5', '/usr/bin/python3')), ':1.5')).toEqual({ decision: 'remembered' });
    advance(60_000);
    const again = settle(queue.request(secretRead(requester(':1.5', '/usr/bin/python3')), ':1.5'));
    expect(queue.list()).toHaveLength(1);
    expect(queue.listRemembered()).toEqual([]);
    queue.ownerGone(':1.5');
    await again;
  });

  it('honours the minutes the console chose', async () => {
    const { queue, advance } = setup();
    await rememberFor(queue, requester(':1.5', '/usr/bin/python3'), 'item1', 2);
    advance(2 * 60_000);
    const again = settle(queue.request(secretRead(requester(':1.5', '/usr/bin/python3')), ':1.5'));
    expect(queue.list()).toHaveLength(1);
    queue.ownerGone(':1.5');
    await again;
  });

  // What a grant through a forwarder covers changed: it was "verified exe + claimed exe", which any
  // process of that executable (any node script) could present; it is now the process that opened
  // the forwarder's connections (PID + start time) plus the program it reports, and ends with it.
  it('binds a grant given through a forwarder to the process that opened its connections and the program it reports', async () => {
    const { queue, exited } = setup();
    const viaAgent = (bus: string, claimedExe: string, pid = 4242) => ({ ...requester(bus, '/usr/bin/node', pid), claimed: { via: 'secret-service-agent', 'requester.exe': claimedExe } });
    await rememberFor(queue, viaAgent(':1.5', '/usr/bin/python3.11'));
    const [grant] = queue.listRemembered();
    expect(grant!.holder).toBe('connections opened by pid 4242 (/usr/bin/node) that report the program /usr/bin/python3.11, until that process exits,');
    // The forwarder opens a connection per request: its next one is covered.
    expect(await queue.request(secretRead(viaAgent(':1.6', '/usr/bin/python3.11')), ':1.6')).toEqual({ decision: 'remembered' });
    // The same claim from another process (a direct caller, another node process), another
    // program behind the same forwarder, and the forwarder without a claim all still ask.
    const sameClaimElsewhere = settle(queue.request(secretRead(viaAgent(':1.7', '/usr/bin/python3.11', 5555)), ':1.7'));
    const otherApp = settle(queue.request(secretRead(viaAgent(':1.8', '/usr/bin/secret-tool')), ':1.8'));
    const unclaimed = settle(queue.request(secretRead(requester(':1.9', '/usr/bin/node')), ':1.9'));
    expect(queue.list()).toHaveLength(3);
    for (const bus of [':1.7', ':1.8', ':1.9']) queue.ownerGone(bus);
    await Promise.all([sameClaimElsewhere, otherApp, unclaimed]);
    // The forwarder's process exiting (an agent restart) ends its grants.
    exited.add(4242);
    queue.ownerGone(':1.6');
    expect(queue.listRemembered()).toEqual([]);
  });

  it('remembers nothing for a connection whose opener exec\'d another program after it connected', async () => {
    const { queue } = setup();
    const forged = { ...requester(':1.5', '/usr/bin/git'), exeAtConnection: '/usr/bin/python3', changes: ['ran /usr/bin/python3 when the connection appeared, /usr/bin/git at the request'] };
    const waiting = settle(queue.request(secretRead(forged), ':1.5'));
    const [pending] = queue.list();
    expect(pending!.rememberScope).toBeNull();
    expect(() => queue.decide(pending!.id, 'remember', 0)).toThrow(/cannot be remembered/);
    queue.ownerGone(':1.5');
    await waiting;
  });

  it('cannot remember a requester whose executable is unknown', async () => {
    const { queue } = setup();
    const waiting = settle(queue.request(secretRead(requester(':1.5', null)), ':1.5'));
    const [pending] = queue.list();
    expect(pending!.rememberScope).toBeNull();
    expect(() => queue.decide(pending!.id, 'remember', 0)).toThrow(/cannot be remembered/);
    expect(queue.list()).toHaveLength(1);
    queue.decide(pending!.id, 'once', 0);
    expect((await waiting).ok).toBe(true);
  });
});

describe('time on two clocks', () => {
  it('a wall clock stepped back an hour neither extends a grant nor stalls a deadline', async () => {
    const { queue, advance, stepWall } = setup();
    await rememberFor(queue, requester(':1.5', '/usr/bin/python3'));
    const waiting = settle(queue.request(secretRead(requester(':1.6', '/usr/bin/python3'), 'item2'), ':1.6'));
    stepWall(-3_600_000);
    advance(10 * 60_000);
    queue.sweep();
    // The grant's ten minutes are up on the boot clock although the wall clock shows 50 minutes earlier.
    expect(queue.listRemembered()).toEqual([]);
    // The 5-minute deadline passed on the boot clock: the request timed out.
    expect(((await waiting) as { error: { code: string } }).error.code).toBe('Timeout');
    const again = settle(queue.request(secretRead(requester(':1.5', '/usr/bin/python3')), ':1.5'));
    expect(queue.list()).toHaveLength(1);
    queue.ownerGone(':1.5');
    await again;
  });

  it('a suspend counts toward a grant and a deadline', async () => {
    const { queue, suspend } = setup();
    await rememberFor(queue, requester(':1.5', '/usr/bin/python3'));
    const waiting = settle(queue.request(secretRead(requester(':1.6', '/usr/bin/python3'), 'item2'), ':1.6'));
    suspend(11 * 60_000);
    queue.sweep();
    expect(queue.listRemembered()).toEqual([]);
    expect(((await waiting) as { error: { code: string } }).error.code).toBe('Timeout');
  });

  it('a wall clock stepped forward ends a grant early (fail closed), and the console sees the true time left', async () => {
    const { queue, stepWall } = setup();
    const waiting = settle(queue.request(secretRead(requester(':1.6', '/usr/bin/python3')), ':1.6'));
    const before = queue.list()[0]!.deadline;
    stepWall(-3_600_000);
    // Shown as wall time: still five minutes from the (stepped) now.
    expect(queue.list()[0]!.deadline).toBe(before - 3_600_000);
    queue.ownerGone(':1.6');
    await waiting;
    await rememberFor(queue, requester(':1.5', '/usr/bin/python3'));
    stepWall(2 * 3_600_000);
    expect(queue.listRemembered()).toEqual([]);
  });
});

describe('pending budget', () => {
  const from = (bus: string, uid: number) => ({ ...requester(bus, '/usr/bin/python3'), uid });

  it('caps what one UID may have waiting, and leaves room for another UID', async () => {
    const { queue } = setup({ budgets: { pendingPerUid: 3 } });
    const waiting = [1, 2, 3].map((n) => settle(queue.request(secretRead(from(`:1.${n}`, 1000)), `:1.${n}`)));
    await expect(queue.request(secretRead(from(':1.9', 1000)), ':1.9')).rejects.toMatchObject({ code: 'QueueFull', message: expect.stringMatching(/uid 1000.*limit 3/) });
    // The companion's own tools still get through, and nothing already waiting was dropped.
    const other = settle(queue.request(secretRead(from(':1.20', 1001)), ':1.20'));
    expect(queue.list()).toHaveLength(4);
    expect(queue.throttling).toMatchObject({ uid: 1000, refused: 1 });
    for (const r of queue.list()) queue.decide(r.id, 'once', 0);
    expect((await Promise.all([...waiting, other])).every((r) => r.ok)).toBe(true);
    // Room is given back when requests end.
    const next = settle(queue.request(secretRead(from(':1.9', 1000)), ':1.9'));
    expect(queue.list()).toHaveLength(1);
    queue.ownerGone(':1.9');
    await next;
  });

  it('caps the bytes waiting: a second large payload is refused while the first waits', async () => {
    const { queue } = setup({ budgets: { pendingMiBPerUid: 20 } });
    const big = (bus: string): ApprovalInput => ({
      kind: 'sign', requester: from(bus, 1000), summary: 'sign',
      sign: { payloadKind: 'unknown', headers: [], message: 'x'.repeat(1024), payloadBytes: 8 * 1048576, key: null, reported: {}, contradictions: [] },
    });
    const first = settle(queue.request(big(':1.1'), ':1.1'));
    const second = settle(queue.request(big(':1.2'), ':1.2'));
    await expect(queue.request(big(':1.3'), ':1.3')).rejects.toMatchObject({ code: 'QueueFull', message: expect.stringMatching(/MiB waiting from uid 1000/) });
    expect(queue.list()).toHaveLength(2);
    queue.ownerGone(':1.1');
    queue.ownerGone(':1.2');
    await Promise.all([first, second]);
  });

  it('caps the total across UIDs', async () => {
    const { queue } = setup({ budgets: { pendingTotal: 2 } });
    const a = settle(queue.request(secretRead(from(':1.1', 1000)), ':1.1'));
    const b = settle(queue.request(secretRead(from(':1.2', 1001)), ':1.2'));
    await expect(queue.request(secretRead(from(':1.3', 1001)), ':1.3')).rejects.toMatchObject({ code: 'QueueFull', message: expect.stringMatching(/in all \(limit 2\)/) });
    queue.close();
    await Promise.all([a, b]);
  });
});
