import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConnectionOpeners } from '../../daemon/identity/connections.js';
import { bootTicksNow, readParentChain, readProcess, readStartTime, readSystemdUnit } from '../../daemon/identity/proc.js';
import { requesterChange, sanitizeClaims } from '../../daemon/identity/requesters.js';
import { UserTable } from '../../daemon/users.js';
import { validAttributes, validContentType, validId, validIds } from '../../daemon/request/validate.js';

describe('process identity from /proc', () => {
  it('reads exe, cmdline, cwd, uid and a stable start time of a live process', () => {
    const me = readProcess(process.pid)!;
    expect(me.exe).toBe(process.execPath);
    expect(me.cwd).toBe(process.cwd());
    expect(me.uid).toBe(process.getuid!());
    expect(me.cmdline[0]).toMatch(/node/);
    expect(me.startTime).toBeGreaterThan(0);
    expect(readStartTime(process.pid)).toBe(me.startTime);
  });

  it('keeps a process name with spaces and parentheses intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-proc-'));
    const weird = join(dir, 'a) b (c');
    writeFileSync(weird, '#!/bin/sh\nsleep 5\n', { mode: 0o755 });
    const child = spawn(weird, [], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const info = readProcess(child.pid!)!;
      expect(info.comm).toBe('a) b (c');
      expect(info.ppid).toBe(process.pid);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('walks the parent chain, nearest first, within the depth bound', () => {
    const me = readProcess(process.pid)!;
    const chain = readParentChain(me);
    if (me.pid !== me.session) expect(chain[0]!.pid).toBe(me.ppid);
    expect(chain.length).toBeLessThanOrEqual(16);
    expect(readParentChain(me, 1).length).toBeLessThanOrEqual(1);
  });

  it('reports a vanished process as gone, which the reuse guard treats as a different process', async () => {
    const child = spawn('sleep', ['5'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 100));
    const info = readProcess(child.pid!)!;
    const requester = { busName: ':1.1', uid: info.uid!, userName: null, process: info, chain: [], systemdUnit: null, claimed: {} };
    expect(requesterChange(requester)).toBeNull();
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    expect(readStartTime(child.pid!)).toBeNull();
    expect(requesterChange(requester)).toMatch(/exited before the decision/);
    expect(requesterChange({ ...requester, process: { ...info, pid: process.pid } })).toMatch(/exited before the decision/);
  });

  it('never takes a process that started after the connection appeared for its opener (a reused PID)', async () => {
    const openers = new ConnectionOpeners();
    const uid = process.getuid!();
    let answer!: (creds: { uid: number; pid: number }) => void;
    openers.arrived(':1.reused', new Promise((resolve) => { answer = resolve; }));
    // The opener exits and its PID goes to a newer process before the daemon reads /proc: any
    // process started after the announcement stands for it.
    const announced = bootTicksNow()!;
    // Two ticks on: /proc/uptime is rounded up here, start times are rounded down.
    while (bootTicksNow()! <= announced + 2) await new Promise((r) => setImmediate(r));
    const newer = spawn('sleep', ['5'], { stdio: 'ignore' });
    try {
      await new Promise((r) => newer.once('spawn', r));
      answer({ uid, pid: newer.pid! });
      expect(await openers.atConnection(':1.reused')).toBeNull();
      // A process that was running before the announcement is taken, with its start time.
      openers.arrived(':1.mine', Promise.resolve({ uid, pid: process.pid }));
      expect(await openers.atConnection(':1.mine')).toEqual({ pid: process.pid, startTime: readStartTime(process.pid), exe: process.execPath });
      openers.gone(':1.mine');
      expect(openers.atConnection(':1.mine')).toBeUndefined();
      // A connection never seen appearing predates the watch: so must its opener.
      expect(openers.couldPredateWatch(readStartTime(process.pid)!)).toBe(true);
      expect(openers.couldPredateWatch(readStartTime(newer.pid!)!)).toBe(false);
    } finally {
      newer.kill('SIGKILL');
    }
  });

  it('finds a systemd unit name in the cgroup path when there is one', () => {
    const unit = readSystemdUnit(process.pid);
    expect(unit === null || /\.(service|scope|socket)$/.test(unit)).toBe(true);
  });
});

describe('user table', () => {
  it('maps names and UIDs from a passwd file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-passwd-'));
    try {
      const path = join(dir, 'passwd');
      writeFileSync(path, 'root:x:0:0:root:/root:/bin/bash\nnb:x:1000:1000:N B:/home/nb:/bin/bash\nbroken line\n');
      const users = new UserTable(path);
      expect(users.byUserName('nb')).toMatchObject({ uid: 1000, gid: 1000, home: '/home/nb' });
      expect(users.nameOf(0)).toBe('root');
      expect(users.nameOf(4242)).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('claimed context and argument checks', () => {
  it('keeps claims as strings and refuses oversized or odd ones', () => {
    expect(sanitizeClaims({ repository: '/src/x', pid: 5, ok: true })).toEqual({ repository: '/src/x', pid: '5', ok: 'true' });
    expect(() => sanitizeClaims({ 'bad key': 'x' })).toThrow(expect.objectContaining({ code: 'InvalidArgs' }));
    expect(() => sanitizeClaims({ list: ['a'] })).toThrow(expect.objectContaining({ code: 'InvalidArgs' }));
    expect(() => sanitizeClaims({ big: 'x'.repeat(17 * 1024) })).toThrow(expect.objectContaining({ code: 'TooLarge' }));
    expect(() => sanitizeClaims(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])))).toThrow(expect.objectContaining({ code: 'TooLarge' }));
  });

  it('refuses ids with control characters or path syntax, huge id lists and attribute floods', () => {
    expect(validId('abc_DEF-1', 'id')).toBe('abc_DEF-1');
    for (const bad of ['', 'a/b', 'a\nb', 'a\x1b[2J', '../x', 'a b']) expect(() => validId(bad, 'id')).toThrow(expect.objectContaining({ code: 'InvalidArgs' }));
    expect(() => validId('a'.repeat(300), 'id')).toThrow(expect.objectContaining({ code: 'TooLarge' }));
    expect(() => validIds(Array.from({ length: 2000 }, (_, i) => `i${i}`), 'ids')).toThrow(expect.objectContaining({ code: 'TooLarge' }));
    const flood = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, 'v']));
    expect(() => validAttributes(flood)).toThrow(expect.objectContaining({ code: 'TooLarge' }));
    expect(() => validAttributes({ 'a\nb': 'x' })).toThrow(expect.objectContaining({ code: 'InvalidArgs' }));
    expect(validAttributes({ service: 'git\x1bhub' })).toEqual({ service: 'git\x1bhub' });
    expect(validContentType('')).toBe('text/plain');
    expect(() => validContentType('text/plain\n')).toThrow(expect.objectContaining({ code: 'InvalidArgs' }));
  });
});
