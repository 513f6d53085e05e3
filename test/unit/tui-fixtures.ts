// PendingRequest fixtures shaped like the daemon's output, for the view-model and key tests and the
// signing screenshot (signing requests cannot come from the daemon until the gpg work lands).
import type { PendingList, PendingRequest, RequestDetail } from '../../core/wire.js';
import { applyDetail, applyPending, type ConsoleState } from '../../tui/state.js';

export const NOW = Date.UTC(2026, 10, 24, 9, 30, 0);

export function secretRequest(overrides: Partial<PendingRequest> = {}): PendingRequest {
  return {
    id: 'r1',
    kind: 'secret',
    createdAt: NOW - 1000,
    deadline: NOW + 299_000,
    requester: {
      busName: ':1.42',
      uid: 1000,
      userName: 'nb',
      process: { pid: 4242, startTime: 123456, uid: 1000, comm: 'python3', exe: '/usr/bin/python3.11', cmdline: ['python3', '-c', 'import keyring'], cwd: '/home/nb/src' },
      chain: [
        { pid: 4200, startTime: 1200, uid: 1000, comm: 'bash', exe: '/usr/bin/bash', cmdline: ['bash'], cwd: '/home/nb' },
        { pid: 4100, startTime: 1100, uid: 1000, comm: 'gnome-terminal-', exe: '/usr/libexec/gnome-terminal-server', cmdline: [], cwd: '/home/nb' },
      ],
      systemdUnit: 'app-gnome-terminal.scope',
      claimed: {},
    },
    summary: 'Read the secret "GitHub token"',
    items: [{ itemId: 'i1', collectionId: 'login', collectionLabel: 'Login', label: 'GitHub token', attributes: { service: 'github', user: 'nb' } }],
    sign: null,
    key: null,
    rememberScope: { description: 'python3.11 (uid 1000) reading "GitHub token"', minutes: 10 },
    scopes: [
      { verb: 'program', line: 'python3.11 (uid 1000) reading "GitHub token"', minutes: 10 },
      { verb: 'session', line: 'any process of uid 1000 in session 4200 (led by pid 4200, bash), until that session ends, may read "GitHub token" for at most 8 hours', minutes: 480 },
      { verb: 'deny-always', line: 'python3.11 is refused at once', minutes: null },
    ],
    ...overrides,
  };
}

export function signRequest(overrides: Partial<PendingRequest> = {}, message = 'Fix the frobnicator\n\nIt frobbed twice.\n'): PendingRequest {
  return {
    ...secretRequest(),
    id: 's1',
    kind: 'sign',
    summary: 'Sign commit "Fix the frobnicator" in secrets-dispatcher',
    items: [],
    requester: {
      ...secretRequest().requester,
      process: { pid: 5151, startTime: 5, uid: 1000, comm: 'sd-gpg', exe: '/usr/bin/node', cmdline: ['node', '/usr/bin/sd-gpg', '--status-fd=2', '-bsau', 'ABCD1234'], cwd: '/home/nb/src/secrets-dispatcher' },
      chain: [{ pid: 5150, startTime: 4, uid: 1000, comm: 'git', exe: '/usr/bin/git', cmdline: ['git', 'commit', '-S'], cwd: '/home/nb/src/secrets-dispatcher' }],
      claimed: { repository: '/home/nb/src/secrets-dispatcher' },
    },
    sign: {
      payloadKind: 'commit',
      headers: [
        ['tree', '4b825dc642cb6eb9a060e54bf8d69288fbee4904'],
        ['parent', '9ee8bff3c2a1d4e5f60718293a4b5c6d7e8f9012'],
        ['author', 'N. B. <nb@example.org> 1764000000 +0000'],
        ['committer', 'N. B. <nb@example.org> 1764000000 +0000'],
      ],
      message,
      payloadBytes: 312,
      key: { fingerprint: '0123456789ABCDEF0123456789ABCDEF01234567', keyId: '89ABCDEF01234567', userIds: ['N. B. <nb@example.org>'], algorithm: 'ed25519' },
      reported: {
        repository: '/home/nb/src/secrets-dispatcher',
        branch: 'main',
        files: [{ path: 'tui/screen.ts', added: 120, removed: 4 }, { path: 'docs/BENCHMARKS.md', added: 12, removed: 0 }],
      },
      contradictions: [],
    },
    rememberScope: null,
    scopes: [],
    ...overrides,
  };
}

/** ListPending's reply for these requests (a full request carries every field a row has). */
export function listed(...requests: PendingRequest[]): PendingList {
  return { requests, total: requests.length };
}

/** GetRequest's reply for a request nothing had to be cut from. */
export function detailOf(request: PendingRequest): RequestDetail {
  return { ...request, omitted: {} };
}

/** The daemon lists these requests and the console has read the focused one's detail, all at `now`. */
export function arrive(state: ConsoleState, requests: PendingRequest[], now: number): ConsoleState {
  const s = applyPending(state, listed(...requests), now);
  const focused = requests.find((r) => r.id === s.focusedId);
  return focused ? applyDetail(s, detailOf(focused), now) : s;
}
