// The one config schema. Parsed once at start; every error names the key and the bad value, and
// the command exits with EXIT.config (78, EX_CONFIG) so systemd and scripts can tell it apart.
import { z } from 'zod';
import { SdError } from './errors.js';

const userName = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}\$?$/, 'must be a POSIX user name');

export const configSchema = z.strictObject({
  /** The desktop user whose requests the daemon serves. */
  desktopUser: userName,
  /** The companion user the daemon and console run as. */
  companionUser: userName,
  /** Where the store, audit log and runtime files live (the companion's home by default). */
  stateDir: z.string().startsWith('/', 'must be an absolute path'),
  requestTimeoutSeconds: z.number().int().min(1).max(86_400).default(300),
  rememberMinutes: z.number().int().min(1).max(1440).default(10),
  maxPendingPerRequester: z.number().int().min(1).max(10_000).default(50),
  /**
   * What callers may make the daemon hold or write without a human: requests waiting on the
   * console (counts and MiB, per UID and in all), items created without asking per UID and hour,
   * and audit rows per UID and minute for requests nobody decided (daemon/approvals/budget.ts).
   */
  budgets: z.strictObject({
    pendingPerUid: z.number().int().min(1).max(100_000).default(500),
    pendingTotal: z.number().int().min(1).max(100_000).default(1000),
    pendingMiBPerUid: z.number().int().min(1).max(4096).default(96),
    pendingMiBTotal: z.number().int().min(1).max(4096).default(128),
    createsWithoutAskingPerHour: z.number().int().min(0).max(1_000_000).default(200),
    unattendedAuditRowsPerMinute: z.number().int().min(1).max(1_000_000).default(120),
  }).prefault({}),
  /** A lock asked for from the desktop is honoured at most this often (the console's lock always is). */
  desktopLockIntervalSeconds: z.number().int().min(0).max(86_400).default(300),
  logLevel: z.enum(['debug', 'info', 'notice', 'warning', 'error']).default('info'),
  console: z.strictObject({
    vt: z.number().int().min(1).max(63).default(8),
    /** Keys pressed this soon after a request appears or takes focus are ignored. */
    guardMs: z.number().int().min(0).max(5000).default(300),
    /** Switch to the console's VT when a request arrives, and back after the decision. */
    switchToVt: z.boolean().default(false),
  }).prefault({}),
  /** The audit log (daemon/audit/): rows older than retentionDays are pruned at start and daily; 0 keeps all. */
  audit: z.strictObject({
    retentionDays: z.number().int().min(0).max(36_500).default(365),
  }).prefault({}),
  /**
   * How often one program may ask a human, keyed on what the daemon verified (the bus UID and the
   * executable of the connection's opener, never a claim): prompts a minute per program and per
   * UID (over it: RateLimited at once); after so many denied or unanswered prompts within the
   * window, a cooldown (refused without asking); a burst of distinct items read under remembered
   * decisions pauses them and asks (daemon/approvals/rate-limits.ts).
   */
  rateLimits: z.strictObject({
    promptsPerMinutePerSubject: z.number().int().min(1).max(1_000_000).default(12),
    promptsPerMinutePerUid: z.number().int().min(1).max(1_000_000).default(30),
    cooldownAfterUnanswered: z.number().int().min(1).max(1_000_000).default(5),
    cooldownWindowMinutes: z.number().int().min(1).max(1440).default(10),
    cooldownMinutes: z.number().int().min(1).max(1440).default(10),
    burstDistinctItems: z.number().int().min(2).max(1_000_000).default(30),
    burstSeconds: z.number().int().min(1).max(3600).default(10),
  }).prefault({}),
  store: z.strictObject({
    argon2MemoryKiB: z.number().int().min(8).max(4 * 1024 * 1024).default(65_536),
    argon2Iterations: z.number().int().min(1).max(64).default(3),
  }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

export const DEFAULT_CONFIG_PATH = '/etc/secrets-dispatcher/config.json';

export function describeValue(value: unknown): string {
  if (value === undefined) return 'missing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/**
 * Validate an already-decoded config object. `source` names where it came from for the message.
 * Throws SdError('Config') whose message names the first bad key and its value.
 */
export function parseConfig(input: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const prefix = issue.path.length ? `${issue.path.join('.')}.` : '';
    throw new SdError('Config', `${source}: unknown key "${prefix}${issue.keys[0]}" (allowed: ${allowedKeys(issue.path)}).`);
  }
  const key = issue.path.join('.') || '(top level)';
  throw new SdError('Config', `${source}: key "${key}" has bad value ${describeValue(valueAt(input, issue.path))}: ${issue.message}.`);
}

function allowedKeys(path: readonly PropertyKey[]): string {
  let shape: any = configSchema.shape;
  for (const key of path) shape = shape?.[key as string]?.def?.innerType?.shape ?? shape?.[key as string]?.shape;
  return shape ? Object.keys(shape).join(', ') : '?';
}

/** Parse the text of a JSON config file. */
export function parseConfigText(text: string, source: string): Config {
  let decoded: unknown;
  try {
    decoded = JSON.parse(text);
  } catch (err) {
    throw new SdError('Config', `${source}: not valid JSON (${(err as Error).message}).`);
  }
  return parseConfig(decoded, source);
}
