// A throwaway root directory shaped like a fresh Debian 12 install, for sd-provision --prefix:
// synthesised account files (root, the tty group, a desktop user alice), Debian's default
// common-session, and the directories a Debian system has. Nothing of the host is copied.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, lstatSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const DEBIAN_COMMON_SESSION = `#
# /etc/pam.d/common-session - session-related modules common to all services
#
# This file is included from other service-specific PAM config files,
# and should contain a list of modules that define tasks to be performed
# at the start and end of interactive sessions.
#
# As of pam 1.0.1-6, this file is managed by pam-auth-update by default.
# To take advantage of this, it is recommended that you configure any
# local modules either before or after the default block, and use
# pam-auth-update to manage selection of other modules.  See
# pam-auth-update(8) for details.

# here are the per-package modules (the "Primary" block)
session\t[default=1]\t\t\tpam_permit.so
# here's the fallback if no module succeeds
session\trequisite\t\t\tpam_deny.so
# prime the stack with a positive return value if there isn't one already;
# this avoids us returning an error just because nothing sets a success code
# since the modules above will each just jump around
session\trequired\t\t\tpam_permit.so
# and here are more per-package modules (the "Additional" block)
session\trequired\tpam_unix.so 
session\toptional\tpam_systemd.so 
# end of pam-auth-update config
`;

export const DESKTOP = { name: 'alice', uid: 1000, gid: 1000, home: '/home/alice' };

export interface TestRoot {
  dir: string;
  path(p: string): string;
  remove(): void;
}

export function makeTestRoot(options: { withUserUnitDir?: boolean; desktopUid?: number } = {}): TestRoot {
  const uid = options.desktopUid ?? DESKTOP.uid;
  const dir = mkdtempSync(join(tmpdir(), 'sd-root-'));
  const file = (p: string, text: string, mode = 0o644) => {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), text, { mode });
  };
  file('etc/passwd', `root:x:0:0:root:/root:/bin/bash\nalice:x:${uid}:${uid}:Alice,,,:/home/alice:/bin/bash\n`);
  file('etc/group', `root:x:0:\ntty:x:5:\nalice:x:${uid}:\n`);
  file('etc/shadow', 'root:*:19800:0:99999:7:::\nalice:!:19800:0:99999:7:::\n', 0o640);
  file('etc/gshadow', 'root:*::\ntty:*::\nalice:!::\n', 0o640);
  // Empty, as on Debian: useradd gives a regular user subordinate IDs here.
  file('etc/subuid', '');
  file('etc/subgid', '');
  file('etc/login.defs', 'UID_MIN 1000\nUID_MAX 60000\nSYS_UID_MIN 100\nSYS_UID_MAX 999\nGID_MIN 1000\nGID_MAX 60000\nSYS_GID_MIN 100\nSYS_GID_MAX 999\nUSERGROUPS_ENAB yes\nENCRYPT_METHOD SHA512\n');
  file('etc/pam.d/common-session', DEBIAN_COMMON_SESSION);
  for (const d of ['var/lib', 'etc/systemd/system', 'etc/dbus-1/system.d', 'usr/local/lib', 'home/alice', ...(options.withUserUnitDir ? ['etc/systemd/user'] : [])]) {
    mkdirSync(join(dir, d), { recursive: true, mode: 0o755 });
  }
  if (process.getuid?.() === 0) chownSync(join(dir, 'home/alice'), uid, uid);
  return { dir, path: (p) => join(dir, p), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every path under the root with its type, mode, owner and (for files) content hash. */
export function snapshot(dir: string, exclude: (rel: string) => boolean = () => false): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      if (exclude(r)) continue;
      const st = lstatSync(join(dir, r));
      const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out.set(r, `dir ${meta}`);
        walk(r);
      } else {
        out.set(r, `file ${meta} ${createHash('sha256').update(readFileSync(join(dir, r))).digest('hex')}`);
      }
    }
  };
  walk('');
  return out;
}

/**
 * The package as sd-provision accepts it (root's alone, and every directory above it): the
 * checkout itself when it is such a tree, else a copy of it in a new directory under /var/lib.
 * A clone under /tmp is the usual case: its files are root's but /tmp is writable by everyone.
 * Hard links where they already make a trusted copy (root-owned files), a real copy otherwise.
 */
export function trustedPackageRoot(checkout: string, node: string, untrusted: (root: string) => boolean): { root: string; remove(): void } {
  if (!untrusted(checkout)) return { root: checkout, remove: () => undefined };
  const parent = mkdtempSync('/var/lib/sd-test-package-');
  chmodSync(parent, 0o755);
  const copy = join(parent, 'secrets-dispatcher');
  const entries = readdirSync(checkout).filter((e) => e !== '.git' && e !== '.cache' && e !== 'test');
  mkdirSync(copy, { mode: 0o755 });
  execFileSync('cp', ['-al', ...entries.map((e) => join(checkout, e)), copy]);
  if (untrusted(copy)) {
    rmSync(copy, { recursive: true, force: true });
    mkdirSync(copy, { mode: 0o755 });
    execFileSync('cp', ['-a', ...entries.map((e) => join(checkout, e)), copy]);
    execFileSync('chown', ['-R', '0:0', copy]);
    execFileSync('chmod', ['-R', 'go-w', copy]);
  }
  if (untrusted(copy)) throw new Error(`cannot make a trusted copy of ${checkout} for sd-provision (is ${node} root's?)`);
  return { root: copy, remove: () => rmSync(parent, { recursive: true, force: true }) };
}
