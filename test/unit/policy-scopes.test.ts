// The scopes a human picks on the console, on the real approval queue with an injected clock and
// session reader: what each covers (and, as important, what it does not), how tiers bound them,
// and that "always" / "deny always" come back from the store after a restart.
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleRegistry } from '../../daemon/approvals/consoles.js';
import { ApprovalQueue, type RuleStore } from '../../daemon/approvals/gate.js';
import type { PersistedRule } from '../../daemon/approvals/remembered.js';
import { createLogger } from '../../core/logger.js';
import { interpretedScript } from '../../daemon/identity/interpreters.js';
import type { RequesterInfo, Tier } from '../../core/wire.js';
import type { ApprovalInput } from '../../daemon/services.js';

const dir = mkdtempSync(join(tmpdir(), 'sd-scopes-'));
const T_PY = join(dir, 't.py');
const OTHER_PY = join(dir, 'other.py');
writeFileSync(T_PY, 'print("t")\n');
writeFileSync(OTHER_PY, 'print("other")\n');

describe('interpreters count as the script they run', () => {
  const parse = (exe: string, ...args: string[]) => interpretedScript(exe, [exe, ...args], '/home/nb/proj');
  it('finds the script past the interpreter\'s own options, resolved against the cwd', () => {
    expect(parse('/usr/bin/python3.11', 't.py', '--flag')).toEqual({ kind: 'script', interpreter: 'python', untrustedScript: '/home/nb/proj/t.py' });
    expect(parse('/usr/bin/python3', '-u', '-W', 'ignore', '-X', 'dev', '../t.py')).toMatchObject({ untrustedScript: '/home/nb/t.py' });
    expect(parse('/usr/bin/node', '--require', './hook.js', '--no-warnings', 'dist/main.js')).toMatchObject({ untrustedScript: '/home/nb/proj/dist/main.js' });
    expect(parse('/usr/bin/bash', '-e', '-o', 'pipefail', './run.sh')).toMatchObject({ untrustedScript: '/home/nb/proj/run.sh' });
    expect(parse('/usr/bin/perl', '-Ilib', '-w', 's.pl')).toMatchObject({ untrustedScript: '/home/nb/proj/s.pl' });
    expect(parse('/usr/bin/ruby', '-r', 'json', '/opt/x.rb')).toMatchObject({ untrustedScript: '/opt/x.rb' });
  });
  it('gives modules, inline code and stdin no program', () => {
    for (const [exe, ...args] of [
      ['/usr/bin/python3', '-m', 'http.server'], ['/usr/bin/python3', '-c', 'print(1)'], ['/usr/bin/python3', '-uc', 'print(1)'],
      ['/usr/bin/python3'], ['/usr/bin/bash', '-c', 'secret-tool lookup x y'], ['/usr/bin/sh', '-s'], ['/usr/bin/node', '-e', '1'],
      ['/usr/bin/node', '--eval=1'], ['/usr/bin/perl', '-e', '1'], ['/usr/bin/ruby', '-e', '1'], ['/usr/bin/python3', '-'],
    ] as string[][]) {
      expect(parse(exe!, ...args).kind, [exe, ...args].join(' ')).toBe('inline');
    }
  });
  it('goes by the kernel\'s executable, not argv[0]', () => {
    expect(interpretedScript('/usr/bin/git', ['python3', 't.py'], '/')).toEqual({ kind: 'binary' });
  });
});

interface Proc { pid: number; script?: string; exe?: string; claimed?: Record<string, string> }

function requester(p: Proc): RequesterInfo {
  const exe = p.exe ?? '/usr/bin/python3';
  return {
    busName: `:1.${p.pid}`, uid: 1000, userName: 'nb',
    process: { pid: p.pid, startTime: 100 + p.pid, uid: 1000, comm: 'python3', exe, cmdline: p.script ? [exe, p.script] : [exe], cwd: dir },
    chain: [], systemdUnit: null, claimed: p.claimed ?? {},
  };
}

function read(p: Proc, items = ['i1'], tier: Tier = 'normal'): ApprovalInput {
  return {
    kind: 'secret', requester: requester(p), summary: 'read', tier,
    items: items.map((itemId) => ({ itemId, collectionId: 'login', collectionLabel: 'Login', label: itemId, attributes: {} })),
    remember: { kind: 'secret', targets: items, targetLabel: items.join(', '), action: `read ${items.join(', ')}` },
  };
}

const queues: ApprovalQueue[] = [];
afterEach(() => {
  for (const q of queues.splice(0)) q.close();
});

/** A queue whose processes' sessions the test sets: pid → session id (leaders start at time 1). */
function setup(rules: PersistedRule[] = []) {
  const t = { wall: 1_700_000_000_000, boot: 50_000 };
  const sessions = new Map<number, number>();
  const exited = new Set<number>();
  const consoles = new ConsoleRegistry(() => undefined);
  consoles.register(':1.console');
  const store: RuleStore = {
    list: () => rules.map((r) => ({ ...r })),
    save: (r) => rules.push(r),
    remove: (id) => rules.splice(rules.findIndex((r) => r.id === id), 1),
  };
  const state = { locked: false };
  const queue = new ApprovalQueue({
    config: { requestTimeoutSeconds: 300, rememberMinutes: 10, maxPendingPerRequester: 50, budgets: { pendingPerUid: 500, pendingTotal: 1000, pendingMiBPerUid: 96, pendingMiBTotal: 128 } },
    consoles, audit: { record: () => undefined }, logger: createLogger({ write: () => undefined }),
    clock: { wall: () => t.wall, boot: () => t.boot }, storeLocked: () => state.locked, requesterChange: () => null,
    openerAlive: (pid) => !exited.has(pid),
    readSession: (pid) => (sessions.has(pid) ? { sid: sessions.get(pid)!, leaderStartTime: 1, leaderComm: 'bash' } : null),
    rules: store,
  });
  queues.push(queue);
  /** Ask as `p` (in session `sid`); answer with `verb` if it reaches the console. */
  const ask = async (p: Proc, sid: number, verb?: Parameters<ApprovalQueue['decide']>[1], opts: { items?: string[]; tier?: Tier; minutes?: number } = {}) => {
    sessions.set(p.pid, sid);
    const pending = queue.request(read(p, opts.items, opts.tier), `:1.${p.pid}`).then((o) => o.decision, (e: { code: string }) => e.code);
    await Promise.resolve();
    const shown = queue.list()[0];
    // Tier high: "once" is the second step, the word the console shows typed back.
    if (shown && verb === 'once' && shown.confirmWord) queue.decideConfirmed(shown.id, shown.confirmWord);
    else if (shown && verb) queue.decide(shown.id, verb, opts.minutes ?? 0);
    else if (shown) queue.decide(shown.id, 'deny', 0);
    return { outcome: await pending, asked: shown !== undefined, shown };
  };
  return { queue, ask, exited, rules, state, advance: (ms: number) => { t.wall += ms; t.boot += ms; } };
}

describe('scopes', () => {
  it('session: one approval covers every new process of the session, none of another session', async () => {
    const { ask } = setup();
    expect((await ask({ pid: 10, exe: '/usr/bin/git' }, 500, 'session')).outcome).toBe('remember');
    for (let pid = 11; pid < 30; pid++) expect(await ask({ pid, exe: '/usr/bin/git' }, 500)).toMatchObject({ asked: false, outcome: 'remembered' });
    expect(await ask({ pid: 31, exe: '/usr/bin/git' }, 501)).toMatchObject({ asked: true });
  });

  it('session: the line names the session and its leader; it ends with 8 hours at most', async () => {
    const { ask, advance } = setup();
    const { shown } = await ask({ pid: 10, script: T_PY }, 500, 'session');
    expect(shown!.scopes!.find((s) => s.verb === 'session')!.line).toBe("any process of uid 1000 in session 500 (led by pid 500, bash), until that session ends, may read i1 for at most 8 hours");
    advance(8 * 3_600_000 + 1);
    expect((await ask({ pid: 11, script: T_PY }, 500)).asked).toBe(true);
  });

  it('process: covers the same process only, and ends when it exits', async () => {
    const { ask, exited, queue } = setup();
    await ask({ pid: 10, script: T_PY }, 500, 'process');
    expect((await ask({ pid: 10, script: T_PY }, 500)).asked).toBe(false);
    expect((await ask({ pid: 11, script: T_PY }, 500)).asked).toBe(true);
    // It exits: its connection goes, and so does the grant.
    exited.add(10);
    queue.ownerGone(':1.10');
    expect(queue.listRemembered()).toEqual([]);
  });

  it('program: 50 runs of python3 t.py in one session ask once; other.py, another session, a changed t.py ask again', async () => {
    const { ask } = setup();
    const first = await ask({ pid: 100, script: T_PY }, 500, 'program', { items: ['a', 'b', 'c'] });
    expect(first.shown!.rememberScope!.description).toMatch(/running the script .*t\.py \(as its command line reports\) with contents sha256 [0-9a-f]{16} in session 500 may read a, b, c for 10 minutes$/);
    let prompts = 0;
    for (let pid = 101; pid < 150; pid++) prompts += Number((await ask({ pid, script: T_PY }, 500, 'once', { items: ['a', 'b', 'c'] })).asked);
    expect(prompts).toBe(0);
    expect((await ask({ pid: 200, script: OTHER_PY }, 500, undefined, { items: ['a', 'b', 'c'] })).asked).toBe(true);
    expect((await ask({ pid: 201, script: T_PY }, 777, undefined, { items: ['a', 'b', 'c'] })).asked).toBe(true);
    // A subset of what was granted is covered; one item more is not.
    expect((await ask({ pid: 202, script: T_PY }, 500, undefined, { items: ['b'] })).asked).toBe(false);
    expect((await ask({ pid: 203, script: T_PY }, 500, undefined, { items: ['a', 'd'] })).asked).toBe(true);
    writeFileSync(T_PY, 'print("t, changed")\n');
    try {
      expect((await ask({ pid: 204, script: T_PY }, 500, undefined, { items: ['a'] })).asked).toBe(true);
    } finally {
      writeFileSync(T_PY, 'print("t")\n');
    }
  });

  it('program in any session: covers another session, and its line says any process that presents itself so', async () => {
    const { ask } = setup();
    const { shown } = await ask({ pid: 10, exe: '/usr/bin/git' }, 500, 'program-any-session');
    expect(shown!.scopes!.find((s) => s.verb === 'program-any-session')!.line).toBe('any process of uid 1000 that presents itself as /usr/bin/git, in any session, may read i1 for 10 minutes');
    expect((await ask({ pid: 11, exe: '/usr/bin/git' }, 900)).asked).toBe(false);
  });

  it('python3 -c gets no program scope, only once, process and session, and the console is told why', async () => {
    const { queue } = setup();
    const input = read({ pid: 10 });
    input.requester.process!.cmdline = ['/usr/bin/python3', '-c', 'import x'];
    void queue.request(input, ':1.10').catch(() => undefined);
    await Promise.resolve();
    const shown = queue.list()[0]!;
    expect(shown.rememberScope).toBeNull();
    expect(shown.scopes!.map((s) => s.verb)).toEqual(['process']);
    expect(shown.noProgramScope).toMatch(/runs no script file \(it runs code given with -c\)/);
    expect(() => queue.decide(shown.id, 'program', 0)).toThrow(/cannot be remembered as "program"/);
  });

  it('a forwarder (the agent) is offered only the program it reports (for minutes or until lock), bound to its own process: never process or session', async () => {
    const { ask } = setup();
    const agent = { pid: 10, exe: '/usr/bin/node', script: T_PY, claimed: { via: 'secret-service-agent', 'requester.exe': '/usr/bin/secret-tool' } };
    const { shown } = await ask(agent, 500, 'remember');
    expect(shown!.scopes!.map((o) => o.verb)).toEqual(['program', 'until-lock']);
    expect(shown!.rememberScope!.description).toBe('connections opened by pid 10 (/usr/bin/node) that report the program /usr/bin/secret-tool, until that process exits, may read i1 for 10 minutes');
    // Another app forwarded by the same agent is not covered.
    expect((await ask({ ...agent, claimed: { via: 'secret-service-agent', 'requester.exe': '/usr/bin/curl' } }, 500)).asked).toBe(true);
  });

  it('a script path that names a FIFO or a directory gets no program scope, and the daemon does not wait on it', async () => {
    const { queue } = setup();
    const fifo = join(dir, 'fifo.py');
    execFileSync('mkfifo', [fifo]);
    for (const script of [fifo, dir]) {
      const input = read({ pid: 20, script });
      void queue.request(input, ':1.20').catch(() => undefined);
      await Promise.resolve();
      const shown = queue.list()[0]!;
      expect(shown.rememberScope).toBeNull();
      expect(shown.noProgramScope).toMatch(/could not be read by the daemon/);
      queue.decide(shown.id, 'deny', 0);
    }
  });

  it('until lock: covers until the store locks, not after', async () => {
    const { ask, queue } = setup();
    await ask({ pid: 10, exe: '/usr/bin/git' }, 500, 'until-lock');
    expect((await ask({ pid: 11, exe: '/usr/bin/git' }, 500)).asked).toBe(false);
    queue.storeLocked();
    expect((await ask({ pid: 12, exe: '/usr/bin/git' }, 500)).asked).toBe(true);
  });

  it('deny always: refused at once without a prompt, saying which rule; kept in the store', async () => {
    const { ask, rules } = setup();
    expect((await ask({ pid: 10, exe: '/usr/bin/curl' }, 500, 'deny-always')).outcome).toBe('Denied');
    expect(rules).toHaveLength(1);
    const again = setup(rules);
    const err = await again.queue.request(read({ pid: 11, exe: '/usr/bin/curl' }), ':1.11').catch((e: Error) => e);
    expect(again.queue.size).toBe(0);
    expect((err as Error).message).toMatch(new RegExp(`rule ${rules[0]!.id} \\("deny always" for any process of uid 1000 that presents itself as /usr/bin/curl`));
  });

  it('always (low tier only): survives a restart with 0 prompts; revoke removes it from the store', async () => {
    const { ask, rules } = setup();
    expect((await ask({ pid: 10, exe: '/usr/bin/git' }, 500, 'always', { tier: 'low' })).outcome).toBe('remember');
    expect(rules.map((r) => r.scope)).toEqual(['always']);
    const restarted = setup(rules);
    expect((await restarted.ask({ pid: 99, exe: '/usr/bin/git' }, 42, undefined, { tier: 'low' })).asked).toBe(false);
    restarted.queue.revoke(rules[0]!.id);
    expect(rules).toHaveLength(0);
    expect((await restarted.ask({ pid: 98, exe: '/usr/bin/git' }, 42, undefined, { tier: 'low' })).asked).toBe(true);
  });

  it('tiers bound the scopes: normal has no always and at most 8 hours, high only once', async () => {
    const { ask, advance } = setup();
    const normal = await ask({ pid: 10, exe: '/usr/bin/git' }, 500, 'program', { minutes: 1440 });
    expect(normal.shown!.scopes!.map((s) => s.verb)).not.toContain('always');
    advance(8 * 3_600_000 + 1);
    expect((await ask({ pid: 11, exe: '/usr/bin/git' }, 500)).asked).toBe(true);
    const high = await ask({ pid: 12, exe: '/usr/bin/git' }, 500, 'once', { tier: 'high' });
    expect(high.shown!.scopes).toEqual([{ verb: 'deny-always', line: expect.any(String), minutes: null }]);
    expect(high.shown!.rememberScope).toBeNull();
  });

  it('a high-tier read is asked even when a grant covers it', async () => {
    const { ask } = setup();
    await ask({ pid: 10, exe: '/usr/bin/git' }, 500, 'session');
    expect((await ask({ pid: 11, exe: '/usr/bin/git' }, 500, 'once', { tier: 'high' })).asked).toBe(true);
  });

  it('revoke everything ends every grant and the store\'s rules', async () => {
    const { ask, queue, rules } = setup();
    await ask({ pid: 10, exe: '/usr/bin/git' }, 500, 'session');
    // (In another session: session 500's grant covers curl there too.)
    await ask({ pid: 11, exe: '/usr/bin/curl' }, 501, 'deny-always');
    expect(queue.revokeAll()).toBe(2);
    expect(rules).toHaveLength(0);
    expect((await ask({ pid: 12, exe: '/usr/bin/git' }, 500)).asked).toBe(true);
  });

  it('finds a grant among 1,000 rules of other programs', async () => {
    const rules: PersistedRule[] = Array.from({ length: 1000 }, (_, i) => ({
      id: `m${i}`, scope: 'always', verdict: 'allow', persisted: true, kind: 'secret', uid: 1000, exe: `/usr/bin/p${i}`,
      holder: `p${i}`, target: 'i1', targetLabel: 'i1', createdAt: 0, anchor: `G\0exe\0/usr/bin/p${i}`,
    }));
    const { ask } = setup(rules);
    expect((await ask({ pid: 10, exe: '/usr/bin/p637' }, 500, undefined, { tier: 'low' })).asked).toBe(false);
    expect((await ask({ pid: 11, exe: '/usr/bin/q' }, 500, undefined, { tier: 'low' })).asked).toBe(true);
  });
});
