// The PAM hook as PAM really runs it: pamtester opens and closes a session through a throwaway
// service in /etc/pam.d whose session stack is Debian's common-session with the exact line
// sd-provision adds. systemctl is replaced by a small script (systemd is not PID 1 in CI): it
// records how it was called, or hangs, or fails, so we can see the hook start the companion
// without ever delaying or failing the login.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isRoot, createThrowawayUser, type ThrowawayUser } from '../helpers/root.js';
import { DEBIAN_COMMON_SESSION } from '../helpers/provision-root.js';
import { findPackageRoot, pamBlockBody, renderPamHook, type Inputs } from '../../provision/render.js';
import { withBlock } from '../../provision/markers.js';
import { PATHS } from '../../provision/layout.js';

const hasPamtester = existsSync('/usr/bin/pamtester');
const LOGIN_BUDGET_MS = 1000;

async function waitFor(path: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (existsSync(path) && readFileSync(path, 'utf8').includes('\n')) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

describe.skipIf(!isRoot || !hasPamtester)(`PAM hook through pamtester (needs root${hasPamtester ? '' : ' and pamtester'})`, () => {
  let dir: string;
  let user: ThrowawayUser;
  let other: ThrowawayUser;
  const services: string[] = [];
  const stray: number[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sd-pam-'));
    chmodSync(dir, 0o755);
    user = createThrowawayUser('sdpam');
    other = createThrowawayUser('sdpamx');
  });
  afterEach(() => {
    for (const pid of stray.splice(0)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  });
  afterAll(() => {
    for (const s of services) rmSync(`/etc/pam.d/${s}`, { force: true });
    user?.remove();
    other?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A service whose stack is Debian's common-session plus our line, with a hook calling `systemctl`. */
  function service(name: string, systemctlScript: string): { service: string; marker: string } {
    const marker = join(dir, `${name}.marker`);
    const systemctl = join(dir, `${name}.systemctl`);
    writeFileSync(systemctl, `#!/bin/sh\n${systemctlScript.replaceAll('MARKER', marker)}\n`, { mode: 0o755 });
    const inputs = { desktopUser: user.name, systemctl, packageRoot: findPackageRoot(), vt: 8 } as Inputs;
    const hook = join(dir, `${name}.hook`);
    writeFileSync(hook, renderPamHook(inputs), { mode: 0o755 });
    const session = withBlock(DEBIAN_COMMON_SESSION, pamBlockBody().replace(PATHS.hook, hook), PATHS.pamAnchor);
    const serviceName = `sd-provision-test-${process.pid}-${name}`;
    writeFileSync(`/etc/pam.d/${serviceName}`, `auth required pam_permit.so\naccount required pam_permit.so\n${session}`);
    services.push(serviceName);
    return { service: serviceName, marker };
  }

  function login(serviceName: string, userName: string, ops = ['open_session', 'close_session']): { code: number | null; ms: number; out: string } {
    const t0 = performance.now();
    const r = spawnSync('pamtester', ['-v', serviceName, userName, ...ops], { encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, ms: performance.now() - t0, out: `${r.stdout}${r.stderr}` };
  }

  it('open_session of the desktop user queues the companion target without blocking', async () => {
    const s = service('ok', 'printf "%s uid=%s\\n" "$*" "$(id -u)" > MARKER');
    const r = login(s.service, user.name);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('successfully opened a session');
    expect(r.ms).toBeLessThan(LOGIN_BUDGET_MS);
    expect(await waitFor(s.marker, 5000)).toBe(true);
    expect(readFileSync(s.marker, 'utf8')).toBe('start --no-block secrets-dispatcher.target secrets-dispatcher-daemon.service secrets-dispatcher-console@8.service uid=0\n');
  });

  it('a hanging systemctl does not hold the login: the session opens well within 1 s', async () => {
    const s = service('hang', 'echo $$ > MARKER.pid; echo started > MARKER; exec sleep 30');
    const r = login(s.service, user.name);
    expect(r.code, r.out).toBe(0);
    expect(r.ms).toBeLessThan(LOGIN_BUDGET_MS);
    expect(await waitFor(s.marker, 5000)).toBe(true);
    stray.push(Number(readFileSync(`${s.marker}.pid`, 'utf8')));
  });

  it('a failing start (daemon broken, systemd down) never fails the session', async () => {
    const s = service('fail', 'echo failed > MARKER; echo "Failed to start secrets-dispatcher.target" >&2; exit 1');
    const r = login(s.service, user.name);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('successfully opened a session');
    expect(r.ms).toBeLessThan(LOGIN_BUDGET_MS);
    expect(await waitFor(s.marker, 5000)).toBe(true);
    // The real systemctl where systemd is not PID 1 fails the same way, and still nothing breaks.
    const real = service('real', 'exec /usr/bin/systemctl "$@"');
    const r2 = login(real.service, user.name);
    expect([r2.code, r2.ms < LOGIN_BUDGET_MS], r2.out).toEqual([0, true]);
  });

  it('does nothing for another user, nor at close_session alone', async () => {
    const s = service('other', 'echo "$*" > MARKER');
    expect(login(s.service, other.name).code).toBe(0);
    expect(login(s.service, user.name, ['close_session']).code).toBe(0);
    expect(await waitFor(s.marker, 1500)).toBe(false);
  });
});
