// test/vm/mirror.sh, the one place the test images learn their Debian mirror: from the machine's
// own apt configuration (sources.list, *.list, deb822 *.sources), overridden by DEBIAN_MIRROR, and a
// clear error rather than a guess when apt names no Debian mirror. Fixtures use made-up hosts.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/daemon-harness.js';

const SCRIPT = join(REPO_ROOT, 'test', 'vm', 'mirror.sh');
const base = mkdtempSync(join(tmpdir(), 'sd-mirror-test-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

let n = 0;
/** An apt configuration directory with the given files (paths relative to it). */
function aptDir(files: Record<string, string>): string {
  const dir = join(base, String(n++));
  mkdirSync(join(dir, 'sources.list.d'), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function mirror(dir: string, env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const { DEBIAN_MIRROR: _ignored, ...rest } = process.env;
  const r = spawnSync('bash', [SCRIPT, dir], { encoding: 'utf8', env: { ...rest, ...env } });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr };
}

describe('the Debian mirror from apt', () => {
  it('takes the bookworm main source of a one-line sources.list, past comments, deb-src, options and security', () => {
    const dir = aptDir({
      'sources.list': [
        '# deb http://commented.invalid/debian bookworm main',
        'deb-src http://source.invalid/debian bookworm main',
        'deb [signed-by=/usr/share/keyrings/k.gpg] http://security.invalid/debian-security bookworm-security main',
        'deb [ arch=amd64 ] http://mirror.invalid/debian/ bookworm main contrib # the mirror',
        '',
      ].join('\n'),
    });
    expect(mirror(dir)).toMatchObject({ status: 0, stdout: 'http://mirror.invalid/debian' });
  });

  it('reads deb822 .sources: skips a disabled stanza, follows continuation lines and lower-case keys', () => {
    const dir = aptDir({
      'sources.list.d/debian.sources': [
        'Types: deb',
        'URIs: http://disabled.invalid/debian',
        'Suites: bookworm',
        'Components: main',
        'Enabled: no',
        '',
        'types: deb-src deb',
        '# a comment inside the stanza',
        'uris: http://first.invalid/debian',
        ' http://second.invalid/debian',
        'suites: bookworm-updates',
        ' bookworm',
        'components: main',
        '',
      ].join('\n'),
    });
    expect(mirror(dir)).toMatchObject({ status: 0, stdout: 'http://first.invalid/debian' });
  });

  it('reads files in name order, only *.list and *.sources, and passes over a non-Debian suite', () => {
    const dir = aptDir({
      'sources.list.d/10-other.list': 'deb http://other.invalid/ubuntu jammy main\n',
      'sources.list.d/20-vendor.sources': 'Types: deb\nURIs: https://vendor.invalid/node\nSuites: nodistro\nComponents: main\n',
      'sources.list.d/30-debian.list.disabled': 'deb http://disabled.invalid/debian bookworm main\n',
      'sources.list.d/40-debian.list': 'deb https://mirror.invalid/debian bookworm main\n',
      'sources.list.d/50-late.list': 'deb http://late.invalid/debian bookworm main\n',
    });
    expect(mirror(dir)).toMatchObject({ status: 0, stdout: 'https://mirror.invalid/debian' });
  });

  it('falls back to a mirror of another Debian release when none names bookworm', () => {
    const dir = aptDir({
      'sources.list.d/debian.sources': 'Types: deb\nURIs: https://trixie.invalid/debian\nSuites: trixie trixie-updates\nComponents: main\n',
    });
    expect(mirror(dir)).toMatchObject({ status: 0, stdout: 'https://trixie.invalid/debian' });
  });

  it('DEBIAN_MIRROR overrides what apt says', () => {
    const dir = aptDir({ 'sources.list': 'deb http://mirror.invalid/debian bookworm main\n' });
    expect(mirror(dir, { DEBIAN_MIRROR: 'http://override.invalid/debian' })).toMatchObject({
      status: 0,
      stdout: 'http://override.invalid/debian',
    });
  });

  it('refuses, naming DEBIAN_MIRROR, when apt has no usable Debian source', () => {
    const configurations: Record<string, string>[] = [
      {},
      { 'sources.list.d/cd.list': 'deb cdrom:[Debian 12]/ bookworm main\n' },
      { 'sources.list.d/x.sources': 'Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm\nComponents: contrib\n' },
      { 'sources.list': 'deb http://other.invalid/ubuntu jammy main\n' },
    ];
    for (const files of configurations) {
      const r = mirror(aptDir(files));
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('no Debian mirror');
      expect(r.stderr).toContain('DEBIAN_MIRROR');
    }
  });
});
