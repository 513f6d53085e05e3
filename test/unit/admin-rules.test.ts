// Root's admin rules (policy.d): what a bad file says, which files are trusted at all, what the
// rules match (verified facts only) and what the gate does with a verdict.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadAdminRules, parseAdminRules, parseAdminRulesText, type AdminRule, type LoadedAdminRule } from '../../core/admin-rules.js';
import { SdError } from '../../core/errors.js';
import { createLogger } from '../../core/logger.js';
import type { RequesterInfo } from '../../core/wire.js';
import { AdminPolicy, globMatcher } from '../../daemon/approvals/admin-policy.js';
import { ConsoleRegistry } from '../../daemon/approvals/consoles.js';
import { ApprovalQueue } from '../../daemon/approvals/gate.js';
import { unitsInCgroup } from '../../daemon/identity/proc.js';
import type { ApprovalInput, AuditSink } from '../../daemon/services.js';

const me = process.getuid!();
const isRoot = me === 0;
const FP = '0123456789ABCDEF0123456789ABCDEF01234567';

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SdError);
    expect((err as SdError).code).toBe('Config');
    return (err as Error).message;
  }
  throw new Error('expected a Config error');
}

const rule = (over: Partial<AdminRule> & Pick<AdminRule, 'effect'>): LoadedAdminRule => ({ id: 'r1', match: {}, file: '/etc/secrets-dispatcher/policy.d/10-test.json', ...over });

function requester(over: Partial<RequesterInfo> = {}, exe: string | null = '/usr/bin/python3'): RequesterInfo {
  return {
    busName: ':1.5', uid: 1000, userName: 'nb',
    process: exe === null ? null : { pid: 4242, startTime: 123, uid: 1000, comm: 'python3', exe, cmdline: [exe], cwd: '/home/nb' },
    chain: [], systemdUnit: null, claimed: {}, ...over,
  };
}

function read(over: Partial<ApprovalInput> = {}): ApprovalInput {
  return {
    kind: 'secret', requester: requester(), summary: 'read GitHub token',
    items: [{ itemId: 'i1', collectionId: 'login', collectionLabel: 'Login', label: 'GitHub token', attributes: { service: 'github', env: 'prod' } }],
    remember: { kind: 'secret', targets: ['i1'], targetLabel: "'GitHub token'", action: "read 'GitHub token'" },
    ...over,
  };
}

function sign(fingerprint: string): ApprovalInput {
  return {
    kind: 'sign', requester: requester({}, '/usr/bin/git'), summary: 'sign a commit',
    sign: { payloadKind: 'commit', headers: [], message: 'm', payloadBytes: 10, key: { fingerprint, keyId: fingerprint.slice(-16), userIds: [], algorithm: 'ed25519' }, reported: {}, contradictions: [] },
    remember: { kind: 'sign', targets: ['commit'], targetLabel: 'commits', action: 'sign commits' },
  };
}

const policy = (rules: LoadedAdminRule[], units: string[] = []) => new AdminPolicy(rules, { unitsOf: () => units });

describe('a policy file that is wrong says file, key and value', () => {
  const src = '/etc/secrets-dispatcher/policy.d/10-ci.json';

  it('a typo in a matcher name', () => {
    const msg = configError(() => parseAdminRules({ rules: [{ id: 'ci-high', effect: 'deny', match: { knid: 'secret' } }] }, src));
    expect(msg).toContain(src);
    expect(msg).toContain('unknown key "rules.0.match.knid"');
    expect(msg).toContain('(rule "ci-high")');
    expect(msg).toContain('"secret"');
    expect(msg).toMatch(/allowed: kind, tier, unit, exe, keyFingerprint, itemLabel, attributes/);
  });

  it('a bad value, in a single value or in a list', () => {
    const one = configError(() => parseAdminRules({ rules: [{ id: 'a', effect: 'deny', match: { kind: 'secrte' } }] }, src));
    expect(one).toContain('key "rules.0.match.kind"');
    expect(one).toContain('bad value "secrte"');
    expect(one).toMatch(/secret.*sign/);
    const inList = configError(() => parseAdminRules({ rules: [{ id: 'a', effect: 'deny', match: {} }, { id: 'b', effect: 'deny', match: { tier: ['high', 'hgh'] } }] }, src));
    expect(inList).toContain('key "rules.1.match.tier.1"');
    expect(inList).toContain('(rule "b")');
    expect(inList).toContain('"hgh"');
  });

  it('a wrong type, a bad effect, a missing key, a bad fingerprint, a relative exe', () => {
    expect(configError(() => parseAdminRules({ rules: { id: 'x' } }, src))).toMatch(/key "rules" has bad value \{"id":"x"\}: .*array/);
    expect(configError(() => parseAdminRules({ rules: [{ id: 'x', effect: 'allow', match: {} }] }, src))).toMatch(/key "rules.0.effect" .*bad value "allow"/);
    expect(configError(() => parseAdminRules({ rules: [{ id: 'x', effect: 'deny' }] }, src))).toMatch(/key "rules.0.match" .*bad value missing/);
    expect(configError(() => parseAdminRules({ rules: [{ id: 'x', effect: 'deny', match: { keyFingerprint: 'ABCD' } }] }, src))).toMatch(/key "rules.0.match.keyFingerprint" .*bad value "ABCD": must be a key fingerprint/);
    expect(configError(() => parseAdminRules({ rules: [{ id: 'x', effect: 'deny', match: { exe: 'python3' } }] }, src))).toMatch(/"rules.0.match.exe" .*"python3": must be an absolute path/);
    expect(configError(() => parseAdminRules({ rule: [] }, src))).toContain('unknown key "rule"');
    expect(configError(() => parseAdminRules({ rules: [{ id: 'bad id!', effect: 'deny', match: {} }] }, src))).toMatch(/"rules.0.id" .*"bad id!"/);
  });

  it('not JSON at all', () => {
    expect(configError(() => parseAdminRulesText('{ "rules": [', src))).toMatch(/10-ci\.json: not valid JSON/);
  });

  it('hostile text stays inert in the message: control characters are refused and shown escaped, long values cut', () => {
    const msg = configError(() => parseAdminRules({ rules: [{ id: 'x', effect: 'deny', match: {}, note: 'ok\x1b]0;pwned\x07' }] }, src));
    expect(msg).toContain('"rules.0.note"');
    expect(msg).not.toMatch(/[\x00-\x1f]/);
    expect(msg).toContain('\\u001b');
    const long = configError(() => parseAdminRules({ rules: [{ id: 'x', effect: 'deny', match: { unit: 'x'.repeat(10_000) } }] }, src));
    expect(long.length).toBeLessThan(400);
  });

  it('the README\'s example file is valid', () => {
    const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'README.md'), 'utf8');
    const example = readme.slice(readme.indexOf('## Admin rules')).match(/```json\n([\s\S]*?)```/)![1]!;
    expect(parseAdminRulesText(example, 'README.md').map((r) => r.effect)).toEqual(['deny', 'neverRemember', 'requireReason']);
  });

  it('a fingerprint may be written with spaces or as a long key ID; values may be one or a list', () => {
    const [r] = parseAdminRules({ rules: [{ id: 'k', effect: 'neverRemember', match: { kind: ['sign', 'key'], keyFingerprint: ['0123 4567 89ab cdef 0123  4567 89AB CDEF 0123 4567', '0x89abcdef01234567'] } }] }, src);
    expect(r!.match.keyFingerprint).toEqual([FP, '89ABCDEF01234567']);
  });
});

describe('which files are read', () => {
  let root: string;
  let dir: string;
  beforeAll(() => {
    // Below /tmp (sticky, shared) a private parent of our own, as /etc/secrets-dispatcher is root's.
    root = mkdtempSync(join(tmpdir(), 'sd-admin-'));
    chmodSync(root, 0o755);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const fresh = () => {
    dir = join(root, `policy-${Math.random().toString(36).slice(2)}.d`);
    mkdirSync(dir, { mode: 0o755 });
    return dir;
  };
  const put = (name: string, body: unknown, mode = 0o644) => {
    const path = join(dir, name);
    writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body), { mode });
    chmodSync(path, mode);
    return path;
  };
  const ok = { rules: [{ id: 'a', effect: 'deny', match: { kind: 'export' } }] };

  it('every *.json in name order, with its file; other names and dot files skipped', () => {
    fresh();
    put('20-b.json', { rules: [{ id: 'b', effect: 'neverRemember', match: {} }] });
    put('10-a.json', ok);
    put('README', 'not json');
    put('.10-a.json.swp', 'not json');
    put('30-old.json.dpkg-old', 'not json');
    const rules = loadAdminRules(dir, { trustedUid: me });
    expect(rules.map((r) => [r.id, r.file])).toEqual([['a', join(dir, '10-a.json')], ['b', join(dir, '20-b.json')]]);
  });

  it('the default directory may be absent; one named on the command line may not', () => {
    expect(loadAdminRules(join(root, 'nope.d'), { mayBeAbsent: true, trustedUid: me })).toEqual([]);
    dir = join(root, 'nope.d');
    expect(configError(() => loadAdminRules(join(root, 'nope.d'), { trustedUid: me }))).toMatch(/nope\.d: cannot read the admin rules directory \(ENOENT\)/);
  });

  it('a bad file stops the load, naming it', () => {
    fresh();
    put('10-a.json', ok);
    const bad = put('20-b.json', { rules: [{ id: 'b', effect: 'deny', match: { unti: 'x.service' } }] });
    expect(configError(() => loadAdminRules(dir, { trustedUid: me }))).toContain(`${bad}: unknown key "rules.0.match.unti"`);
  });

  it('an id used twice, across files, names both', () => {
    fresh();
    const first = put('10-a.json', ok);
    const second = put('20-b.json', ok);
    const msg = configError(() => loadAdminRules(dir, { trustedUid: me }));
    expect(msg).toContain(`${second}: key "rules.0.id" has bad value "a"`);
    expect(msg).toContain(first);
  });

  // chown needs root (CI runs the suite as root).
  it.skipIf(!isRoot)('refuses a file or directory someone other than root could change', () => {
    fresh();
    const file = put('10-a.json', ok, 0o664);
    expect(configError(() => loadAdminRules(dir, { trustedUid: me }))).toMatch(/10-a\.json: writable by its group \(mode 0664\)/);
    chmodSync(file, 0o646);
    expect(configError(() => loadAdminRules(dir, { trustedUid: me }))).toMatch(/writable by everyone \(mode 0646\)/);
    chmodSync(file, 0o644);
    chownSync(file, 65534, 65534);
    expect(configError(() => loadAdminRules(dir, { trustedUid: me }))).toMatch(/10-a\.json: owned by UID 65534, not/);
    chownSync(file, me, 0);
    chmodSync(dir, 0o775);
    expect(configError(() => loadAdminRules(dir, { trustedUid: me }))).toMatch(/\.d: writable by its group/);
    chmodSync(dir, 0o755);
    // A parent the user could rename the directory out of is no better.
    chmodSync(root, 0o777);
    try {
      expect(configError(() => loadAdminRules(dir, { trustedUid: me }))).toMatch(/sd-admin-[^:]*: writable by everyone/);
    } finally {
      chmodSync(root, 0o755);
    }
    expect(loadAdminRules(dir, { trustedUid: me })).toHaveLength(1);
  });

  it.skipIf(!isRoot)('the daemon trusts root alone: a file owned by the desktop user is refused even with a safe mode', () => {
    fresh();
    const file = put('10-a.json', ok);
    chownSync(file, 1000, 1000);
    expect(configError(() => loadAdminRules(dir))).toMatch(/owned by UID 1000, not root/);
  });

  it('refuses a symbolic link (its target could sit anywhere) and a FIFO without blocking', () => {
    fresh();
    const target = join(root, 'elsewhere.json');
    writeFileSync(target, JSON.stringify(ok), { mode: 0o644 });
    symlinkSync(target, join(dir, '10-link.json'));
    expect(configError(() => loadAdminRules(dir, { trustedUid: me }))).toMatch(/10-link\.json: is a symbolic link/);
    rmSync(join(dir, '10-link.json'));
    expect(spawnSync('mkfifo', ['-m', '0644', join(dir, '10-fifo.json')]).status).toBe(0);
    expect(configError(() => loadAdminRules(dir, { trustedUid: me }))).toMatch(/10-fifo\.json: not a regular file/);
  });
});

describe('matching', () => {
  it('a rule matches only when every matcher does; kind and tier (absent tier is normal)', () => {
    const p = policy([rule({ effect: 'deny', match: { kind: 'secret', tier: 'high' } })]);
    expect(p.judge(read({ tier: 'high' })).refuse?.code).toBe('DeniedByRule');
    expect(p.judge(read())).toEqual({});
    expect(p.judge({ ...read({ tier: 'high' }), kind: 'write' })).toEqual({});
    expect(policy([rule({ effect: 'deny', match: { tier: 'normal' } })]).judge(read()).refuse).toBeDefined();
  });

  it('the refusal and its audit detail name the rule and its file, with the admin note', () => {
    const verdict = policy([rule({ id: 'no-export', effect: 'deny', match: { kind: 'secret' }, note: 'Ask ops.' })]).judge(read());
    expect(verdict.refuse).toEqual({
      code: 'DeniedByRule',
      detail: 'Refused by admin rule "no-export" in /etc/secrets-dispatcher/policy.d/10-test.json. Ask ops.',
      audit: 'DeniedByRule: admin rule "no-export" in /etc/secrets-dispatcher/policy.d/10-test.json',
    });
  });

  it('unit: a glob on any unit the daemon read the process to run under, read only when a rule needs it, never the claimed one', () => {
    let reads = 0;
    const rules = [rule({ effect: 'deny', match: { unit: 'ci-*.service' } })];
    const p = new AdminPolicy(rules, { unitsOf: () => { reads++; return ['ci-runner@3.service', 'system.slice']; } });
    expect(p.judge(read()).refuse).toBeDefined();
    expect(reads).toBe(1);
    // "Under" the unit: a job the runner put in a scope of its own still counts.
    expect(policy(rules, ['job-17.scope', 'ci-runner.service', 'system.slice']).judge(read()).refuse).toBeDefined();
    expect(policy([rule({ effect: 'deny', match: { unit: 'user@1000.service' } })], ['vte-spawn-1.scope', 'app.slice', 'user@1000.service', 'user-1000.slice', 'user.slice']).judge(read()).refuse).toBeDefined();
    const elsewhere = policy(rules, ['gnome-terminal-server.service', 'app.slice']);
    expect(elsewhere.judge(read({ requester: requester({ systemdUnit: 'ci-x.service', claimed: { 'requester.unit': 'ci-runner.service' } }) }))).toEqual({});
    expect(policy(rules, []).judge(read())).toEqual({});
    const tierOnly = new AdminPolicy([rule({ effect: 'deny', match: { tier: 'high' } })], { unitsOf: () => { reads++; return []; } });
    tierOnly.judge(read());
    expect(reads).toBe(1);
  });

  it('the units a process runs under, from its cgroup, innermost first', () => {
    expect(unitsInCgroup('0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-9.scope\n'))
      .toEqual(['vte-spawn-9.scope', 'app-org.gnome.Terminal.slice', 'app.slice', 'user@1000.service', 'user-1000.slice', 'user.slice']);
    expect(unitsInCgroup('12:cpu:/\n1:name=systemd:/system.slice/ci-runner.service\n')).toEqual(['ci-runner.service', 'system.slice']);
    expect(unitsInCgroup('0::/\n')).toEqual([]);
    expect(unitsInCgroup('')).toEqual([]);
  });

  it('exe: the verified executable; a claimed exe does not count, an unreadable one matches nothing', () => {
    const p = policy([rule({ effect: 'deny', match: { exe: ['/usr/bin/python3*', '/opt/ci/*'] } })]);
    expect(p.judge(read()).refuse).toBeDefined();
    expect(p.judge(read({ requester: requester({}, '/opt/ci/bin/runner') })).refuse).toBeDefined();
    expect(p.judge(read({ requester: requester({ claimed: { 'requester.exe': '/usr/bin/python3' } }, '/usr/bin/node') }))).toEqual({});
    expect(p.judge(read({ requester: requester({}, null) }))).toEqual({});
  });

  it('keyFingerprint: the signing key by fingerprint or long key ID, also for key requests', () => {
    const p = policy([rule({ effect: 'neverRemember', match: { keyFingerprint: FP } })]);
    expect(p.judge(sign(FP))).toEqual({ neverRemember: true });
    expect(p.judge(sign('F'.repeat(40)))).toEqual({});
    expect(policy([rule({ effect: 'neverRemember', match: { keyFingerprint: FP.slice(-16) } })]).judge(sign(FP))).toEqual({ neverRemember: true });
    const keyReq: ApprovalInput = { kind: 'key', requester: requester(), summary: 'delete', key: { action: 'delete', fingerprint: FP, userIds: [], algorithm: null, needsPassphrase: false } };
    expect(p.judge(keyReq)).toEqual({ neverRemember: true });
    expect(p.judge(read())).toEqual({});
  });

  it('itemLabel and attributes: one item must match the label and every attribute', () => {
    expect(policy([rule({ effect: 'deny', match: { itemLabel: 'GitHub*' } })]).judge(read()).refuse).toBeDefined();
    expect(policy([rule({ effect: 'deny', match: { attributes: { env: 'prod', service: 'git*' } } })]).judge(read()).refuse).toBeDefined();
    expect(policy([rule({ effect: 'deny', match: { attributes: { env: 'prod', owner: '*' } } })]).judge(read())).toEqual({});
    expect(policy([rule({ effect: 'deny', match: { itemLabel: 'Mail', attributes: { env: 'prod' } } })]).judge(read())).toEqual({});
    expect(policy([rule({ effect: 'deny', match: { itemLabel: '*' } })]).judge(sign(FP))).toEqual({});
  });

  it('a glob is * and literal characters only: regex syntax in a label is not special', () => {
    const cases: Array<[string, string, boolean]> = [
      ['a.b', 'axb', false], ['a.b', 'a.b', true], ['(x|y)*', '(x|y) and more', true], ['/usr/*', '/usr/lib/x\nmore', true],
      ['*', '', true], ['a*', 'a', true], ['*a', 'ba', true], ['a*a', 'a', false], ['a*b*c', 'abc', true], ['a*b*c', 'acb', false],
      ['ci-*.service', 'ci-runner@3.service', true], ['ci-*.service', 'ci-.servic', false], ['*x*x*', 'xx', true], ['*x*x*', 'x', false],
      ['**', 'anything', true], ['a*bc*bc', 'abcbc', true], ['a*bc*bc', 'abc', false],
    ];
    for (const [glob, value, expected] of cases) expect(globMatcher(glob)(value), `${glob} ~ ${JSON.stringify(value)}`).toBe(expected);
  });

  it('a label the desktop user chose cannot make a many-star glob slow (no backtracking)', () => {
    const p = policy([rule({ effect: 'deny', match: { itemLabel: `${'*a'.repeat(20)}*b` } })]);
    const label = 'a'.repeat(100_000);
    const hostile = read({ items: [{ itemId: 'i1', collectionId: 'login', collectionLabel: 'Login', label, attributes: {} }] });
    expect(p.judge(hostile)).toEqual({});
    expect(p.judge({ ...hostile, items: [{ ...hostile.items![0]!, label: `${label}b` }] }).refuse).toBeDefined();
  });

  it('requireReason refuses a request without one (or only blanks) and lets one with a reason through', () => {
    const p = policy([rule({ id: 'why', effect: 'requireReason', match: { kind: 'secret' } })]);
    for (const reason of [undefined, null, '', '   ']) {
      const v = p.judge(read({ reason }));
      expect(v.refuse?.code).toBe('ReasonRequired');
      expect(v.refuse?.detail).toContain('admin rule "why" in /etc/secrets-dispatcher/policy.d/10-test.json requires one');
    }
    expect(p.judge(read({ reason: 'deploying' }))).toEqual({});
  });

  it('effects combine: a deny anywhere wins; neverRemember and requireReason add up', () => {
    const p = policy([
      rule({ id: 'a', effect: 'neverRemember', match: {} }),
      rule({ id: 'b', effect: 'requireReason', match: {} }),
      rule({ id: 'c', effect: 'deny', match: { tier: 'high' } }),
    ]);
    expect(p.judge(read({ tier: 'high', reason: 'x' })).refuse?.detail).toContain('"c"');
    expect(p.judge(read()).refuse?.code).toBe('ReasonRequired');
    expect(p.judge(read({ reason: 'x' }))).toEqual({ neverRemember: true });
  });
});

describe('the gate applies the verdict before anyone is asked', () => {
  type AuditRecord = Parameters<AuditSink['record']>[0];
  const queues: ApprovalQueue[] = [];
  afterEach(() => { for (const q of queues.splice(0)) q.close(); });

  function gate(rules: LoadedAdminRule[] | Pick<AdminPolicy, 'judge'>) {
    const audit: AuditRecord[] = [];
    const consoles = new ConsoleRegistry(() => undefined);
    consoles.register(':1.console');
    const queue = new ApprovalQueue({
      config: { requestTimeoutSeconds: 300, rememberMinutes: 10, maxPendingPerRequester: 50, budgets: { pendingPerUid: 500, pendingTotal: 1000, pendingMiBPerUid: 96, pendingMiBTotal: 128 } },
      consoles, audit: { record: (e) => audit.push(e) }, logger: createLogger({ write: () => undefined }),
      clock: { wall: () => 1_700_000_000_000, boot: () => 1000 }, storeLocked: () => false, requesterChange: () => null,
      adminPolicy: Array.isArray(rules) ? policy(rules) : rules,
    });
    queues.push(queue);
    return { queue, audit };
  }

  it('deny: refused at once, nothing queued, the audit row names the rule', async () => {
    const { queue, audit } = gate([rule({ id: 'no-reads', effect: 'deny', match: { kind: 'secret' } })]);
    await expect(queue.request(read(), ':1.5')).rejects.toMatchObject({ code: 'DeniedByRule', message: expect.stringContaining('"no-reads"') });
    expect(queue.list()).toEqual([]);
    expect(audit).toMatchObject([{ outcome: 'refused', detail: expect.stringMatching(/^DeniedByRule: admin rule "no-reads" in \/etc\//) }]);
  });

  it('deny beats a remembered decision (an admin rule added later still applies to an earlier grant)', async () => {
    let rules: LoadedAdminRule[] = [];
    const { queue, audit } = gate({ judge: (input) => policy(rules).judge(input) });
    const first = queue.request(read(), ':1.5');
    queue.decide(queue.list()[0]!.id, 'process', 0);
    await first;
    expect(await queue.request(read(), ':1.5')).toEqual({ decision: 'remembered' });
    rules = [rule({ effect: 'deny', match: {} })];
    await expect(queue.request(read(), ':1.5')).rejects.toMatchObject({ code: 'DeniedByRule' });
    expect(audit.at(-1)).toMatchObject({ outcome: 'refused' });
  });

  it('neverRemember: asked with no remember scope, "remember" is refused, and no grant is looked up', async () => {
    const { queue } = gate([rule({ effect: 'neverRemember', match: { kind: 'secret' } })]);
    const waiting = queue.request(read(), ':1.5');
    const [pending] = queue.list();
    expect(pending!.rememberScope).toBeNull();
    expect(() => queue.decide(pending!.id, 'remember', 10)).toThrow(/cannot be remembered/);
    queue.decide(pending!.id, 'once', 0);
    expect(await waiting).toEqual({ decision: 'once' });
    await expect(queue.request({ ...read(), onlyIfRemembered: true }, ':1.5')).rejects.toMatchObject({ code: 'NotRemembered' });
    expect(queue.listRemembered()).toEqual([]);
  });
});
