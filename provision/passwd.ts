// Reading /etc/passwd and /etc/group of a root (the real one or a test's temporary one). Writing
// them is left to useradd/usermod/userdel (with --prefix for a temporary root), which also keep
// shadow, gshadow, subuid and subgid consistent.

export interface PasswdEntry { name: string; uid: number; gid: number; comment: string; home: string; shell: string }
export interface GroupEntry { name: string; gid: number; members: string[] }

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), comment: f[4]!, home: f[5]!, shell: f[6]! });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: f[3] ? f[3].split(',').filter(Boolean) : [] });
  }
  return out;
}

/** Names of the groups a user belongs to: its primary group and every group listing it. */
export function groupsOf(user: PasswdEntry, groups: GroupEntry[]): string[] {
  const names = new Set<string>();
  for (const g of groups) if (g.gid === user.gid || g.members.includes(user.name)) names.add(g.name);
  return [...names].sort();
}
