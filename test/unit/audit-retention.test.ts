// Retention prunes the oldest audit rows on the injected clock, and the hash chain stays
// verifiable from the anchor it leaves; reason and rule are part of each row's hash.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUDIT_SELECT_ANCHOR, AUDIT_SELECT_CHAIN_ORDER, verifyChain, type AuditAnchor, type AuditDbRow } from '../../core/audit.js';
import { createLogger } from '../../core/logger.js';
import type { RequesterInfo } from '../../core/wire.js';
import { AuditLog } from '../../daemon/audit/audit-log.js';
import { AuditRetention } from '../../daemon/audit/retention.js';

const DAY = 86_400_000;
const quiet = createLogger({ write: () => undefined });
const requester: RequesterInfo = {
  busName: ':1.9', uid: 1000, userName: 'nb', chain: [], systemdUnit: null, claimed: {},
  process: { pid: 4242, startTime: 1, uid: 1000, comm: 'python3', exe: '/usr/bin/python3', cmdline: [], cwd: null },
};

let dir: string;
let path: string;
const t = { wall: 1_700_000_000_000, boot: 10_000 };
const clock = { wall: () => t.wall, boot: () => t.boot };
const advance = (ms: number) => { t.wall += ms; t.boot += ms; };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sd-retention-'));
  path = join(dir, 'audit.db');
  t.wall = 1_700_000_000_000;
  t.boot = 10_000;
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function verify(): ReturnType<typeof verifyChain> {
  const db = new Database(path, { readonly: true });
  try {
    const anchor = (db.prepare(AUDIT_SELECT_ANCHOR).get() as AuditAnchor | undefined) ?? null;
    return verifyChain(db.prepare(AUDIT_SELECT_CHAIN_ORDER).all() as (AuditDbRow & { seq: number })[], anchor);
  } finally {
    db.close();
  }
}

function read(log: AuditLog, id: string, extra: { reason?: string; rule?: string } = {}): void {
  log.record({ requestId: id, kind: 'secret', requester, target: `'item ${id}'`, outcome: 'approved', scope: 'once', createdAt: clock.wall(), decidedAt: clock.wall(), ...extra });
}

describe('audit retention', () => {
  it('prunes rows older than retentionDays at start and a day later, and the chain still verifies', () => {
    const log = new AuditLog(path, quiet);
    for (let day = 0; day < 10; day++) {
      read(log, `d${day}`);
      advance(DAY);
    }
    // Now is day 10: with 5 days kept, d0..d4 are older than the cutoff.
    const retention = new AuditRetention(log, clock, 5, quiet);
    expect(retention.runIfDue()).toBe(5);
    const ids = log.history(100).map((r) => r.id);
    expect(ids.filter((id) => id.startsWith('d'))).toEqual(['d9', 'd8', 'd7', 'd6', 'd5']);
    const prunedRow = log.history(1)[0]!;
    expect(prunedRow).toMatchObject({ kind: 'store', outcome: 'done' });
    expect(prunedRow.detail).toContain('pruned 5 rows older than 5 days');
    expect(verify()).toEqual({ checked: 6, brokenAt: null });

    // Within the day nothing runs again; a day later (boot clock) the next old rows go.
    advance(DAY - 1);
    expect(retention.runIfDue()).toBe(0);
    advance(1);
    expect(retention.runIfDue()).toBe(1);
    expect(log.history(100).map((r) => r.id).filter((id) => id.startsWith('d'))).toEqual(['d9', 'd8', 'd7', 'd6']);
    expect(verify().brokenAt).toBeNull();
    log.close();
  });

  it('still finds an edited kept row, a deleted first kept row, and a removed anchor', () => {
    const log = new AuditLog(path, quiet);
    for (let i = 0; i < 6; i++) {
      read(log, `r${i}`);
      advance(DAY);
    }
    log.prune(clock.wall() - 3 * DAY, clock.wall(), 3);
    log.close();
    expect(verify().brokenAt).toBeNull();

    const db = new Database(path);
    const seqOf = (id: string) => (db.prepare('SELECT seq FROM audit WHERE request_id = ?').get(id) as { seq: number }).seq;
    db.prepare("UPDATE audit SET outcome = 'denied' WHERE request_id = 'r4'").run();
    expect(verify().brokenAt).toBe(seqOf('r4'));
    db.prepare("UPDATE audit SET outcome = 'approved' WHERE request_id = 'r4'").run();
    expect(verify().brokenAt).toBeNull();

    const anchor = db.prepare(AUDIT_SELECT_ANCHOR).get() as AuditAnchor;
    db.prepare('DELETE FROM audit_anchor').run();
    const first = (db.prepare('SELECT MIN(seq) AS s FROM audit').get() as { s: number }).s;
    expect(verify().brokenAt).toBe(first);
    db.prepare('INSERT INTO audit_anchor (id, through_seq, chain, pruned, pruned_at) VALUES (1, ?, ?, ?, ?)').run(anchor.through_seq, anchor.chain, anchor.pruned, anchor.pruned_at);
    expect(verify().brokenAt).toBeNull();

    db.prepare('DELETE FROM audit WHERE seq = ?').run(first);
    expect(verify().brokenAt).toBe(seqOf('r4'));
    db.close();
  });

  it('keeps a row written out of time order, and everything after it, rather than leaving a gap', () => {
    const log = new AuditLog(path, quiet);
    read(log, 'old');
    advance(10 * DAY);
    read(log, 'young');
    // A row that carries an old time but came after a young one (e.g. a long-pending request).
    log.record({ requestId: 'late', kind: 'secret', requester, target: "'late'", outcome: 'expired', createdAt: clock.wall() - 9 * DAY, decidedAt: clock.wall() - 9 * DAY });
    expect(log.prune(clock.wall() - 5 * DAY, clock.wall(), 5)).toBe(1);
    expect(log.history(10).map((r) => r.id).slice(1)).toEqual(['late', 'young']);
    log.close();
    expect(verify().brokenAt).toBeNull();
  });

  it('does nothing with 0 days, and nothing when every row is young', () => {
    const log = new AuditLog(path, quiet);
    read(log, 'r0');
    advance(400 * DAY);
    expect(new AuditRetention(log, clock, 0, quiet).runIfDue()).toBe(0);
    read(log, 'r1');
    expect(log.prune(clock.wall() - 500 * DAY, clock.wall(), 500)).toBe(0);
    expect(log.history(10).map((r) => r.id)).toEqual(['r1', 'r0']);
    log.close();
  });

  it('hashes reason and rule, so changing either breaks the chain; rows filter by rule', () => {
    const log = new AuditLog(path, quiet);
    read(log, 'a', { reason: 'run the tests\x1b[2J', rule: 'm1,m2' });
    read(log, 'b', { rule: 'm2' });
    read(log, 'c', { rule: 'm3' });
    read(log, 'd');
    expect(log.historyOfRule('m2', 10).map((r) => r.id)).toEqual(['b', 'a']);
    expect(log.historyOfRule('m', 10)).toEqual([]);
    expect(log.history(10).find((r) => r.id === 'a')).toMatchObject({ reason: 'run the tests\x1b[2J', rule: 'm1,m2' });
    log.close();
    expect(verify()).toEqual({ checked: 4, brokenAt: null });
    const db = new Database(path);
    db.prepare("UPDATE audit SET reason = 'innocent' WHERE request_id = 'a'").run();
    expect(verify().brokenAt).not.toBeNull();
    db.prepare("UPDATE audit SET reason = 'run the tests\x1b[2J', rule = 'm9' WHERE request_id = 'a'").run();
    expect(verify().brokenAt).not.toBeNull();
    db.prepare("UPDATE audit SET rule = 'm1,m2' WHERE request_id = 'a'").run();
    db.prepare("UPDATE audit SET rule = 'm1' WHERE request_id = 'd'").run();
    expect(verify().brokenAt).not.toBeNull();
    db.close();
  });
});
