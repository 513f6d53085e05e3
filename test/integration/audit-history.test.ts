// Audit and history (issue #12, item 6) against the real daemon and the real `history` command:
// each row names the grant that allowed it and `history --rule ID` shows that grant's rows;
// retention prunes rows older than audit.retentionDays when the daemon starts and the hash chain
// still verifies, while an edit to a kept row is still found.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_DB_FILE, chainHash, CHAIN_GENESIS } from '../../core/audit.js';
import { createLogger } from '../../core/logger.js';
import type { HistoryEntry, RequesterInfo } from '../../core/wire.js';
import { AuditLog } from '../../daemon/audit/audit-log.js';
import type { BusClient } from '../helpers/bus-client.js';
import { CLI, startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';

const DAY = 86_400_000;

function history(stateDir: string, args: string[]) {
  return spawnSync(process.execPath, ['--', CLI, 'history', '--state-dir', stateDir, ...args], { encoding: 'utf8', timeout: 20_000 });
}
const historyJson = (stateDir: string, args: string[] = []) => JSON.parse(history(stateDir, ['--json', ...args]).stdout) as HistoryEntry[];

describe('history --rule', () => {
  let h: DaemonHarness;
  let desktop: BusClient;
  const read = (ids: string[]) => desktop.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [ids, {}], timeoutMs: 20_000 });

  beforeAll(async () => {
    h = await startDaemonHarness();
    desktop = await h.client();
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('shows the rows of one grant: the decision that made it, every read it answered, its revocation', async () => {
    const create = async (label: string) => (await desktop.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', label, { label }, Buffer.from('s'), 'text/plain', false, {}] }))[0] as string;
    const token = await create('token');
    const other = await create('other');

    const first = read([token]);
    await h.console.decide((await h.console.waitForPending()).id, 'remember', 10);
    await first;
    const [grant] = await h.console.listRemembered();
    await read([token]);
    await read([token]);
    // Another item approved once: not the grant's.
    const once = read([other]);
    await h.console.decide((await h.console.waitForPending()).id, 'once');
    await once;
    await h.console.revoke(grant!.id);

    const rows = historyJson(h.stateDir, ['--rule', grant!.id]);
    expect(rows.map((r) => `${r.outcome}:${r.detail ?? ''}`)).toEqual(['done:revoked', 'remembered:', 'remembered:', 'approved:']);
    for (const r of rows) expect(r.rule).toBe(grant!.id);
    expect(rows.every((r) => r.target.includes('token') || r.detail === 'revoked')).toBe(true);
    // The once-approved read names no grant; the text output names the rule.
    expect(historyJson(h.stateDir).find((r) => r.outcome === 'approved' && r.target.includes('other'))?.rule).toBeNull();
    expect(history(h.stateDir, ['--rule', grant!.id]).stdout).toContain(`rule ${grant!.id}`);

    expect(history(h.stateDir, ['--rule', 'mnosuchgrant']).stdout).toBe('No rows name rule mnosuchgrant.\n');
    const bad = history(h.stateDir, ['--rule', "m1' OR 1=1 --"]);
    expect(bad.status).toBe(64);
    expect(bad.stderr).toMatch(/--rule takes a grant or rule id/);
  });
});

describe('audit retention', () => {
  const requester: RequesterInfo = {
    busName: ':1.9', uid: process.getuid!(), userName: null, chain: [], systemdUnit: null, claimed: {},
    process: { pid: 4242, startTime: 1, uid: process.getuid!(), comm: 'python3', exe: '/usr/bin/python3', cmdline: [], cwd: null },
  };
  let stateDir: string;
  let h: DaemonHarness;

  beforeAll(async () => {
    // A log whose first rows were written 400 and 380 days ago (the injected time), then the daemon
    // starts on it with the default retention of 365 days.
    stateDir = mkdtempSync(join(tmpdir(), 'sd-retained-'));
    chmodSync(stateDir, 0o700);
    const old = new AuditLog(join(stateDir, AUDIT_DB_FILE), createLogger({ write: () => undefined }));
    for (const [id, ageDays] of [['old1', 400], ['old2', 380]] as const) {
      const at = Date.now() - ageDays * DAY;
      old.record({ requestId: id, kind: 'secret', requester, target: `'${id}'`, outcome: 'approved', scope: 'once', reason: 'long ago', createdAt: at, decidedAt: at });
    }
    const recent = Date.now() - 10 * DAY;
    old.record({ requestId: 'recent', kind: 'secret', requester, target: "'recent'", outcome: 'approved', scope: 'once', createdAt: recent, decidedAt: recent });
    old.close();
    expect(history(stateDir, ['--verify']).stdout).toContain('intact: 3 chained rows');
    h = await startDaemonHarness({ config: { stateDir } });
  });
  afterAll(async () => {
    await h?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('prunes rows older than retentionDays at start; history --verify still passes and says what was pruned', () => {
    const rows = historyJson(stateDir, ['--limit', '100']);
    const ids = rows.map((r) => r.id);
    expect(ids).not.toContain('old1');
    expect(ids).not.toContain('old2');
    expect(ids).toContain('recent');
    expect(rows.find((r) => r.target === 'audit log')?.detail).toMatch(/^retention: pruned 2 rows older than 365 days/);

    const verify = history(stateDir, ['--verify']);
    expect(verify.stderr).toBe('');
    expect(verify.status).toBe(0);
    expect(verify.stdout).toMatch(/The audit log is intact: \d+ chained rows \(2 older rows were pruned by retention; checked from the anchor at row 2\)/);
  });

  it('still finds an edited row among those kept, and passes again once it is put back', () => {
    const db = new Database(join(stateDir, AUDIT_DB_FILE));
    try {
      const { seq, outcome } = db.prepare("SELECT seq, outcome FROM audit WHERE request_id = 'recent'").get() as { seq: number; outcome: string };
      db.prepare("UPDATE audit SET outcome = 'denied' WHERE request_id = 'recent'").run();
      const tampered = history(stateDir, ['--verify']);
      expect(tampered.status).toBe(1);
      expect(tampered.stderr).toContain(`row ${seq} does not match the hash chain`);
      db.prepare('UPDATE audit SET outcome = ? WHERE request_id = ?').run(outcome, 'recent');
      expect(history(stateDir, ['--verify']).status).toBe(0);
      // Deleting the first kept row is found too: the next row no longer follows the anchor.
      const saved = db.prepare("SELECT * FROM audit WHERE request_id = 'recent'").get() as Record<string, unknown>;
      db.prepare("DELETE FROM audit WHERE request_id = 'recent'").run();
      expect(history(stateDir, ['--verify']).status).toBe(1);
      const columns = Object.keys(saved);
      db.prepare(`INSERT INTO audit (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`).run(saved);
      expect(history(stateDir, ['--verify']).status).toBe(0);
    } finally {
      db.close();
    }
  });

  it('rejects a bad retentionDays in the one config schema, naming key and value', async () => {
    const { parseConfig } = await import('../../core/config.js');
    expect(() => parseConfig({ desktopUser: 'a', companionUser: 'b', stateDir: '/x', audit: { retentionDays: -1 } }))
      .toThrow(/key "audit.retentionDays" has bad value -1/);
    expect(parseConfig({ desktopUser: 'a', companionUser: 'b', stateDir: '/x' }).audit.retentionDays).toBe(365);
  });
});

describe('history on a log an older daemon wrote', () => {
  it('reads and verifies a file without the reason and rule columns or an anchor', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-oldlog-'));
    try {
      const db = new Database(join(dir, AUDIT_DB_FILE));
      db.exec(`CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, kind TEXT NOT NULL, requester_uid INTEGER,
        requester_pid INTEGER, requester_exe TEXT, target TEXT NOT NULL, outcome TEXT NOT NULL, scope TEXT, detail TEXT, created_at INTEGER NOT NULL,
        decided_at INTEGER, chain BLOB)`);
      let previous = CHAIN_GENESIS;
      for (const id of ['a', 'b']) {
        const row = { request_id: id, kind: 'secret', requester_uid: 1000, requester_pid: 1, requester_exe: '/usr/bin/x', target: `'${id}'`, outcome: 'approved', scope: 'once', detail: null, created_at: 1, decided_at: 2 };
        previous = chainHash(previous, row);
        db.prepare(`INSERT INTO audit (request_id, kind, requester_uid, requester_pid, requester_exe, target, outcome, scope, detail, created_at, decided_at, chain)
          VALUES (@request_id, @kind, @requester_uid, @requester_pid, @requester_exe, @target, @outcome, @scope, @detail, @created_at, @decided_at, @chain)`).run({ ...row, chain: previous });
      }
      db.close();
      chmodSync(join(dir, AUDIT_DB_FILE), 0o600);
      expect(history(dir, ['--verify']).stdout).toBe('The audit log is intact: 2 chained rows.\n');
      expect(historyJson(dir).map((r) => [r.id, r.reason, r.rule])).toEqual([['b', null, null], ['a', null, null]]);
      expect(history(dir, ['--rule', 'm1']).stdout).toBe('No rows name rule m1.\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
