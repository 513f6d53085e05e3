// The gate's part of tier high: never answered from a remembered decision, never remembered, and
// approved only by the second step (the confirm word typed back), not by a plain Decide.
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleRegistry } from '../../daemon/approvals/consoles.js';
import { confirmWord, wordMatches } from '../../daemon/approvals/confirm-word.js';
import { ApprovalQueue } from '../../daemon/approvals/gate.js';
import { createLogger } from '../../core/logger.js';
import type { RequesterInfo, Tier } from '../../core/wire.js';
import type { ApprovalInput, AuditSink } from '../../daemon/services.js';

const r: RequesterInfo = {
  busName: ':1.7', uid: 1000, userName: 'nb',
  process: { pid: 4242, startTime: 123, uid: 1000, comm: 'python3', exe: '/usr/bin/python3', cmdline: ['/usr/bin/python3'], cwd: '/home/nb' },
  chain: [], systemdUnit: null, claimed: {},
};

const read = (tier?: Tier, extra: Partial<ApprovalInput> = {}): ApprovalInput => ({
  kind: 'secret', requester: r, summary: 'read prod db', ...(tier ? { tier } : {}),
  items: [{ itemId: 'item1', collectionId: 'login', collectionLabel: 'Login', label: 'prod db', attributes: {} }],
  remember: { kind: 'secret', targets: ['item1'], targetLabel: "'prod db'", action: "read 'prod db'" },
  ...extra,
});

const queues: ApprovalQueue[] = [];
afterEach(() => {
  for (const q of queues.splice(0)) q.close();
});

function setup() {
  const audit: Parameters<AuditSink['record']>[0][] = [];
  const consoles = new ConsoleRegistry(() => undefined);
  consoles.register(':1.console');
  const queue = new ApprovalQueue({
    config: { requestTimeoutSeconds: 300, rememberMinutes: 10, maxPendingPerRequester: 50, budgets: { pendingPerUid: 500, pendingTotal: 1000, pendingMiBPerUid: 96, pendingMiBTotal: 128 } },
    consoles, audit: { record: (e) => audit.push(e) }, logger: createLogger({ write: () => undefined }),
    clock: { wall: () => 1_700_000_000_000, boot: () => 50_000 }, storeLocked: () => false, requesterChange: () => null,
  });
  queues.push(queue);
  return { queue, audit };
}

const settle = <T>(p: Promise<T>) => p.then((value) => ({ ok: true as const, value }), (error: Error & { code?: string }) => ({ ok: false as const, error }));
const codeOf = (fn: () => unknown): string => {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return (err as { code: string }).code;
  }
};

describe('tier high at the gate', () => {
  it('offers no remember scope, carries a word, and a plain Decide cannot approve it', async () => {
    const { queue } = setup();
    const waiting = settle(queue.request(read('high'), r.busName));
    const [pending] = queue.list();
    expect(pending).toMatchObject({ tier: 'high', rememberScope: null });
    expect(pending!.confirmWord).toMatch(/^[a-z]{4}$/);
    expect(codeOf(() => queue.decide(pending!.id, 'once', 0))).toBe('InvalidArgs');
    expect(codeOf(() => queue.decide(pending!.id, 'remember', 0))).toBe('InvalidArgs');
    expect(queue.list()).toHaveLength(1);
    queue.decideConfirmed(pending!.id, pending!.confirmWord!.toUpperCase());
    expect(await waiting).toEqual({ ok: true, value: { decision: 'once' } });
    expect(queue.listRemembered()).toEqual([]);
  });

  it('is asked again right after "remember" on the same item at tier normal', async () => {
    const { queue } = setup();
    const first = queue.request(read(), r.busName);
    queue.decide(queue.list()[0]!.id, 'process', 0);
    await first;
    expect(await queue.request(read(), r.busName)).toEqual({ decision: 'remembered' });
    void settle(queue.request(read('high'), r.busName));
    expect(queue.list()).toHaveLength(1);
    await expect(queue.request(read('high', { onlyIfRemembered: true }), r.busName)).rejects.toMatchObject({ code: 'NotRemembered' });
  });

  it('a wrong word leaves it pending; the third wrong word denies it', async () => {
    const { queue, audit } = setup();
    const waiting = settle(queue.request(read('high'), r.busName));
    const { id } = queue.list()[0]!;
    expect(codeOf(() => queue.decideConfirmed(id, 'zzzzz'))).toBe('InvalidArgs');
    expect(codeOf(() => queue.decideConfirmed(id, ''))).toBe('InvalidArgs');
    expect(queue.list()).toHaveLength(1);
    expect(codeOf(() => queue.decideConfirmed(id, 'qqqq'))).toBe('Denied');
    expect(queue.list()).toHaveLength(0);
    const outcome = await waiting;
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.error.code).toBe('Denied');
    expect(audit.at(-1)).toMatchObject({ outcome: 'denied' });
  });

  it('a normal request needs no word and DecideConfirmed refuses it', async () => {
    const { queue } = setup();
    const waiting = queue.request(read('normal'), r.busName);
    const [pending] = queue.list();
    expect(pending!.confirmWord).toBeUndefined();
    expect(codeOf(() => queue.decideConfirmed(pending!.id, 'bako'))).toBe('InvalidArgs');
    queue.decide(pending!.id, 'once', 0);
    expect(await waiting).toEqual({ decision: 'once' });
  });
});

describe('confirm words', () => {
  it('are four letters, consonant-vowel-consonant-vowel, matched ignoring case and spaces', () => {
    for (let i = 0; i < 50; i++) expect(confirmWord()).toMatch(/^[bdfgkmnprstvz][aeiou][bdfgkmnprstvz][aeiou]$/);
    expect(wordMatches('bako', ' BaKo ')).toBe(true);
    expect(wordMatches('bako', 'bak')).toBe(false);
    expect(wordMatches('bako', 'bakö')).toBe(false);
  });
});
