// The current state of a root, read once per run: the plan is computed from this snapshot only.
import { lstatSync, readFileSync } from 'node:fs';
import { under, PATHS } from './layout.js';
import { parseGroup, parsePasswd, type GroupEntry, type PasswdEntry } from './passwd.js';

export interface FileState { kind: 'file' | 'dir' | 'symlink' | 'other'; mode: number; uid: number; gid: number }

export interface RootView {
  /** '/' for the live system, else a temporary root (tests). */
  root: string;
  read(path: string): string | null;
  readBytes(path: string, length: number): Buffer | null;
  stat(path: string): FileState | null;
  users: PasswdEntry[];
  groups: GroupEntry[];
}

export function readRoot(root: string): RootView {
  const read = (path: string): string | null => {
    try {
      return readFileSync(under(root, path), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      throw err;
    }
  };
  return {
    root,
    read,
    readBytes(path, length) {
      try {
        return readFileSync(under(root, path)).subarray(0, length);
      } catch {
        return null;
      }
    },
    stat(path) {
      try {
        const s = lstatSync(under(root, path));
        const kind = s.isSymbolicLink() ? 'symlink' : s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
        return { kind, mode: s.mode & 0o7777, uid: s.uid, gid: s.gid };
      } catch {
        return null;
      }
    },
    users: parsePasswd(read(PATHS.passwd) ?? ''),
    groups: parseGroup(read(PATHS.group) ?? ''),
  };
}

export function findUser(view: RootView, name: string): PasswdEntry | undefined {
  return view.users.find((u) => u.name === name);
}

export function findGroup(view: RootView, name: string): GroupEntry | undefined {
  return view.groups.find((g) => g.name === name);
}
