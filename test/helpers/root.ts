// Tests that need root (throwaway users, the real VT, PAM) run when the suite runs as root, as CI
// does, and are reported as skipped otherwise.
import { execFileSync } from 'node:child_process';

export const isRoot = process.getuid?.() === 0;

export interface ThrowawayUser { name: string; uid: number; gid: number; remove(): void }

/** Create a system user with a unique name; remove() deletes it and its home. */
export function createThrowawayUser(prefix: string): ThrowawayUser {
  if (!isRoot) throw new Error('createThrowawayUser needs root');
  const name = `${prefix}${process.pid % 100000}${Math.floor(Math.random() * 1000)}`.slice(0, 31);
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  const uid = Number(execFileSync('id', ['-u', name]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', name]).toString().trim());
  return {
    name, uid, gid,
    remove() {
      try { execFileSync('userdel', [name], { stdio: 'ignore' }); } catch { /* already gone */ }
    },
  };
}
