// The daemon's inner seams: what request handlers (items, signing, keys, bundles) get to work
// with. The approval pipeline, requester resolution and audit implement these; handlers depend
// only on these shapes, so each feature module can be built and tested on its own.
import type { CallContext } from '../core/dbus/service.js';
import type { Config } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import type { BundleDetails, ItemTarget, KeyDetails, RequesterInfo, RequestKind, SignDetails, Tier } from '../core/wire.js';
import type { Clock } from './clock.js';
import type { SecretStoreApi } from './store/types.js';

/**
 * What a remembered decision would cover: one entry per target (an item id; for signing the
 * payload kind, key, signer and repository). Who it covers is the gate's (approvals/grant-scope.ts).
 */
export interface RememberSpec {
  kind: RequestKind;
  targets: string[];
  targetLabel: string;
  /**
   * What the holder may do, completing the console's remember line "<holder> may <action> for N
   * minutes", e.g. "read 'GitHub token'". It must name everything the targets bind.
   */
  action: string;
}

export interface ApprovalInput {
  kind: RequestKind;
  requester: RequesterInfo;
  summary: string;
  items?: ItemTarget[];
  sign?: SignDetails;
  key?: KeyDetails;
  bundle?: BundleDetails;
  /** The highest tier among the items or key touched; absent: normal. */
  tier?: Tier;
  /** The requester's reason, already validated (request/validate.ts); untrusted words, shown as such. */
  reason?: string | null;
  /** Bytes the handler keeps while the request waits (e.g. a decrypted bundle), for the pending budget. */
  heldBytes?: number;
  /** null/undefined: this request can only be approved once. */
  remember?: RememberSpec | null;
  /**
   * Answer only from a remembered decision: otherwise reject with NotRemembered and queue nothing.
   * sd-gpg probes this way first, so a remembered signature skips computing what only a human reads.
   */
  onlyIfRemembered?: boolean;
}

export interface ApprovalOutcome {
  /** 'remembered': a remembered decision covered it and nobody was asked. */
  decision: 'once' | 'remember' | 'remembered';
  /** Set when the console approved with ApproveWithSecret (e.g. a key's own passphrase); the receiver wipes it. */
  secret?: Buffer;
}

export interface ApprovalGate {
  /**
   * Resolves when approved. Rejects with SdError Denied, Timeout, Cancelled (the owner's bus name
   * went away), NoConsole, QueueFull or StoreLocked; DeniedByRule or ReasonRequired when a root
   * rule in policy.d says so (approvals/admin-policy.ts). Audit rows are written by the gate.
   */
  request(input: ApprovalInput, ownerBusName: string): Promise<ApprovalOutcome>;
}

export interface RequesterResolver {
  /** The UID from the bus, the connection's opener from /proc, and the caller's claims (context a{sv}) kept apart. */
  resolve(ctx: CallContext, untrustedContext: Record<string, unknown>): Promise<RequesterInfo>;
  /** Throws NotAuthorized unless the caller's UID may use the request interface. */
  assertDesktopCaller(ctx: CallContext): Promise<void>;
  /** Throws NotAuthorized unless the caller's UID is the companion's. */
  assertCompanionCaller(ctx: CallContext): Promise<void>;
}

export interface AuditSink {
  /** Append one row; never pass a secret. */
  record(entry: {
    requestId: string;
    kind: RequestKind | 'store';
    requester: RequesterInfo | null;
    target: string;
    outcome: string;
    scope?: string | null;
    /** Our own short text, e.g. the error code of a refusal. */
    detail?: string | null;
    createdAt: number;
    decidedAt?: number | null;
    /** The requester's reason as it sent it (validated, never rewritten); shown inert by `history`. */
    reason?: string | null;
    /**
     * The grant or rule that allowed (or was made by) this row, comma-separated ids, for `history
     * --rule`; null when a human decided this one request alone.
     */
    rule?: string | null;
  }): void;
}

export interface DaemonServices {
  config: Config;
  logger: Logger;
  store: SecretStoreApi;
  approvals: ApprovalGate;
  requesters: RequesterResolver;
  audit: AuditSink;
  /** Milliseconds since the epoch (clock.wall); injectable so tests can move time. */
  now(): number;
  /** Wall and boot clocks: lifetimes and quotas run on the boot clock. */
  clock: Clock;
}
