// Types that cross the bus as JSON (console interface) or shape the approval pipeline. The daemon
// produces them, the console renders them; both import them from here so they cannot drift.

export type RequestKind = 'secret' | 'write' | 'delete' | 'sign' | 'key' | 'export' | 'import';
export type RequestState = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled';
/**
 * What a human may answer (approvals/scopes.ts says what each covers): once; this process until it
 * exits; this session; this program (in this session, or any session) for N minutes; this program
 * until the store locks; always; deny; deny always. `remember` is the program scope in this
 * session for N minutes (the console's `a`).
 */
export type DecisionVerb = 'once' | 'process' | 'session' | 'program' | 'program-any-session' | 'until-lock' | 'always' | 'remember' | 'deny' | 'deny-always';
export const DECISION_VERBS: readonly DecisionVerb[] = ['once', 'process', 'session', 'program', 'program-any-session', 'until-lock', 'always', 'remember', 'deny', 'deny-always'];
/** A scope beyond once/deny, as offered on the console: the verb, its line in plain words, its span. */
export interface ScopeOffer {
  verb: Exclude<DecisionVerb, 'once' | 'deny' | 'remember'>;
  /** "<who> may <action> <for how long>", from grant-scope.ts and scopes.ts. */
  line: string;
  /** null: until its subject ends, the store locks, or for ever (always, deny always). */
  minutes: number | null;
}
/**
 * How much a human's attention an item or signing key needs: `low` may be covered by "always",
 * `normal` is remembered at most 8 h, `high` is asked every time with a deliberate second step.
 * The desktop may raise a tier; only the console lowers one.
 */
export type Tier = 'low' | 'normal' | 'high';
export const TIERS: readonly Tier[] = ['low', 'normal', 'high'];

/** A process as the daemon read it from /proc (not claimed by the client; not proof of who sends). */
export interface ProcessInfo {
  pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22): with pid, names the process uniquely. */
  startTime: number;
  uid: number | null;
  comm: string | null;
  exe: string | null;
  cmdline: string[];
  cwd: string | null;
  /** Its kernel session id (stat field 6), read with the start time; absent where not read. */
  session?: number;
}

export interface RequesterInfo {
  busName: string;
  /** From the bus (GetConnectionCredentials): trustworthy. */
  uid: number;
  userName: string | null;
  /**
   * The process that opened the connection (the bus's PID), as /proc showed it at the request;
   * null if it was gone or its PID reused. It need not be the sender: a process can connect, fork
   * and exec, and the connection can be handed to any process of the UID.
   */
  process: ProcessInfo | null;
  /**
   * That process's executable when the bus announced the connection (null: unreadable or already
   * gone then); absent when the daemon did not see the connection appear.
   */
  exeAtConnection?: string | null;
  /**
   * What changed between the daemon's reads of that process (connection appeared, request,
   * decision), in the daemon's own words; empty or absent when nothing did.
   */
  changes?: string[];
  /** Parents of the opening process, nearest first, up to the session leader (bounded depth). */
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
  /** The highest tier among what the request touches (items, key); absent means normal. */
  tier?: Tier;
  /** The requester's own words on why it asks (inert, capped); null when none was given. */
  reason?: string | null;
  /** What "a" (approve and remember) would cover, or null if this request cannot be remembered. */
  rememberScope: { description: string; minutes: number } | null;
  /** Every scope the human may pick for this request (besides once and deny); absent: none. */
  scopes?: ScopeOffer[];
  /** Why no program scope is offered (an inline interpreter, an unreadable script), if so. */
  noProgramScope?: string | null;
  /**
   * Tier high only: the word the human types to approve (Console.DecideConfirmed); a plain
   * Decide cannot approve such a request. Sent to the console only.
   */
  confirmWord?: string;
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
  /** The request's tier, so a list row can mark a high one; absent means normal. */
  tier?: Tier;
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
  /** The requester's own words on why it asked, unchecked (show inert); null when none. */
  reason?: string | null;
  /** Ids (comma-separated) of the grant or rule that allowed or was made by this row; null: decided alone. */
  rule?: string | null;
}

export interface RememberedDecision {
  id: string;
  /** The decision's verb (scope), e.g. 'session', 'always', 'deny-always'. */
  scope: Exclude<DecisionVerb, 'once' | 'deny' | 'remember'>;
  /** 'deny': a "deny always" rule that refuses without asking. */
  verdict: 'allow' | 'deny';
  /** Kept in the store across restarts (always, deny always). */
  persisted: boolean;
  kind: RequestKind;
  uid: number;
  /** The executable of the process that opened the connection when the grant was given. */
  exe: string;
  /** Who the grant covers, in the words the remember line showed (approvals/grant-scope.ts). */
  holder: string;
  /** Item id for secret reads; payload kind, key, signer and repository for signing (signing/methods.ts). */
  target: string;
  targetLabel: string;
  createdAt: number;
  /** Milliseconds since the epoch; 0: no time limit (until its subject ends, the store locks, or revoked). */
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
  /** Rate limits in force (daemon/approvals/rate-limits.ts), soonest to end first; absent: none. */
  cooldowns?: RateLimitNotice[];
}

/**
 * A limit the daemon enforces on a program (its verified executable and UID) or on a whole UID:
 * `prompts`, over the prompts-a-minute cap; `cooldown`, refused without asking after too many
 * denied or unanswered requests; `burst`, its remembered decisions paused after a burst of reads.
 */
export interface RateLimitNotice {
  /** What LiftCooldown takes. */
  id: string;
  /** Our own words: "/usr/bin/python3 (uid 1000)" or "any program of uid 1000". */
  subject: string;
  uid: number;
  why: 'prompts' | 'cooldown' | 'burst';
  /** When it ends by itself (ms since the epoch, as of the Status call). */
  until: number;
  /** Requests refused since it began. */
  refused: number;
}
