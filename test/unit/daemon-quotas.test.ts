import { describe, expect, it } from 'vitest';
import type { RequesterInfo } from '../../core/wire.js';
import { UnattendedRowQuota } from '../../daemon/audit/unattended-quota.js';
import { DesktopLockLimit } from '../../daemon/lock-limit.js';
import type { AuditSink } from '../../daemon/services.js';

type AuditRecord = Parameters<AuditSink['record']>[0];

function clockAt() {
  const t = { wall: 1_700_000_000_000, boot: 10_000 };
  return { clock: { wall: () => t.wall, boot: () => t.boot }, advance: (ms: number) => { t.wall += ms; t.boot += ms; } };
}

const who = (uid: number): RequesterInfo => ({ busName: ':1.9', uid, userName: null, process: null, chain: [], systemdUnit: null, claimed: {} });
const row = (uid: number, outcome: string, n = 0): AuditRecord => ({ requestId: `r${n}`, kind: 'secret', requester: who(uid), target: 't', outcome, createdAt: 0, decidedAt: 0 });

describe('audit rows for requests nobody decided', () => {
  it('past the quota they are counted, and one row says how many were not recorded', () => {
    const { clock, advance } = clockAt();
    const rows: AuditRecord[] = [];
    const quota = new UnattendedRowQuota({ record: (r) => rows.push(r) }, clock, 5);
    for (let i = 0; i < 1000; i++) quota.record(row(1000, 'refused', i));
    // Decided rows, other UIDs and store rows always go through.
    quota.record(row(1000, 'approved'));
    quota.record(row(1001, 'refused'));
    quota.record({ ...row(1000, 'done'), requester: null, kind: 'store' });
    expect(rows).toHaveLength(8);
    advance(60_000);
    quota.record(row(1000, 'refused', 2000));
    const summary = rows.find((r) => r.detail === 'QuotaExceeded');
    expect(summary).toMatchObject({ outcome: 'refused', requester: { uid: 1000 }, target: expect.stringMatching(/^995 requests from uid 1000 not recorded/) });
    expect(rows.at(-1)!.requestId).toBe('r2000');
    quota.close();
  });

  it('the summary row is written on close when no later row rolls the window', () => {
    const { clock } = clockAt();
    const rows: AuditRecord[] = [];
    const quota = new UnattendedRowQuota({ record: (r) => rows.push(r) }, clock, 1);
    quota.record(row(1000, 'cancelled'));
    quota.record(row(1000, 'pending'));
    quota.record(row(1000, 'expired'));
    expect(rows).toHaveLength(1);
    quota.close();
    expect(rows.at(-1)!.target).toMatch(/^2 requests from uid 1000 not recorded/);
  });
});

describe('locks from the desktop', () => {
  it('are honoured once per interval on the boot clock', () => {
    const { clock, advance } = clockAt();
    const limit = new DesktopLockLimit(clock, 300_000);
    limit.check();
    advance(10_000);
    expect(() => limit.check()).toThrow(expect.objectContaining({ code: 'RateLimited', message: expect.stringMatching(/try again in 290 s/) }));
    advance(290_000);
    expect(() => limit.check()).not.toThrow();
  });
});
