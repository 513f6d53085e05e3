// sd-provision refuses to point root-run units at code a non-root user could change: a package
// laid out in a temporary root (treated as /, owned by whoever runs the test) passes as built,
// and each way a user could get write access to what runs (a file, a directory inside or above,
// a symlinked node_modules, the node binary, a sticky /tmp-like parent) is found, with a fix.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findUntrustedCode } from '../../provision/code-trust.js';
import { checkPackage } from '../../provision/check.js';

const me = process.getuid!();
let dir: string;
const at = (p: string) => join(dir, p);
const find = () => findUntrustedCode('/opt/sd', '/usr/bin/node', { root: dir, trustedUid: me });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sd-trust-'));
  chmodSync(dir, 0o755);
  const file = (p: string, mode = 0o644) => {
    mkdirSync(join(at(p), '..'), { recursive: true, mode: 0o755 });
    writeFileSync(at(p), 'x', { mode });
  };
  file('opt/sd/bin/secrets-dispatcher', 0o755);
  file('opt/sd/dist/daemon/main.js');
  file('opt/sd/package.json');
  file('opt/sd/native/build/Release/sd_native.node', 0o755);
  // node_modules elsewhere, behind an absolute symlink (as in a work tree sharing one install).
  file('srv/shared/node_modules/dep/index.js');
  symlinkSync('/srv/shared/node_modules', at('opt/sd/node_modules'));
  symlinkSync('dep/index.js', at('srv/shared/node_modules/.bin-dep'));
  file('usr/lib/nodejs/bin/node', 0o755);
  mkdirSync(at('usr/bin'), { mode: 0o755 });
  symlinkSync('../lib/nodejs/bin/node', at('usr/bin/node'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('code the units run', () => {
  it('passes a package whose every file and directory, links followed, only its owner can write', () => {
    expect(find()).toBeNull();
    expect(checkPackage('/opt/sd', '/usr/bin/node', { root: dir, trustedUid: me })).toMatchObject({ status: 'PASS' });
  });

  it('finds a group-writable file deep in a symlinked node_modules and says to copy the package', () => {
    chmodSync(at('srv/shared/node_modules/dep/index.js'), 0o664);
    expect(find()).toEqual({
      path: '/srv/shared/node_modules/dep/index.js',
      why: expect.stringMatching(/^\/srv\/shared\/node_modules\/dep\/index\.js is writable by its group \(mode 0664\): whoever can change it runs code as root/),
      fix: expect.stringMatching(/^copy the package to a new root-owned directory .*sudo cp -RL \/opt\/sd \/opt\/secrets-dispatcher && sudo chmod -R go-w \/opt\/secrets-dispatcher && sudo \/opt\/secrets-dispatcher\/bin\/sd-provision/),
    });
  });

  it('finds a world-writable directory inside the tree, and offers to make the tree root\'s', () => {
    chmodSync(at('opt/sd/dist/daemon'), 0o777);
    const found = find()!;
    expect(found.path).toBe('/opt/sd/dist/daemon');
    expect(found.why).toContain('writable by everyone (mode 0777)');
    expect(found.fix).toContain('(or make this tree root\'s: sudo chown -R root:root /opt/sd && sudo chmod -R go-w /opt/sd)');
  });

  it('finds a writable parent directory, a sticky one (/tmp-like) included: anyone could add node_modules/ there', () => {
    chmodSync(at('opt'), 0o1777);
    expect(find()).toMatchObject({ path: '/opt', why: expect.stringContaining('/opt is writable by everyone (mode 1777)') });
    chmodSync(at('opt'), 0o755);
    chmodSync(at('srv'), 0o775);
    expect(find()).toMatchObject({ path: '/srv', why: expect.stringContaining('/srv is writable by its group') });
  });

  it('finds a package directory the companion cannot enter', () => {
    chmodSync(at('opt/sd'), 0o750);
    expect(find()).toMatchObject({ path: '/opt/sd', why: expect.stringContaining('cannot be entered by other users (mode 0750)') });
  });

  it('finds a writable node binary behind its symlink and says to use a root-owned node', () => {
    chmodSync(at('usr/lib/nodejs/bin/node'), 0o775);
    expect(find()).toMatchObject({
      path: '/usr/lib/nodejs/bin/node',
      why: 'the node binary /usr/bin/node: /usr/lib/nodejs/bin/node is writable by its group (mode 0775)',
      fix: expect.stringMatching(/^run sd-provision with a root-owned node/),
    });
    chmodSync(at('usr/lib/nodejs/bin/node'), 0o755);
    chmodSync(at('usr/lib'), 0o777);
    expect(find()).toMatchObject({ path: '/usr/lib', why: expect.stringContaining('the node binary /usr/bin/node: /usr/lib is writable by everyone') });
  });

  it.skipIf(me !== 0)('finds a file owned by another user even when nobody else may write it', () => {
    chownSync(at('opt/sd/dist/daemon/main.js'), 1000, 1000);
    expect(find()).toMatchObject({ path: '/opt/sd/dist/daemon/main.js', why: expect.stringContaining('is owned by UID 1000, not root') });
  });

  it('reports a package missing its code instead of passing it', () => {
    rmSync(at('opt/sd/dist'), { recursive: true });
    expect(find()).toMatchObject({ path: '/opt/sd/dist', why: expect.stringContaining('/opt/sd/dist does not exist') });
  });
});
