// User names ↔ UIDs from /etc/passwd, read by the daemon itself: no getent child process, and a
// lookup on the request path is a map access. The file is re-read when its mtime changes, so a user
// added after start (sd-provision, tests) is found without a restart.
import { readFileSync, statSync } from 'node:fs';

export interface PasswdEntry { name: string; uid: number; gid: number; home: string }

export class UserTable {
  private byName = new Map<string, PasswdEntry>();
  private byUid = new Map<number, PasswdEntry>();
  private loadedMtimeMs = -1;

  constructor(private readonly path = '/etc/passwd') {}

  private refresh(): void {
    let mtimeMs: number;
    try {
      mtimeMs = statSync(this.path).mtimeMs;
    } catch {
      return;
    }
    if (mtimeMs === this.loadedMtimeMs) return;
    const byName = new Map<string, PasswdEntry>();
    const byUid = new Map<number, PasswdEntry>();
    for (const line of readFileSync(this.path, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length < 7 || !f[0]) continue;
      const entry = { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' };
      if (!Number.isInteger(entry.uid)) continue;
      if (!byName.has(entry.name)) byName.set(entry.name, entry);
      if (!byUid.has(entry.uid)) byUid.set(entry.uid, entry);
    }
    this.byName = byName;
    this.byUid = byUid;
    this.loadedMtimeMs = mtimeMs;
  }

  byUserName(name: string): PasswdEntry | undefined {
    this.refresh();
    return this.byName.get(name);
  }

  nameOf(uid: number): string | null {
    let entry = this.byUid.get(uid);
    if (!entry) {
      this.refresh();
      entry = this.byUid.get(uid);
    }
    return entry?.name ?? null;
  }
}
