// The units run `node` on the package's code as the companion, and the console's ExecStopPost=+
// runs it as root: anyone who can change a file of it, or a directory on the way to one, runs code
// as root. This finds the first such path: the node binary, bin/, dist/, node_modules/ and
// package.json of the package, every directory on the way to each (symbolic links followed, each
// hop checked) and everything below them. Every one must be owned by root and writable by nobody
// else. A sticky world-writable directory (/tmp) on the way does not pass either: Node looks for
// modules in node_modules/ of every parent directory, and anyone can create /tmp/node_modules.
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { under } from './layout.js';

export interface UnsafePath {
  path: string;
  why: string;
  fix: string;
}

export interface TrustOptions {
  /** Look inside this directory as if it were / (tests); default /. */
  root?: string;
  /** The only owner allowed; default 0 (tests pass their own UID). */
  trustedUid?: number;
}

/** What the units load from the package (the templates are read once, at install). */
export const PACKAGE_CODE = ['bin', 'dist', 'native', 'node_modules', 'package.json'];
const MAX_LINKS = 40;
const octal = (m: number) => m.toString(8).padStart(4, '0');

class Untrusted extends Error {
  constructor(readonly path: string, readonly why: string) {
    super(why);
  }
}

class Walker {
  private readonly walked = new Set<string>();
  constructor(private readonly root: string, private readonly trustedUid: number) {}

  private lstat(path: string): Stats | undefined {
    return lstatSync(under(this.root, path), { throwIfNoEntry: false });
  }

  private judge(path: string, st: Stats, onTheWay: boolean): void {
    if (st.uid !== this.trustedUid) throw new Untrusted(path, `${path} is owned by UID ${st.uid}, not ${this.trustedUid === 0 ? 'root' : `UID ${this.trustedUid}`}`);
    if ((st.mode & 0o022) !== 0) throw new Untrusted(path, `${path} is writable by ${(st.mode & 0o002) !== 0 ? 'everyone' : 'its group'} (mode ${octal(st.mode & 0o7777)})`);
    if (onTheWay && (st.mode & 0o001) === 0) throw new Untrusted(path, `${path} cannot be entered by other users (mode ${octal(st.mode & 0o7777)}): the companion could not load the code`);
  }

  /** The real path of `path`; every directory passed on the way (through links too) is judged. */
  resolve(path: string): string {
    let todo = path.split('/').filter(Boolean);
    let cur = '/';
    let links = 0;
    this.judge('/', this.lstat('/')!, true);
    while (todo.length) {
      const part = todo.shift()!;
      if (part === '.') continue;
      if (part === '..') {
        cur = dirname(cur);
        continue;
      }
      const next = join(cur, part);
      const st = this.lstat(next);
      if (!st) throw new Untrusted(next, `${next} does not exist`);
      if (st.isSymbolicLink()) {
        if (++links > MAX_LINKS) throw new Untrusted(path, `${path}: too many symbolic links`);
        const target = readlinkSync(under(this.root, next));
        if (isAbsolute(target)) cur = '/';
        todo = [...target.split('/').filter(Boolean), ...todo];
        continue;
      }
      if (todo.length) {
        if (!st.isDirectory()) throw new Untrusted(next, `${next} is not a directory`);
        this.judge(next, st, true);
      }
      cur = next;
    }
    return cur;
  }

  /** `path` itself and, for a directory, everything below it. */
  check(path: string): void {
    const real = this.resolve(path);
    if (this.walked.has(real)) return;
    this.walked.add(real);
    const st = this.lstat(real)!;
    this.judge(real, st, st.isDirectory());
    if (!st.isDirectory()) return;
    for (const name of readdirSync(under(this.root, real))) {
      const child = join(real, name);
      const cst = this.lstat(child)!;
      if (cst.isSymbolicLink() || cst.isDirectory()) this.check(child);
      else this.judge(child, cst, false);
    }
  }
}

/** The first path a non-root user could change among what the units run, with the fix; else null. */
export function findUntrustedCode(packageRoot: string, node: string, options: TrustOptions = {}): UnsafePath | null {
  const walker = new Walker(options.root ?? '/', options.trustedUid ?? 0);
  try {
    walker.check(node);
  } catch (err) {
    if (!(err instanceof Untrusted)) throw err;
    return {
      path: err.path,
      why: `the node binary ${node}: ${err.why}`,
      fix: `run sd-provision with a root-owned node, e.g. Debian's nodejs package: sudo /usr/bin/node ${join(packageRoot, 'bin/sd-provision')} … (or: sudo chown root:root ${err.path} && sudo chmod go-w ${err.path})`,
    };
  }
  try {
    for (const entry of PACKAGE_CODE) walker.check(join(packageRoot, entry));
  } catch (err) {
    if (!(err instanceof Untrusted)) throw err;
    const inside = err.path === packageRoot || err.path.startsWith(`${packageRoot}/`);
    const copy = `copy the package to a new root-owned directory and run sd-provision from there: sudo cp -RL ${packageRoot} /opt/secrets-dispatcher && sudo chmod -R go-w /opt/secrets-dispatcher && sudo /opt/secrets-dispatcher/bin/sd-provision …`;
    return {
      path: err.path,
      why: `${err.why}: whoever can change it runs code as root (the console unit's ExecStopPost=+) and as the companion`,
      fix: inside ? `${copy} (or make this tree root's: sudo chown -R root:root ${packageRoot} && sudo chmod -R go-w ${packageRoot})` : copy,
    };
  }
  return null;
}
