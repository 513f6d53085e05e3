// Rate limits, cooldowns and bursts on an injected clock: the module on its own, then inside the
// approval queue, where what matters is whether a human is asked, what the requester gets back and
// what the audit log says.
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../core/config.js';
import { createLogger } from '../../core/logger.js';
import type { RequesterInfo } from '../../core/wire.js';
import { ConsoleRegistry } from '../../daemon/approvals/consoles.js';
import { ApprovalQueue } from '../../daemon/approvals/gate.js';
import { RateLimits, type RateLimitSettings } from '../../daemon/approvals/rate-limits.js';
import type { ApprovalInput, AuditSink } from '../../daemon/services.js';

type AuditRecord = Parameters<AuditSink['record']>[0];

const DEFAULTS = configSchema.shape.rateLimits.parse(undefined);
const SETTINGS: RateLimitSettings = { ...DEFAULTS, promptsPerMinutePerSubject: 3, promptsPerMinutePerUid: 5, cooldownAfterUnanswered: 3, cooldownWindowMinutes: 10, cooldownMinutes: 15, burstDistinctItems: 5, burstSeconds: 10 };

function requester(exe: string | null, opts: { uid?: number; busName?: string; claimed?: Record<string, string> } = {}): RequesterInfo {
  return {
    busName: opts.busName ?? ':1.5', uid: opts.uid ?? 1000, userName: 'nb',
    process: exe === null ? null : { pid: 4242, startTime: 123, uid: opts.uid ?? 1000, comm: 'x', exe, cmdline: [exe], cwd: '/home/nb' },
    chain: [], systemdUnit: null, claimed: opts.claimed ?? {},
  };
}

function testClock() {
  const t = { wall: 1_700_000_000_000, boot: 50_000 };
  return {
    clock: { wall: () => t.wall, boot: () => t.boot },
    advance: (ms: number) => { t.wall += ms; t.boot += ms; },
    stepWall: (ms: number) => { t.wall += ms; },
  };
}

/** What the gate does: check, and when a human is asked, count the prompt. */
function ask(limits: RateLimits, r: RequesterInfo): string | null {
  const refusal = limits.admit(r);
  if (refusal === null) limits.prompted(r);
  return refusal;
}

const PY = '/usr/bin/python3';
const GIT = '/usr/bin/git';

describe('rate limits on their own', () => {
  const setup = (settings: Partial<RateLimitSettings> = {}) => {
    const time = testClock();
    let changes = 0;
    const limits = new RateLimits(time.clock, { ...SETTINGS, ...settings }, () => { changes++; });
    return { limits, ...time, changes: () => changes };
  };

  it('the defaults are what the README says', () => {
    expect(DEFAULTS).toEqual({
      promptsPerMinutePerSubject: 12, promptsPerMinutePerUid: 30, cooldownAfterUnanswered: 5,
      cooldownWindowMinutes: 10, cooldownMinutes: 10, burstDistinctItems: 30, burstSeconds: 10,
    });
  });

  it('caps prompts a minute per program, says until when, and lets it ask again a minute later', () => {
    const { limits, advance } = setup();
    for (let i = 0; i < 3; i++) expect(ask(limits, requester(PY))).toBeNull();
    expect(ask(limits, requester(PY))).toMatch(/^\/usr\/bin\/python3 \(uid 1000\) asked more than 3 times a minute; try again after 2023-11-14T22:14:20\.000Z\.$/);
    // Another program of the same UID is not affected.
    expect(ask(limits, requester(GIT))).toBeNull();
    expect(limits.notices()).toMatchObject([{ why: 'prompts', subject: '/usr/bin/python3 (uid 1000)', uid: 1000, refused: 1 }]);
    advance(60_000);
    expect(ask(limits, requester(PY))).toBeNull();
    expect(limits.notices()).toEqual([]);
  });

  it('caps prompts a minute per UID across programs, and not for another UID', () => {
    const { limits } = setup({ promptsPerMinutePerSubject: 100 });
    for (let i = 0; i < 5; i++) expect(ask(limits, requester(`/usr/bin/p${i}`))).toBeNull();
    expect(ask(limits, requester('/usr/bin/p9'))).toMatch(/^programs of uid 1000 asked more than 5 times a minute/);
    expect(ask(limits, requester('/usr/bin/p9', { uid: 1001 }))).toBeNull();
    expect(limits.notices()).toMatchObject([{ why: 'prompts', subject: 'any program of uid 1000', uid: 1000 }]);
  });

  it('keys on the verified executable, never on a claimed one', () => {
    const { limits } = setup();
    // A python script claiming to be git uses up python's allowance, not git's...
    for (let i = 0; i < 3; i++) expect(ask(limits, requester(PY, { claimed: { 'requester.exe': GIT, via: 'agent' } }))).toBeNull();
    expect(ask(limits, requester(GIT))).toBeNull();
    // ...and claiming something new each time does not escape it.
    expect(ask(limits, requester(PY, { claimed: { 'requester.exe': '/usr/bin/fresh-name' } }))).toMatch(/python3/);
    for (let i = 0; i < 3; i++) limits.finished(requester(PY, { claimed: { 'requester.exe': GIT } }), 'denied');
    expect(ask(limits, requester(PY))).toMatch(/cooldown/);
    expect(ask(limits, requester(GIT))).toBeNull();
  });

  it('after K denied or unanswered prompts within the window: a cooldown of T minutes on the boot clock', () => {
    const { limits, advance, stepWall, changes } = setup();
    limits.finished(requester(PY), 'denied');
    limits.finished(requester(PY), 'expired');
    // An approval in between does not wipe what came before: denials within the window add up.
    limits.finished(requester(PY), 'approved');
    expect(ask(limits, requester(PY))).toBeNull();
    const before = changes();
    limits.finished(requester(PY), 'cancelled');
    expect(changes()).toBe(before + 1);
    const refusal = ask(limits, requester(PY));
    expect(refusal).toContain('/usr/bin/python3 (uid 1000) is in cooldown until 2023-11-14T22:28:20.000Z after 3 requests denied or unanswered');
    expect(limits.notices()).toMatchObject([{ why: 'cooldown', uid: 1000, until: Date.parse('2023-11-14T22:28:20.000Z'), refused: 1 }]);
    // Setting the wall clock forward ends nothing; only time passing does.
    stepWall(3_600_000);
    expect(ask(limits, requester(PY))).toMatch(/cooldown/);
    advance(15 * 60_000 - 1);
    expect(ask(limits, requester(PY))).toMatch(/cooldown/);
    advance(1);
    expect(ask(limits, requester(PY))).toBeNull();
  });

  it('denials spread wider than the window never add up to a cooldown', () => {
    const { limits, advance } = setup();
    for (let i = 0; i < 10; i++) {
      limits.finished(requester(PY), 'denied');
      advance(5 * 60_000 + 1);
    }
    expect(ask(limits, requester(PY))).toBeNull();
  });

  it('requests already waiting when a cooldown began do not extend it', () => {
    const { limits, advance } = setup();
    for (let i = 0; i < 3; i++) limits.finished(requester(PY), 'expired');
    advance(60_000);
    for (let i = 0; i < 6; i++) limits.finished(requester(PY), 'expired');
    advance(14 * 60_000);
    expect(ask(limits, requester(PY))).toBeNull();
  });

  it('a burst of distinct items under grants pauses them until a human approves one', () => {
    const { limits, advance } = setup();
    for (let i = 0; i < 4; i++) expect(limits.burstPaused(requester(PY), [`item${i}`])).toBe(false);
    // The same items again are not a burst.
    expect(limits.burstPaused(requester(PY), ['item0', 'item1'])).toBe(false);
    // Another program's reads do not count towards python's.
    expect(limits.burstPaused(requester(GIT), ['item4'])).toBe(false);
    expect(limits.burstPaused(requester(PY), ['item4'])).toBe(true);
    expect(limits.burstPaused(requester(PY), ['item0'])).toBe(true);
    expect(limits.burstPaused(requester(GIT), ['item0'])).toBe(false);
    expect(limits.notices()).toMatchObject([{ why: 'burst', subject: '/usr/bin/python3 (uid 1000)' }]);
    limits.finished(requester(PY), 'approved');
    expect(limits.burstPaused(requester(PY), ['item0'])).toBe(false);
    // Reads spread over more than the burst's seconds are no burst.
    advance(10_000);
    for (let i = 0; i < 20; i++) {
      expect(limits.burstPaused(requester(PY), [`slow${i}`])).toBe(false);
      advance(2_600);
    }
  });

  it('a burst pause also ends by itself after the cooldown minutes', () => {
    const { limits, advance } = setup();
    expect(limits.burstPaused(requester(PY), ['a', 'b', 'c', 'd', 'e'])).toBe(true);
    advance(15 * 60_000);
    expect(limits.burstPaused(requester(PY), ['a'])).toBe(false);
  });

  it('the console lifts a cooldown by its id; an unknown id is refused', () => {
    const { limits } = setup();
    for (let i = 0; i < 3; i++) limits.finished(requester(PY), 'denied');
    const [notice] = limits.notices();
    expect(limits.lift('c000000000000')).toBeNull();
    expect(limits.lift(notice!.id)).toEqual({ subject: '/usr/bin/python3 (uid 1000)', uid: 1000 });
    expect(ask(limits, requester(PY))).toBeNull();
    expect(limits.notices()).toEqual([]);
  });

  it('keeps nothing for subjects whose limits are over, however many executables a caller tries', () => {
    const { limits, advance } = setup({ promptsPerMinutePerUid: 1_000_000 });
    for (let i = 0; i < 5000; i++) ask(limits, requester(`/tmp/copy${i}`));
    const size = () => (limits as unknown as { subjects: Map<string, unknown> }).subjects.size;
    advance(11 * 60_000);
    // As many again, later: the first lot, long over, is forgotten on the way.
    for (let i = 0; i < 5000; i++) ask(limits, requester(`/tmp/again${i}`));
    expect(size()).toBeLessThanOrEqual(5000 + 64);
    advance(11 * 60_000);
    expect(limits.notices()).toEqual([]);
    expect(size()).toBe(0);
  });
});

describe('rate limits in the approval queue', () => {
  const queues: ApprovalQueue[] = [];
  afterEach(() => {
    for (const q of queues.splice(0)) q.close();
  });

  const read = (r: RequesterInfo, itemId = 'item1'): ApprovalInput => ({
    kind: 'secret', requester: r, summary: `read ${itemId}`,
    items: [{ itemId, collectionId: 'login', collectionLabel: 'Login', label: `Label ${itemId}`, attributes: {} }],
    remember: { kind: 'secret', targets: [itemId], targetLabel: `'Label ${itemId}'`, action: `read 'Label ${itemId}'` },
  });

  const setup = () => {
    const time = testClock();
    const audit: AuditRecord[] = [];
    const consoles = new ConsoleRegistry(() => undefined);
    consoles.register(':1.console');
    const queue = new ApprovalQueue({
      config: {
        requestTimeoutSeconds: 300, rememberMinutes: 10, maxPendingPerRequester: 50,
        budgets: { pendingPerUid: 500, pendingTotal: 1000, pendingMiBPerUid: 96, pendingMiBTotal: 128 },
        rateLimits: SETTINGS,
      },
      consoles, audit: { record: (e) => audit.push(e) }, logger: createLogger({ write: () => undefined }),
      clock: time.clock, storeLocked: () => false, requesterChange: () => null,
    });
    queues.push(queue);
    return { queue, audit, consoles, ...time };
  };
  const settle = <T>(p: Promise<T>) => p.then((value) => ({ ok: true as const, value }), (error) => ({ ok: false as const, error }));

  it('over the cap: RateLimited at once, nobody asked, a refused row with detail RateLimited', async () => {
    const { queue, audit } = setup();
    for (let i = 0; i < 3; i++) void settle(queue.request(read(requester(PY)), ':1.5'));
    await expect(queue.request(read(requester(PY)), ':1.5')).rejects.toMatchObject({ code: 'RateLimited', message: expect.stringContaining('try again after') });
    expect(queue.size).toBe(3);
    expect(audit.at(-1)).toMatchObject({ outcome: 'refused', detail: 'RateLimited' });
    // git, of the same UID, is still asked.
    void settle(queue.request(read(requester(GIT)), ':1.6'));
    expect(queue.size).toBe(4);
  });

  it('requests refused for another reason (no console) keep their error and do not use up the allowance', async () => {
    const { queue, consoles } = setup();
    consoles.gone(':1.console');
    for (let i = 0; i < 10; i++) await expect(queue.request(read(requester(PY)), ':1.5')).rejects.toMatchObject({ code: 'NoConsole' });
    consoles.register(':1.console');
    void settle(queue.request(read(requester(PY)), ':1.5'));
    expect(queue.size).toBe(1);
  });

  it('unanswered prompts put the program into cooldown; the console lifts it; a lock does not count', async () => {
    const { queue, audit, advance } = setup();
    for (let i = 0; i < 3; i++) void settle(queue.request(read(requester(PY)), ':1.5'));
    queue.cancelAll('StoreLocked');
    advance(60_000);
    for (let i = 0; i < 3; i++) void settle(queue.request(read(requester(PY)), ':1.5'));
    advance(300_000);
    queue.sweep();
    expect(queue.size).toBe(0);
    const refused = await settle(queue.request(read(requester(PY)), ':1.5'));
    expect(refused).toMatchObject({ ok: false, error: { code: 'RateLimited', message: expect.stringContaining('cooldown until') } });
    expect(queue.size).toBe(0);
    const [notice] = queue.limits!.notices();
    expect(notice).toMatchObject({ why: 'cooldown', subject: '/usr/bin/python3 (uid 1000)' });
    queue.liftLimit(notice!.id);
    expect(audit.at(-1)).toMatchObject({ outcome: 'done', detail: 'lifted on the console', target: 'rate limit: /usr/bin/python3 (uid 1000)' });
    expect(() => queue.liftLimit(notice!.id)).toThrow(expect.objectContaining({ code: 'NotFound' }));
    void settle(queue.request(read(requester(PY)), ':1.5'));
    expect(queue.size).toBe(1);
  });

  it('a burst of reads under remembered decisions is asked again instead of answered', async () => {
    const { queue, audit } = setup();
    // Grants for six items, each approved by the human for this process (python3 with no script has no program scope).
    for (let i = 0; i < 6; i++) {
      const waiting = queue.request(read(requester(PY), `item${i}`), ':1.5');
      queue.decide(queue.list()[0]!.id, 'process', 0);
      await waiting;
      // (approvals are prompts: move past the per-minute cap for the next grant)
      (queue.limits as unknown as { subjects: Map<string, { prompts: number[] }> }).subjects.forEach((s) => s.prompts.splice(0));
      (queue.limits as unknown as { uids: Map<number, { prompts: number[] }> }).uids.forEach((u) => u.prompts.splice(0));
    }
    for (let i = 0; i < 4; i++) expect(await queue.request(read(requester(PY), `item${i}`), ':1.5')).toEqual({ decision: 'remembered' });
    // The fifth distinct item in ten seconds trips the burst: asked on the console.
    const fifth = settle(queue.request(read(requester(PY), 'item4'), ':1.5'));
    expect(queue.list()).toHaveLength(1);
    expect(audit.at(-1)).toMatchObject({ outcome: 'pending' });
    // A probe that only wants a remembered answer gets none while the grants are paused.
    await expect(queue.request({ ...read(requester(PY), 'item0'), onlyIfRemembered: true }, ':1.5')).rejects.toMatchObject({ code: 'NotRemembered' });
    // Another program's grants are not paused.
    queue.decide(queue.list()[0]!.id, 'once', 0);
    expect(await fifth).toEqual({ ok: true, value: { decision: 'once' } });
    // The human said yes: the grants answer again.
    expect(await queue.request(read(requester(PY), 'item5'), ':1.5')).toEqual({ decision: 'remembered' });
  });
});
