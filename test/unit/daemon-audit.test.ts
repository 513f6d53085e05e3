import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUDIT_SELECT_CHAIN_ORDER, verifyChain, type AuditDbRow } from '../../core/audit.js';
import { createLogger } from '../../core/logger.js';
import { AuditLog } from '../../daemon/audit/audit-log.js';
import type { RequesterInfo } from '../../core/wire.js';

const requester: RequesterInfo = {
  busName: ':1.9', uid: 1000, userName: 'nb', chain: [], systemdUnit: null, claimed: {},
  process: { pid: 4242, startTime: 1, uid: 1000, comm: 'python3', exe: '/usr/bin/python3', cmdline: [], cwd: null },
};

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sd-audit-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function chainOf(path: string) {
  const db = new Database(path, { readonly: true });
  try {
    return verifyChain(db.prepare(AUDIT_SELECT_CHAIN_ORDER).all() as (AuditDbRow & { seq: number })[]);
  } finally {
    db.close();
  }
}

function fill(log: AuditLog, n: number, from = 0) {
  for (let i = from; i < from + n; i++) {
    log.record({ requestId: `r${i}`, kind: 'secret', requester, target: `'item ${i}'`, outcome: i % 2 ? 'approved' : 'pending', createdAt: 1000 + i, decidedAt: i % 2 ? 2000 + i : null });
  }
}

describe('audit log', () => {
  it('is a 0600 file whose rows come back newest first with who, what and outcome', () => {
    const path = join(dir, 'audit.db');
    const log = new AuditLog(path, createLogger({ write: () => undefined }));
    fill(log, 3);
    const rows = log.history(10);
    log.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(rows.map((r) => r.id)).toEqual(['r2', 'r1', 'r0']);
    expect(rows[1]).toMatchObject({ kind: 'secret', requesterUid: 1000, requesterPid: 4242, requesterExe: '/usr/bin/python3', target: "'item 1'", outcome: 'approved', decidedAt: 2001 });
  });

  it('chains every row so that an edited or deleted row is found, across restarts', () => {
    const path = join(dir, 'audit.db');
    let log = new AuditLog(path, createLogger({ write: () => undefined }));
    fill(log, 5);
    log.close();
    log = new AuditLog(path, createLogger({ write: () => undefined }));
    fill(log, 5, 5);
    log.close();
    expect(chainOf(path)).toEqual({ checked: 10, brokenAt: null });

    const db = new Database(path);
    db.prepare("UPDATE audit SET outcome = 'denied' WHERE request_id = 'r6'").run();
    const seqOfR6 = (db.prepare("SELECT seq FROM audit WHERE request_id = 'r6'").get() as { seq: number }).seq;
    db.close();
    expect(chainOf(path).brokenAt).toBe(seqOfR6);

    const db2 = new Database(path);
    db2.prepare("UPDATE audit SET outcome = 'pending' WHERE request_id = 'r6'").run();
    expect(chainOf(path).brokenAt).toBeNull();
    db2.prepare("DELETE FROM audit WHERE request_id = 'r3'").run();
    const seqOfR4 = (db2.prepare("SELECT seq FROM audit WHERE request_id = 'r4'").get() as { seq: number }).seq;
    db2.close();
    expect(chainOf(path).brokenAt).toBe(seqOfR4);
  });
});
