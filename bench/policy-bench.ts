// Policy benchmark: how long the approval gate takes to decide a read that a rule covers, inside
// the daemon's own code (the real ApprovalQueue, real /proc reads of this process, the real script
// hash), with 1,000 rules of other programs in the lookup against none — the peer in the same run —
// and the lookup alone. A lookup, not a scan, keeps the ratios near 1.
//   npm run build && node dist/bench/policy-bench.js [--rules 1000] [--calls 20000]
import { loadavg } from 'node:os';
import { ConsoleRegistry } from '../daemon/approvals/consoles.js';
import { ApprovalQueue } from '../daemon/approvals/gate.js';
import { subjectsOf } from '../daemon/approvals/grant-scope.js';
import type { PersistedRule } from '../daemon/approvals/remembered.js';
import { createLogger } from '../core/logger.js';
import { readProcessIdentity } from '../daemon/identity/proc.js';
import type { RequesterInfo } from '../core/wire.js';
import type { ApprovalInput } from '../daemon/services.js';
import { percentile } from './measure.js';

const argv = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const RULES = flag('rules', 1000);
const CALLS = flag('calls', 20_000);

function me(): RequesterInfo {
  // As the daemon's resolver reads it (identity/requesters.ts): the session id comes with the start time.
  const { ppid: _ppid, ...proc } = readProcessIdentity(process.pid)!;
  return { busName: ':1.bench', uid: process.getuid!(), userName: null, process: proc, chain: [], systemdUnit: null, claimed: {} };
}

const read = (): ApprovalInput => ({
  kind: 'secret', requester: me(), summary: 'bench read', tier: 'low',
  items: [{ itemId: 'item-1', collectionId: 'login', collectionLabel: 'Login', label: 'token', attributes: {} }],
  remember: { kind: 'secret', targets: ['item-1'], targetLabel: "'token'", action: "read 'token'" },
});

function queueWith(others: number): ApprovalQueue {
  const own = subjectsOf(me()).programAnySession;
  if (!own) throw new Error('this process has no program subject (run it as node SCRIPT)');
  const rules: PersistedRule[] = Array.from({ length: others }, (_, i) => ({
    id: `m${i}`, scope: 'always', verdict: i % 10 === 0 ? 'deny' : 'allow', persisted: true, kind: 'secret', uid: process.getuid!(), exe: `/usr/bin/p${i}`,
    holder: `p${i}`, target: i % 2 ? 'item-1' : `item-${i}`, targetLabel: 't', createdAt: 0, anchor: `G\0exe\0/usr/bin/p${i}`,
  }));
  rules.push({ id: 'mine', scope: 'always', verdict: 'allow', persisted: true, kind: 'secret', uid: process.getuid!(), exe: process.execPath, holder: own.words, target: 'item-1', targetLabel: 't', createdAt: 0, anchor: own.anchor });
  const consoles = new ConsoleRegistry(() => undefined);
  consoles.register(':1.console');
  return new ApprovalQueue({
    config: { requestTimeoutSeconds: 300, rememberMinutes: 10, maxPendingPerRequester: 50, budgets: { pendingPerUid: 500, pendingTotal: 1000, pendingMiBPerUid: 96, pendingMiBTotal: 128 } },
    consoles, audit: { record: () => undefined }, logger: createLogger({ write: () => undefined }),
    clock: { wall: Date.now, boot: () => performance.now() }, storeLocked: () => false, requesterChange: () => null,
    rules: { list: () => rules, save: () => undefined, remove: () => undefined },
  });
}

/** Alternates the two queues call by call, so both see the same machine. */
async function measure(): Promise<{ none: number[]; many: number[] }> {
  const none = queueWith(0);
  const many = queueWith(RULES);
  const none_: number[] = [];
  const many_: number[] = [];
  const one = async (q: ApprovalQueue, out: number[] | null) => {
    const input = read();
    const t = process.hrtime.bigint();
    const outcome = await q.request(input, ':1.bench');
    if (out) out.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (outcome.decision !== 'remembered') throw new Error('the rule did not cover the read');
  };
  for (let i = 0; i < 500; i++) {
    await one(none, null);
    await one(many, null);
  }
  for (let i = 0; i < CALLS; i++) {
    await one(none, none_);
    await one(many, many_);
  }
  none.close();
  many.close();
  return { none: none_, many: many_ };
}

/** The lookup alone, as the gate makes it once the subjects are read: 1,000 rules against none. */
function lookups(): { none: number[]; many: number[] } {
  const subjects = subjectsOf(me());
  const anchors = [subjects.process, subjects.session, subjects.program, subjects.programAnySession].flatMap((x) => (x ? [x.anchor] : []));
  const tables = [0, RULES].map((n) => {
    const q = queueWith(n);
    void q.listRemembered();
    return q;
  });
  const out = { none: [] as number[], many: [] as number[] };
  for (let i = 0; i < CALLS + 500; i++) {
    for (const [q, list] of [[tables[0]!, out.none], [tables[1]!, out.many]] as const) {
      const t = process.hrtime.bigint();
      const hit = q.remembered.refuses('secret', process.getuid!(), ['item-1'], anchors) ?? q.remembered.covers('secret', process.getuid!(), ['item-1'], anchors);
      if (i >= 500) list.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (!hit) throw new Error('the rule did not cover the read');
    }
  }
  for (const q of tables) q.close();
  return out;
}

const { none, many } = await measure();
const lookup = lookups();
const p50 = (xs: number[]) => percentile(xs, 50);
const p99 = (xs: number[]) => percentile(xs, 99);
console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`decision for a read a rule covers (${CALLS} calls each, alternating):`);
console.log(`  with ${RULES} other rules: p50 ${p50(many).toFixed(4)} ms, p99 ${p99(many).toFixed(4)} ms`);
console.log(`  with no other rules:   p50 ${p50(none).toFixed(4)} ms, p99 ${p99(none).toFixed(4)} ms`);
console.log(`  ratio (${RULES} rules / none): p50 ${(p50(many) / p50(none)).toFixed(2)}x`);
console.log('the lookup alone (deny always, then grants, for the subjects the request presents):');
console.log(`  with ${RULES} other rules: p50 ${p50(lookup.many).toFixed(4)} ms; with none: p50 ${p50(lookup.none).toFixed(4)} ms → ${(p50(lookup.many) / p50(lookup.none)).toFixed(2)}x`);
