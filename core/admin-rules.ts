// Root's own rules for the approval gate, one JSON file or more in /etc/secrets-dispatcher/policy.d/.
// They only ever restrict (deny, never remember, require a reason); nothing here can approve.
// Read once when the daemon starts: a bad file is a config error naming the file, the key and the
// value (exit 78), and a file anyone but root could have written is refused the same way, since
// the desktop user must not be able to loosen, or plant, the rules that bind them.
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readFileSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { describeValue, valueAt } from './config.js';
import { SdError } from './errors.js';
import type { RequestKind, Tier } from './wire.js';

export const DEFAULT_POLICY_DIR = '/etc/secrets-dispatcher/policy.d';

/** Every request kind, for the schema (the `satisfies` and the check below keep it complete). */
const KINDS = ['secret', 'write', 'delete', 'sign', 'key', 'export', 'import'] as const satisfies readonly RequestKind[];
// Does not compile once RequestKind has a kind the list lacks.
const KINDS_COMPLETE: [Exclude<RequestKind, (typeof KINDS)[number]>] extends [never] ? true : never = true;
void KINDS_COMPLETE;
const TIER_NAMES = ['low', 'normal', 'high'] as const satisfies readonly Tier[];

/** Largest policy file read; a rule file is a few hundred bytes. */
const MAX_FILE_BYTES = 1024 * 1024;

// Root writes these, but the text ends up in the daemon's log, errors sent to the desktop and
// audit rows: no control characters there.
const plain = (max: number) => z.string().min(1).max(max).regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');
/** `*` matches any run of characters (a `/` too); everything else matches itself. */
const glob = plain(512);
const oneOrMore = <T extends z.ZodType>(schema: T) => z.union([schema, z.array(schema).min(1).max(64)]);
const fingerprint = z.string().max(100)
  .transform((s) => s.replace(/\s+/g, '').replace(/^0x/i, '').toUpperCase())
  .pipe(z.string().regex(/^(?:[0-9A-F]{16}|[0-9A-F]{40}|[0-9A-F]{64})$/, 'must be a key fingerprint (40 or 64 hex digits) or a long key ID (16)'));

/** Which requests a rule covers: every matcher given must match (a missing fact never does). */
export const matchSchema = z.strictObject({
  /** Request kinds: secret, write, delete, sign, key, export, import. */
  kind: oneOrMore(z.enum(KINDS)).optional(),
  /** The highest tier among what the request touches (a request without one is normal). */
  tier: oneOrMore(z.enum(TIER_NAMES)).optional(),
  /** The systemd unit the requesting process runs in (from /proc/PID/cgroup), e.g. "ci-*.service". */
  unit: oneOrMore(glob).optional(),
  /** The executable of the process that opened the connection (from /proc/PID/exe). */
  exe: oneOrMore(glob.startsWith('/', 'must be an absolute path (a * may stand for any part)')).optional(),
  /** The signing key of a sign request, or the key of a key request: fingerprint or long key ID. */
  keyFingerprint: oneOrMore(fingerprint).optional(),
  /** Any item the request touches has a label matching this. */
  itemLabel: oneOrMore(glob).optional(),
  /** Any item the request touches has every one of these attributes, each value matching. */
  attributes: z.record(plain(256), glob).optional(),
});

export const EFFECTS = ['deny', 'neverRemember', 'requireReason'] as const;

export const ruleSchema = z.strictObject({
  /** Named in refusals, audit rows and the daemon's log; unique across all files. */
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit'),
  /**
   * deny: refused at once, nobody is asked. neverRemember: asked every time, no remember scope is
   * offered. requireReason: refused at once unless the request carries a reason.
   */
  effect: z.enum(EFFECTS),
  match: matchSchema,
  /** The administrator's words, added to a refusal (e.g. who to ask). */
  note: plain(200).optional(),
});

export const policyFileSchema = z.strictObject({ rules: z.array(ruleSchema).max(1000) });

export type AdminRule = z.infer<typeof ruleSchema>;
export type AdminMatch = z.infer<typeof matchSchema>;
export type AdminEffect = AdminRule['effect'];
/** A rule with the file it came from, as refusals and audit rows name it. */
export interface LoadedAdminRule extends AdminRule { file: string }

/** The keys allowed at `path` in a policy file, for the unknown-key message. */
function allowedKeys(path: readonly PropertyKey[]): string {
  let schema: any = policyFileSchema;
  for (const key of path) {
    while (schema?.def?.innerType) schema = schema.def.innerType;
    if (schema?.def?.type === 'array') schema = schema.def.element;
    else if (schema?.shape) schema = schema.shape[key as string];
  }
  while (schema?.def?.innerType) schema = schema.def.innerType;
  return schema?.shape ? Object.keys(schema.shape).join(', ') : '?';
}

/**
 * The issue a person can act on: for a value-or-list union, the branch that got furthest (a bad
 * entry in a list rather than "not a single value").
 */
function actionable(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code !== 'invalid_union') return issue;
  let best: z.core.$ZodIssue | undefined;
  for (const branch of issue.errors) if (branch[0] && (!best || branch[0].path.length > best.path.length)) best = branch[0];
  return best ? actionable({ ...best, path: [...issue.path, ...best.path] } as z.core.$ZodIssue) : issue;
}

/**
 * Validate one decoded policy file. Throws SdError('Config') naming `source`, the key path (e.g.
 * rules.0.match.kind), the bad value, and the rule's id where it has one.
 */
export function parseAdminRules(input: unknown, source: string): AdminRule[] {
  const result = policyFileSchema.safeParse(input);
  if (result.success) return result.data.rules;
  // A misspelt key first: the "missing" one it leaves behind is the same mistake.
  const issues = result.error.issues;
  const issue = actionable(issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!);
  const [top, index] = issue.path;
  const id = top === 'rules' && typeof index === 'number' ? valueAt(input, ['rules', index, 'id']) : undefined;
  const inRule = typeof id === 'string' ? ` (rule "${id.slice(0, 64)}")` : '';
  if (issue.code === 'unrecognized_keys') {
    const prefix = issue.path.length ? `${issue.path.join('.')}.` : '';
    const key = issue.keys[0]!;
    throw new SdError('Config', `${source}: unknown key "${prefix}${key}"${inRule} with value ${describeValue(valueAt(input, [...issue.path, key]))} (allowed: ${allowedKeys(issue.path)}).`);
  }
  const key = issue.path.join('.') || '(top level)';
  throw new SdError('Config', `${source}: key "${key}"${inRule} has bad value ${describeValue(valueAt(input, issue.path))}: ${issue.message}.`);
}

/** Parse the text of one policy file. */
export function parseAdminRulesText(text: string, source: string): AdminRule[] {
  let decoded: unknown;
  try {
    decoded = JSON.parse(text);
  } catch (err) {
    throw new SdError('Config', `${source}: not valid JSON (${(err as Error).message}).`);
  }
  return parseAdminRules(decoded, source);
}

export interface LoadOptions {
  /** The only owner allowed for the directory, its parents and its files; default 0 (root). */
  trustedUid?: number;
  /** A missing directory is no rules (the default one) or a config error (one named on the command line). */
  mayBeAbsent?: boolean;
}

const octal = (m: number) => (m & 0o7777).toString(8).padStart(4, '0');
/** The daemon runs as the companion user, so root's files must be readable by others. */
const because = (err: unknown) => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EACCES' ? 'EACCES: the daemon runs as the companion user; make it readable: chmod 0755 for the directory, 0644 for files' : code ?? (err as Error).message;
};

/** Throws unless `st` is owned by the trusted UID and nobody else may write it (a sticky parent may be shared). */
function judge(path: string, st: Stats, trustedUid: number, sharedOk: boolean): void {
  const owner = trustedUid === 0 ? 'root' : `UID ${trustedUid}`;
  if (st.uid !== trustedUid) throw new SdError('Config', `${path}: owned by UID ${st.uid}, not ${owner}; admin rules are only read from files and directories only ${owner} can change (sudo chown ${owner === 'root' ? 'root:root' : trustedUid} ${path}).`);
  const sticky = (st.mode & 0o1000) !== 0;
  if ((st.mode & 0o022) !== 0 && !(sharedOk && sticky)) {
    throw new SdError('Config', `${path}: writable by ${(st.mode & 0o002) !== 0 ? 'everyone' : 'its group'} (mode ${octal(st.mode)}); admin rules are only read from files and directories only ${owner} can change (sudo chmod go-w ${path}).`);
  }
}

/** Every parent of `dir`, up to /: owned by root, and writable by nobody else unless sticky (like /tmp). */
function judgeParents(dir: string, trustedUid: number): void {
  for (let cur = dirname(dir); ; cur = dirname(cur)) {
    const st = lstatSync(cur);
    // Root's directories are fine whoever is trusted (tests trust their own UID below /tmp); a
    // sticky one lets others add entries but not replace ours.
    judge(cur, st, st.uid === 0 ? 0 : trustedUid, true);
    if (cur === '/') return;
  }
}

function readPolicyFile(path: string, trustedUid: number): string {
  let fd: number;
  try {
    // No following a link (its target's directories could be anyone's); no blocking on a FIFO.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SdError('Config', code === 'ELOOP' ? `${path}: is a symbolic link; put the file itself in the directory.` : `${path}: cannot read (${because(err)}).`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new SdError('Config', `${path}: not a regular file.`);
    judge(path, st, trustedUid, false);
    if (st.size > MAX_FILE_BYTES) throw new SdError('Config', `${path}: larger than ${MAX_FILE_BYTES} bytes.`);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Read every `*.json` in `dir` (names starting with "." skipped), in name order. Throws
 * SdError('Config') for the first bad file, an unsafe owner or mode, or an id used twice.
 */
export function loadAdminRules(dir: string, options: LoadOptions = {}): LoadedAdminRule[] {
  const trustedUid = options.trustedUid ?? 0;
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && options.mayBeAbsent) return [];
    throw new SdError('Config', `${dir}: cannot read the admin rules directory (${because(err)}).`);
  }
  if (st.isSymbolicLink()) throw new SdError('Config', `${dir}: is a symbolic link; admin rules are read from the directory itself.`);
  if (!st.isDirectory()) throw new SdError('Config', `${dir}: not a directory.`);
  judgeParents(dir, trustedUid);
  judge(dir, st, trustedUid, false);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new SdError('Config', `${dir}: cannot list (${because(err)}).`);
  }
  const rules: LoadedAdminRule[] = [];
  const seen = new Map<string, string>();
  for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort()) {
    const file = join(dir, name);
    for (const [index, rule] of parseAdminRulesText(readPolicyFile(file, trustedUid), file).entries()) {
      const earlier = seen.get(rule.id);
      if (earlier) throw new SdError('Config', `${file}: key "rules.${index}.id" has bad value "${rule.id}": already used in ${earlier}; ids must be unique across all files.`);
      seen.set(rule.id, file);
      rules.push({ ...rule, file });
    }
  }
  return rules;
}
