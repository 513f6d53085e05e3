// Types that cross the bus as JSON (console interface) or shape the approval pipeline. The daemon
// produces them, the console renders them; both import them from here so they cannot drift.

export type RequestKind = 'secret' | 'write' | 'delete' | 'sign' | 'key' | 'export' | 'import';
export type RequestState = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled';
export type DecisionVerb = 'once' | 'remember' | 'deny';

/** A process as read by the daemon from /proc (verified, not claimed). */
export interface ProcessInfo {
  pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22): with pid, names the process uniquely. */
  startTime: number;
  uid: number | null;
  comm: string | null;
  exe: string | null;
  cmdline: string[];
  cwd: string | null;
}

export interface RequesterInfo {
  busName: string;
  /** From the bus (GetConnectionCredentials): trustworthy. */
  uid: number;
  userName: string | null;
  /** The calling process, read from /proc by PID from the bus; null if it vanished. */
  process: ProcessInfo | null;
  /** Parents of the calling process, nearest first, up to the session leader (bounded depth). */
  chain: ProcessInfo[];
  systemdUnit: string | null;
  /**
   * What the client says about itself or its own requester (e.g. the agent forwarding a session-bus
   * caller, sd-gpg reporting the repository). Never trusted; always shown as claimed.
   */
  claimed: Record<string, string>;
}

export interface ItemTarget {
  itemId: string;
  collectionId: string;
  collectionLabel: string;
  label: string;
  attributes: Record<string, string>;
}

export interface ChangedFile {
  path: string;
  added: number | null;
  removed: number | null;
}

/** What will be signed, parsed by the daemon from the payload bytes themselves. */
export interface SignDetails {
  payloadKind: 'commit' | 'tag' | 'push-cert' | 'unknown';
  /** Header fields in payload order (tree, parent, author, committer, encoding, object, type, tag, tagger, ...). */
  headers: Array<[string, string]>;
  message: string;
  payloadBytes: number;
  key: { fingerprint: string; keyId: string; userIds: string[]; algorithm: string } | null;
  /** Reported by the client, not derivable from the payload: repository, branch, changed files. */
  reported: { repository?: string; branch?: string; files?: ChangedFile[] };
  /** Places where the client's claims disagree with the payload. */
  contradictions: string[];
}

export interface KeyDetails {
  action: 'import' | 'generate' | 'delete';
  fingerprint: string | null;
  userIds: string[];
  algorithm: string | null;
  /** The console must collect one more secret (the key's own passphrase) to approve. */
  needsPassphrase: boolean;
}

/**
 * What an export gives away, or what an import would add and overwrite. An import is decrypted
 * before anyone is asked, so this describes what the bundle really holds.
 */
export interface BundleDetails {
  direction: 'export' | 'import';
  counts: { collections: number; items: number; keys: number; overwrites: number };
  /** Overwrites first; at most LIMITS.bundleEntriesShown, `more` says how many were left out. */
  entries: Array<{ what: 'collection' | 'item' | 'key'; action: 'add' | 'overwrite' | 'export'; label: string; was: string | null }>;
  more: number;
}

export interface PendingRequest {
  id: string;
  kind: RequestKind;
  /** Milliseconds since the epoch. */
  createdAt: number;
  deadline: number;
  requester: RequesterInfo;
  /** One line, already plain text from our own templates plus untrusted fields. */
  summary: string;
  items: ItemTarget[];
  sign: SignDetails | null;
  key: KeyDetails | null;
  bundle?: BundleDetails;
  /** What "a" (approve and remember) would cover, or null if this request cannot be remembered. */
  rememberScope: { description: string; minutes: number } | null;
}

/**
 * Who asks, as a list row shows it: the UID from the bus, the process's verified executable, and
 * what a forwarder (the agent) reports about the program behind it. No `comm`: a process sets that
 * itself.
 */
export interface RequesterFacts {
  busName: string;
  uid: number;
  userName: string | null;
  process: { pid: number; exe: string | null } | null;
  /** Only the claims a row shows (`via`, `requester.exe`, `requester.pid`); never trusted. */
  claimed: Record<string, string>;
}

/** One row of the console's pending list (ListPending): display-sized, the detail comes with GetRequest. */
export interface PendingSummary {
  id: string;
  kind: RequestKind;
  createdAt: number;
  deadline: number;
  summary: string;
  requester: RequesterFacts;
}

/** ListPending's reply: the oldest requests that fit, and how many wait in all. */
export interface PendingList {
  requests: PendingSummary[];
  total: number;
}

/**
 * GetRequest's reply: one request with every text and list cut to what a screen can show
 * (core/limits.ts `shown*`); `omitted` counts what was left out, by list: `items`,
 * `items.N.attributes`, `sign.message` (lines), `sign.headers`, `sign.files`, `sign.key.userIds`,
 * `key.userIds`, `requester.claimed`, `requester.cmdline`, `sign.contradictions`.
 */
export interface RequestDetail extends PendingRequest {
  omitted: Record<string, number>;
}

export interface HistoryEntry {
  id: string;
  /** 'store': create/unlock/lock/passphrase changes (see core/audit.ts). */
  kind: RequestKind | 'store';
  /** -1 when the row has no requester (e.g. a store event from the console). */
  requesterUid: number;
  requesterPid: number | null;
  requesterExe: string | null;
  target: string;
  /** 'refused': failed before anyone was asked; 'done'/'failed': store events. */
  outcome: RequestState | 'remembered' | 'refused' | 'done' | 'failed';
  scope: string | null;
  /** Why (error code for refused/failed rows), our own text; may be null. */
  detail?: string | null;
  createdAt: number;
  decidedAt: number | null;
}

export interface RememberedDecision {
  id: string;
  kind: RequestKind;
  uid: number;
  exe: string;
  /** Item id for secret reads; `repository\0key` for signing. */
  target: string;
  targetLabel: string;
  createdAt: number;
  expiresAt: number;
}

export interface DaemonStatus {
  initialized: boolean;
  locked: boolean;
  pending: number;
  consoleConnected: boolean;
  version: string;
  requestTimeoutSeconds: number;
  /** A flood being refused with QueueFull: whose, how many so far, since when (ms since the epoch). */
  throttled: { uid: number; refused: number; since: number } | null;
}
