// The whole screen as lines of styled segments, computed from the state and the terminal size. Pure:
// blessed only paints what this returns (tui/screen.ts), so layout, truncation and the marking of
// claimed values are unit-tested without a terminal. Every value that came from a requester goes
// through core/untrusted-text.ts here and nowhere else.
import { LIMITS } from '../core/limits.js';
import { blockParts, displayWidth, inlineParts, inlineText, omittedLinesMarker, TRUNCATION_MARK, truncateToWidth, wrappedParts } from '../core/untrusted-text.js';
import type { HistoryEntry, PendingSummary, ProcessInfo, RememberedDecision, RequestDetail, RequesterFacts, RequestKind } from '../core/wire.js';
import { focusedRequest, type ConsoleState, type GoneFocus, type PassphrasePrompt, type RecentDecision, type ShownRecoveryCode } from './state.js';
import { counted } from '../core/counted.js';

/**
 * `marker` is ours alone: truncation marks, "[… N more lines not shown]", "(claimed)". Text from a
 * requester is never drawn in it, so a requester who types the same words cannot pass for us.
 */
export type Style =
  | 'normal' | 'bold' | 'dim' | 'title' | 'focus' | 'label' | 'claimed' | 'warn' | 'error' | 'marker'
  | 'badge-secret' | 'badge-sign' | 'badge-write' | 'badge-delete' | 'badge-key';

export interface Segment { text: string; style: Style }
export type Line = Segment[];

export interface View {
  /** Exactly `height` lines, none wider than `width`. */
  lines: Line[];
  /** For the scrolling views: lines shown at once and the last useful first line. */
  pageLines: number;
  maxScroll: number;
}

export interface Size { width: number; height: number }

/** Lines of a commit message or file list kept for the full-detail view (all the daemon sends); the rest is counted. */
export const FULL_DETAIL_MAX_LINES = Math.max(LIMITS.shownMessageLines, LIMITS.shownFiles);
/** Notices stay this long. */
export const NOTICE_MS = 8000;
const LABEL_WIDTH = 12;

const BADGES: Record<RequestKind, { text: string; style: Style }> = {
  secret: { text: 'SECRET', style: 'badge-secret' },
  sign: { text: 'SIGN', style: 'badge-sign' },
  write: { text: 'WRITE', style: 'badge-write' },
  delete: { text: 'DELETE', style: 'badge-delete' },
  key: { text: 'KEY', style: 'badge-key' },
  export: { text: 'SECRET', style: 'badge-secret' },
  import: { text: 'WRITE', style: 'badge-write' },
};

const seg = (text: string, style: Style = 'normal'): Segment => ({ text, style });

/** A requester's text as segments: inert, cut to the width, the cut marked in our own style. */
export function shown(untrusted: string | null | undefined, maxWidth: number, style: Style = 'normal'): Segment[] {
  const s = inlineParts(untrusted, { maxWidth });
  return s.cut ? [seg(s.text, style), seg(TRUNCATION_MARK, 'marker')] : [seg(s.text, style)];
}

/** Our own marker line for what was left out ("[… 3 more items …]"). */
const more = (text: string): Segment => seg(`[… ${text}]`, 'marker');

export function badge(kind: RequestKind): Segment {
  const b = BADGES[kind];
  return seg(b.text.padEnd(6), b.style);
}

export function countdown(deadline: number, now: number): string {
  const left = Math.max(0, Math.ceil((deadline - now) / 1000));
  return `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
}

function clock(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** Cut a line to the width (segment by segment) and pad it with spaces to exactly the width. */
export function fitLine(line: Line, width: number): Line {
  const out: Line = [];
  let used = 0;
  for (const s of line) {
    if (used >= width) break;
    const w = displayWidth(s.text);
    if (used + w <= width) {
      out.push(s);
      used += w;
    } else {
      // The view's own cut of a line too wide for the screen, marked like every other cut.
      const cut = truncateToWidth(s.text, width - used);
      out.push({ text: cut.slice(0, -TRUNCATION_MARK.length), style: s.style }, seg(TRUNCATION_MARK, 'marker'));
      used += displayWidth(cut);
    }
  }
  if (used < width) {
    const last = out[out.length - 1];
    // Padding keeps the style of a full-width bar (title, focus) and is plain otherwise.
    const style = last && (last.style === 'title' || last.style === 'focus') ? last.style : 'normal';
    out.push(seg(' '.repeat(width - used), style));
  }
  return out;
}

export function lineText(line: Line): string {
  return line.map((s) => s.text).join('');
}

/** The Secret Service agent says so in its claims: it asks for the program it names. */
export function forwardedByAgent(r: RequesterFacts): boolean {
  return r.claimed.via === 'secret-service-agent';
}

/**
 * Who asks, verified facts first: the UID from the bus; then, for agent traffic, that it came via
 * the Secret Service agent and the program the agent reports (marked as reported); otherwise the
 * executable the daemon read from /proc. Never the process's own name (comm): it sets that itself.
 */
export function requesterLead(r: RequesterFacts, width: number): Segment[] {
  const out: Segment[] = [seg(`uid ${r.uid} `, 'bold')];
  const p = r.process;
  if (forwardedByAgent(r)) {
    out.push(seg('via the Secret Service agent: ', 'normal'));
    // What is left after "uid N via the Secret Service agent: " and " (reported)".
    out.push(...shown(r.claimed['requester.exe'] ?? '?', Math.max(12, width - 50), 'claimed'), seg(' (reported)', 'marker'));
    return out;
  }
  if (!p) return [...out, seg('(process gone)', 'dim')];
  out.push(...(p.exe === null ? [seg('(exe unreadable)', 'dim')] : shown(p.exe, Math.max(8, width - 18), 'bold')), seg(`[${p.pid}]`, 'bold'));
  return out;
}

function listRow(r: PendingSummary, focused: boolean, now: number, width: number): Line {
  const style: Style = focused ? 'focus' : 'normal';
  // The lead (who asks) before the summary: it is what a person must be able to trust.
  const lead = requesterLead(r.requester, Math.floor(width * 0.7));
  const leadWidth = lead.reduce((n, x) => n + displayWidth(x.text), 0);
  return [
    seg(`${focused ? '>' : ' '} `, style), badge(r.kind), ...(r.tier === 'high' ? [seg(' HIGH', 'error')] : []), seg(` ${countdown(r.deadline, now).padStart(5)}  `, style),
    ...lead, seg('  ', style),
    ...shown(r.summary, Math.max(10, width - 18 - leadWidth), style),
  ];
}

function field(label: string | Segment[], value: string | Segment[], valueStyle: Style = 'normal', extra?: Segment): Line {
  const labelSegs = typeof label === 'string' ? [seg(label, 'label')] : label;
  // Padded by columns, not characters: a wide character in a label takes two.
  const pad = Math.max(0, LABEL_WIDTH - labelSegs.reduce((n, x) => n + displayWidth(x.text), 0));
  const line = [...labelSegs, seg(' '.repeat(pad), 'label'), ...(typeof value === 'string' ? [seg(value, valueStyle)] : value)];
  if (extra) line.push(extra);
  return line;
}

const CLAIMED = seg(' (claimed)', 'marker');

/** "[… 3 more attributes not sent]" when the daemon left entries of a list out. */
function omittedLine(r: RequestDetail, key: string, what: string): Line[] {
  const n = r.omitted?.[key] ?? 0;
  return n > 0 ? [field('', [more(`${n} more ${what} not shown`)])] : [];
}

function processSegments(p: ProcessInfo, width: number): Segment[] {
  return [...(p.exe === null ? [seg('(exe unreadable)', 'dim')] : shown(p.exe, Math.max(8, Math.floor(width / 2)))), seg(`[${p.pid}]`)];
}

/**
 * What /proc said about the process that opened the connection, labelled as exactly that: it is
 * not proof of who sends (a process can connect, fork and exec). Changes between the daemon's
 * reads come first, in the warning style.
 */
function openerLines(r: RequestDetail, v: number): Line[] {
  const p = r.requester.process;
  if (!p) return [field('  opener', 'the process that opened the connection is gone', 'warn')];
  const lines = (r.requester.changes ?? []).map((c) => field('  changed', shown(`pid ${p.pid} ${c}`, v, 'warn')));
  const lead = `the process that opened the connection (pid ${p.pid}) now runs `;
  lines.push(field('  exe', [seg(lead), ...shown(p.exe ?? '(unreadable)', Math.max(8, v - lead.length))]));
  lines.push(field('  cmdline', shown(p.cmdline.join(' '), v)));
  lines.push(...omittedLine(r, 'requester.cmdline', 'arguments'));
  lines.push(field('  cwd', shown(p.cwd ?? '(unreadable)', v)));
  return lines;
}

function requesterLines(r: RequestDetail, width: number): Line[] {
  const v = width - LABEL_WIDTH;
  const q = r.requester;
  const p = q.process;
  const lines: Line[] = [
    field('Requester', [seg(`uid ${q.uid}`, 'bold'), ...(q.userName ? [seg(' ('), ...shown(q.userName, 32, 'bold'), seg(')')] : []), seg(p ? `  pid ${p.pid}` : '  process gone', 'bold')]),
  ];
  lines.push(...openerLines(r, v));
  if (q.systemdUnit) lines.push(field('  unit', shown(q.systemdUnit, v)));
  if (q.chain.length) lines.push(field('  parents', q.chain.flatMap((c, i) => [...(i ? [seg(' < ')] : []), ...processSegments(c, width)])));
  lines.push(field('  bus name', shown(q.busName, v, 'dim')));
  // A signing client's repository, branch and file list are already shown (as claimed) with the payload.
  const shownWithPayload = r.sign ? new Set(['repository', 'branch', 'files', 'filesTree', 'filesOmitted']) : new Set<string>();
  for (const [key, value] of Object.entries(q.claimed)) {
    if (shownWithPayload.has(key)) continue;
    const k = shown(key, 24);
    const kw = k.reduce((n, x) => n + displayWidth(x.text), 0);
    lines.push(field('  claims', [...k, seg(': '), ...shown(value, Math.max(8, v - kw - 14))], 'normal', CLAIMED));
  }
  lines.push(...omittedLine(r, 'requester.claimed', 'claims'));
  return lines;
}

function itemLines(r: RequestDetail, width: number, full: boolean): Line[] {
  const v = width - LABEL_WIDTH;
  const lines: Line[] = [];
  const shownItems = full ? r.items : r.items.slice(0, 3);
  shownItems.forEach((item, i) => {
    lines.push(field('Item', shown(item.label, v, 'bold')));
    lines.push(field('Collection', shown(item.collectionLabel || item.collectionId, v)));
    for (const [key, value] of Object.entries(item.attributes)) {
      const k = shown(key, 32);
      const kw = k.reduce((n, x) => n + displayWidth(x.text), 0);
      lines.push(field('  attribute', [...k, seg(' = '), ...shown(value, Math.max(8, v - kw - 3))]));
    }
    lines.push(...omittedLine(r, `items.${i}.attributes`, 'attributes'));
  });
  const notSent = r.omitted?.items ?? 0;
  if (shownItems.length < r.items.length) lines.push(field('', [more(`${counted(r.items.length - shownItems.length + notSent, 'more item')}: Enter for all`)]));
  else if (notSent > 0) lines.push(...omittedLine(r, 'items', 'items'));
  return lines;
}

/** A message block: requester lines plain, our "[… N more lines not shown]" in the marker style. */
function messageLines(r: RequestDetail, v: number, full: boolean): Line[] {
  const block = blockParts(r.sign!.message, { maxWidth: v, maxLines: full ? FULL_DETAIL_MAX_LINES : 6 });
  const lines = block.lines.map((l, i) => field(i === 0 ? 'Message' : '', l.cut ? [seg(l.text), seg(TRUNCATION_MARK, 'marker')] : [seg(l.text)]));
  const omitted = block.omitted + (r.omitted?.['sign.message'] ?? 0);
  if (omitted > 0) lines.push(field(lines.length ? '' : 'Message', [seg(omittedLinesMarker(omitted), 'marker')]));
  return lines;
}

/** Identity lines whose value ends in git's "EPOCH ZONE" (author, committer, tagger). */
const DATED_HEADERS = new Set(['author', 'committer', 'tagger']);

/**
 * "Name <email> 1796317199 +0000" → "Name <email> 2026-12-03 16:59:59 +0000 (1796317199)": the time
 * as the signer's clock showed it (in the header's own zone, as git log does), the raw value kept
 * for whoever compares it with git cat-file. Anything else in the payload stays as it came.
 */
export function readableIdentityTime(value: string): string {
  const m = /^(.* )(\d{1,11}) ([+-])([01]\d|2[0-3])([0-5]\d)$/.exec(value);
  if (!m) return value;
  const [, who, epoch, sign, hh, mm] = m;
  const offsetSeconds = (sign === '-' ? -1 : 1) * (Number(hh) * 60 + Number(mm)) * 60;
  const local = new Date((Number(epoch) + offsetSeconds) * 1000).toISOString().slice(0, 19).replace('T', ' ');
  return `${who}${local} ${sign}${hh}${mm} (${epoch})`;
}

function signLines(r: RequestDetail, width: number, full: boolean): Line[] {
  const s = r.sign!;
  const v = width - LABEL_WIDTH;
  const lines: Line[] = [];
  for (const c of s.contradictions) lines.push(field('MISMATCH', shown(c, v, 'error')));
  lines.push(...omittedLine(r, 'sign.contradictions', 'mismatches'));
  const reported = (label: string, value: string | undefined, style: Style) => (value === undefined
    ? field(label, '(not reported by the client)', 'dim')
    : field(label, shown(value, v - 10, style), style, CLAIMED));
  lines.push(reported('Repository', s.reported.repository, 'bold'), reported('Branch', s.reported.branch, 'normal'));
  if (s.key) {
    lines.push(field('Key', `${s.key.fingerprint} ${s.key.algorithm}`, 'bold'));
    for (const uid of s.key.userIds) lines.push(field('', shown(uid, v)));
    lines.push(...omittedLine(r, 'sign.key.userIds', 'user ids'));
  } else {
    lines.push(field('Key', '(no matching key)', 'warn'));
  }
  lines.push(field('Object', `${s.payloadKind}, ${s.payloadBytes} bytes`));
  const labels: Record<string, string> = { author: 'Author', committer: 'Committer', parent: 'Parent', tagger: 'Tagger', tag: 'Tag', object: 'Object id', type: 'Type', tree: 'Tree' };
  for (const [name, value] of s.headers) {
    const label = labels[name];
    if (!label && !full) continue;
    lines.push(field(label ?? shown(name, LABEL_WIDTH - 1, 'label'), shown(DATED_HEADERS.has(name) ? readableIdentityTime(value) : value, v)));
  }
  if (full) lines.push(...omittedLine(r, 'sign.headers', 'header lines'));
  lines.push(...messageLines(r, v, full));
  if (s.reported.files) {
    const files = s.reported.files;
    const notSent = r.omitted?.['sign.files'] ?? 0;
    const shownFiles = full ? files.slice(0, FULL_DETAIL_MAX_LINES) : files.slice(0, 5);
    lines.push(field('Files', `${files.length + notSent} changed`, 'normal', CLAIMED));
    for (const f of shownFiles) {
      const counts = `${f.added === null ? '-' : `+${f.added}`} ${f.removed === null ? '-' : `-${f.removed}`}`.padEnd(12);
      lines.push(field('', [seg(`${counts} `), ...shown(f.path, v - 13)]));
    }
    const left = files.length - shownFiles.length + notSent;
    if (left > 0) lines.push(field('', [more(`${counted(left, 'more file')}${full ? ' not shown' : ': Enter for all'}`)]));
  }
  return lines;
}

function keyLines(r: RequestDetail, width: number): Line[] {
  const k = r.key!;
  const v = width - LABEL_WIDTH;
  const lines = [field('Key action', k.action, 'bold'), field('Fingerprint', k.fingerprint ?? '(new)'), field('Algorithm', shown(k.algorithm ?? '?', v))];
  for (const uid of k.userIds) lines.push(field('User id', shown(uid, v)));
  lines.push(...omittedLine(r, 'key.userIds', 'user ids'));
  if (k.needsPassphrase) lines.push(field('', 'Approving asks for the key\'s own passphrase.', 'warn'));
  return lines;
}

/** An export: what leaves and who holds its passphrase. An import: what it adds and, first, what it overwrites. */
function bundleLines(r: RequestDetail, width: number, full: boolean): Line[] {
  const b = r.bundle!;
  const v = width - LABEL_WIDTH;
  const { counts } = b;
  const lines: Line[] = b.direction === 'export'
    ? [
      field('Bundle', `every secret (${counted(counts.items, 'item')})${counts.keys ? ` and ${counted(counts.keys, 'PRIVATE signing key')}` : ''}`, 'warn'),
      field('', 'its passphrase was chosen by the requester: to the requester it is plaintext', 'warn'),
    ]
    : [field('Bundle', `adds ${counted(counts.items, 'item')} and ${counted(counts.keys, 'signing key')}; overwrites ${counts.overwrites} here`, counts.overwrites ? 'warn' : 'bold')];
  const shownEntries = full ? b.entries : b.entries.slice(0, 8);
  for (const e of shownEntries) {
    const style: Style = e.action === 'overwrite' ? 'warn' : 'normal';
    const what = [seg(`${e.what} `, style), ...shown(e.label, Math.max(10, e.was === null ? v - 12 : Math.floor(v / 2) - 8), style)];
    const was = e.was === null ? [] : [seg('  (now ', style), ...shown(e.was, Math.max(10, Math.floor(v / 2) - 8), style), seg(')', style)];
    lines.push(field(e.action === 'overwrite' ? 'OVERWRITES' : e.action === 'add' ? 'adds' : 'exports', [...what, ...was]));
  }
  const left = b.entries.length - shownEntries.length + b.more;
  if (left > 0) lines.push(field('', [more(`${left} more not shown${full ? '' : ': Enter for full detail'}`)]));
  return lines;
}

/**
 * The requester's reason: its own words, not checked by anyone, so it is labelled as such, drawn
 * in the claimed style and inert (an escape sequence shows as text). Wrapped, never cut in the
 * full view (the daemon caps it at LIMITS.reasonChars).
 */
function reasonLines(r: RequestDetail, v: number, full: boolean): Line[] {
  if (!r.reason) return [];
  const label = "(the requester's words, unchecked)";
  const wrapped = wrappedParts(r.reason, { maxWidth: v, maxLines: full ? FULL_DETAIL_MAX_LINES : 3 });
  return [
    field('Reason', label, 'marker'),
    ...wrapped.lines.map((text, i) => field('', [seg(text, 'claimed'), ...(wrapped.cut && i === wrapped.lines.length - 1 ? [seg(TRUNCATION_MARK, 'marker')] : [])])),
  ];
}

/** Every detail line of one request; `full` keeps long messages and lists whole (up to the cap). */
export function detailLines(r: RequestDetail, width: number, now: number, full: boolean): Line[] {
  const v = width - LABEL_WIDTH;
  const lines: Line[] = [
    [seg('Request'.padEnd(LABEL_WIDTH), 'label'), badge(r.kind), seg(`  expires in ${countdown(r.deadline, now)}  `), seg('id ', 'dim'), ...shown(r.id, 40, 'dim')],
    field('Summary', shown(r.summary, v)),
    ...reasonLines(r, v, full),
    tierLine(r),
  ];
  if (r.sign) lines.push(...signLines(r, width, full));
  if (r.key) lines.push(...keyLines(r, width));
  if (r.bundle) lines.push(...bundleLines(r, width, full));
  if (r.items.length) lines.push(...itemLines(r, width, full));
  lines.push(...requesterLines(r, width));
  lines.push(...scopeLines(r, v));
  return lines;
}

/** Each key that would grant (or refuse) more than once, with the daemon's words for what it covers. */
const SCOPE_LABELS: Record<string, string> = {
  program: 'a program', process: 'P process', session: 'S session', 'program-any-session': 'A any sess.', 'until-lock': 'L til lock', always: '! always', 'deny-always': 'N never',
};

/** A line of our own words around untrusted ones, wrapped (core/untrusted-text.ts) onto up to `maxLines` lines, inert. */
function wrappedField(label: string, untrusted: string, v: number, style: Style, maxLines = 5): Line[] {
  const wrapped = wrappedParts(untrusted, { maxWidth: v, maxLines });
  const last = wrapped.lines.length - 1;
  return wrapped.lines.map((text, i) => field(i === 0 ? label : '', [seg(text, style), ...(wrapped.cut && i === last ? [seg(TRUNCATION_MARK, 'marker')] : [])]));
}

function scopeLines(r: RequestDetail, v: number): Line[] {
  const scope = r.rememberScope;
  const lines: Line[] = [];
  if (r.tier === 'high') {
    lines.push(field('a remembers', 'nothing: tier high is never remembered; y asks for the word shown', 'dim'));
  } else if (scope) {
    // The daemon's description usually names the duration already; the number is shown either way.
    const saysMinutes = new RegExp(`\\b${scope.minutes} min`).test(scope.description) || /\bhours?\b/.test(scope.description);
    lines.push(...wrappedField('a remembers', saysMinutes ? scope.description : `${scope.description} for ${scope.minutes} min`, Math.max(10, v), 'bold'));
    lines.push(field('', '1 / 2 / 3 / 4: the same for 1 minute / 10 minutes / 1 hour / 8 hours', 'dim'));
  } else if ((r.scopes ?? []).some((o) => o.verb !== 'deny-always')) {
    lines.push(field('a remembers', 'nothing: no program scope for this request (see the other keys below)', 'dim'));
  } else {
    lines.push(field('a remembers', 'nothing: this request can only be allowed once or denied', 'dim'));
  }
  if (r.noProgramScope) lines.push(field('', shown(`(no program scope: ${r.noProgramScope})`, v, 'dim')));
  for (const offer of r.scopes ?? []) {
    if (offer.verb === 'program' || offer.line === scope?.description) continue;
    lines.push(...wrappedField(SCOPE_LABELS[offer.verb]!, offer.line, Math.max(10, v), offer.verb === 'deny-always' ? 'warn' : 'bold'));
  }
  return lines;
}

/** The tier, near the top: for high, what approving takes (the word, typed after y). */
function tierLine(r: RequestDetail): Line {
  if (r.tier === 'high') {
    return field('Tier', [seg(' HIGH ', 'error'), seg('  asked every time, never remembered: y, then type the word ', 'warn'), seg(r.confirmWord ?? '?', 'bold')]);
  }
  return field('Tier', r.tier ?? 'normal', r.tier === 'low' ? 'dim' : 'normal');
}

/** What stands where the focused request's detail would be when there is none to show. */
function goneLines(gone: GoneFocus, width: number): Line[] {
  return [
    [seg('That request is gone', 'warn'), seg(` (${gone.why === 'expired' ? 'it expired' : 'withdrawn by its requester, or decided elsewhere'}). Nothing was decided.`, 'warn')],
    [seg(`${BADGES[gone.kind].text.padEnd(7)}`, 'dim'), ...shown(gone.summary, Math.max(10, width - 8), 'dim')],
    [seg('Decision keys do nothing until you pick a request: j or k (or the arrow keys).', 'bold')],
  ];
}

function recentLine(d: RecentDecision, width: number): Line {
  // 'gone': it left the queue without a key here (requester gone, or decided by another console).
  const outcome = d.outcome === 'deny-always' ? 'denied always' : d.outcome === 'once' ? 'allowed once' : d.outcome === 'deny' ? 'denied' : d.outcome === 'expired' ? 'expired' : d.outcome === 'gone' ? 'ended' : `allowed: ${d.outcome}`;
  return [seg(`  ${clock(d.at)} ${outcome.padEnd(19)} ${BADGES[d.kind].text.padEnd(7)}`, 'dim'), ...shown(d.summary, Math.max(10, width - 40), 'dim')];
}

function titleLine(state: ConsoleState, now: number): Line {
  const s = state.status;
  let right = '';
  if (state.connection === 'lost') right = 'DAEMON NOT REACHABLE - reconnecting';
  else if (state.connection === 'connecting' || !s) right = 'connecting to the daemon';
  else right = `store ${!s.initialized ? 'not created' : s.locked ? 'LOCKED' : 'unlocked'} | ${state.pending.length + state.waitingBeyond} pending | ${clock(now)}`;
  return [seg(' Secrets Dispatcher - approval console', 'title'), seg(`   ${right} `, state.connection === 'lost' ? 'error' : 'title')];
}

/** Under the title while it lasts: a flood is being turned away, so new requests from that UID fail at once. */
function floodLine(state: ConsoleState): Line | null {
  const t = state.status?.throttled;
  if (!t || state.connection !== 'connected') return null;
  return [seg(` uid ${t.uid}: ${counted(t.refused, 'request')} refused since ${clock(t.since)}, too many waiting (queue full); new requests from it fail until the queue drains `, 'error')];
}

/**
 * Under the title while any is in force: the rate limit that ends soonest, whose program it is
 * (inert: an executable's path is the requester's to choose), and the key that lifts it.
 */
function cooldownLine(state: ConsoleState, width: number): Line | null {
  const all = state.status?.cooldowns ?? [];
  const n = all[0];
  if (!n || state.connection !== 'connected') return null;
  const why = {
    cooldown: `in cooldown until ${clock(n.until)} (too many denied or unanswered), refused without asking`,
    prompts: `asks too often: ${n.refused} refused until ${clock(n.until)}`,
    burst: `read many items at once: its remembered decisions are paused until ${clock(n.until)} or you allow one`,
  }[n.why];
  const more = all.length > 1 ? ` (+${all.length - 1} more)` : '';
  // The key first, so a narrow screen cuts the explanation, never the way out.
  return [seg(` c lifts it${more}: `, 'error'), ...shown(n.subject, Math.max(10, Math.floor(width * 0.4)), 'error'), seg(` ${why} `, 'error')];
}

const LIST_KEYS = 'y allow once  a allow+remember  n deny  j/k move  Enter detail  ? help  h history  r remembered  l lock  p passphrase';

/**
 * The key reminder, wrapped between keys onto as many lines as the width needs: a text-mode VT8 is
 * 80 columns, and the list's keys take 113 (all of them are on the help screen too).
 */
function wrapKeys(keys: string, width: number): Line[] {
  const lines: string[] = [];
  for (const key of keys.split('  ')) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last]!.length + 2 + key.length <= width) lines[last] += `  ${key}`;
    else lines.push(key);
  }
  return lines.map((l) => [seg(l, 'bold')]);
}

function statusLines(state: ConsoleState, width: number): Line[] {
  const keys: Record<string, string> = {
    list: LIST_KEYS,
    detail: 'y allow once  a allow+remember  n deny  t tier  j/k scroll  PgUp/PgDn page  Esc back',
    help: 'any key: back',
    history: 'j/k scroll  Esc back',
    remembered: 'j/k select  d revoke  X revoke everything  Esc back',
  };
  if (state.recoveryCode !== null) return [[seg('Enter: I have written the recovery code down', 'bold')]];
  if (state.prompt) {
    const p = state.prompt;
    const canCancel = p.purpose === 'key-passphrase' || p.purpose === 'confirm-word' || p.purpose === 'tier' || p.flow === 'change' || p.flow === 'reset';
    return wrapKeys(`Enter submit  Ctrl+U clear  Backspace delete${canCancel ? '  Esc cancel' : ''}`, width);
  }
  return wrapKeys(keys[state.mode]!, width);
}

function noticeLine(state: ConsoleState, now: number): Line {
  const n = state.notice;
  if (!n || now - n.at > NOTICE_MS) return [];
  return [seg(n.text, n.level === 'info' ? 'bold' : n.level)];
}

function promptText(p: PassphrasePrompt): string {
  switch (p.purpose) {
    case 'unlock':
      return 'The store is locked. Passphrase: ';
    case 'new':
      if (p.flow === 'change') return 'Choose the new passphrase: ';
      if (p.flow === 'reset') return 'Choose a new passphrase for the store: ';
      return 'First run: choose a passphrase for the new store: ';
    case 'confirm':
      return 'Type the new passphrase again: ';
    case 'current':
      return 'Changing the passphrase. Current passphrase: ';
    case 'recovery-code':
      return 'Resetting the passphrase. Recovery code (as written down): ';
    case 'key-passphrase':
      return 'The key is protected by its own passphrase; type it to approve (Esc: back, request stays pending): ';
    case 'confirm-word':
      return `Tier high. Type the word ${p.word ?? ''} to approve once (Esc: back, request stays pending): `;
    case 'tier':
      return `Set the tier of ${p.tierTarget?.label ?? 'this request'}: low, normal or high (Esc: back): `;
  }
}

function promptLines(state: ConsoleState): Line[] {
  const p = state.prompt!;
  const typed = Buffer.from(p.buffer.subarray(0, p.length)).toString('utf8');
  // A recovery code is copied from paper: seeing it helps find a typo. Passphrases stay masked.
  // So are a confirm word and a tier name: neither is a secret.
  const plain = p.purpose === 'recovery-code' || p.purpose === 'confirm-word' || p.purpose === 'tier';
  const shown = plain ? inlineText(typed, { maxWidth: 300 }) : '*'.repeat([...typed].length);
  const lines: Line[] = [];
  if (p.purpose === 'unlock') lines.push([seg('Forgot it? Ctrl+R: reset with the recovery code.', 'dim')]);
  lines.push([seg(promptText(p), 'warn'), seg(shown, 'bold')]);
  return lines;
}

/** The one screen that shows a recovery code, after creating the store and after a reset. */
function recoveryCodeLines(code: ShownRecoveryCode): Line[] {
  const why = code.reason === 'created'
    ? [seg('The store is created.', 'bold')]
    : [seg('The passphrase is reset. The old recovery code no longer works; this new one replaces it.', 'bold')];
  return [
    [], why,
    [seg('Recovery code (shown only this once; with it a forgotten passphrase can be reset):')],
    [], [seg(`    ${code.text}`, 'bold')], [],
    [seg('Write it down and keep it apart from this computer, then press Enter.')],
  ];
}

function helpLines(): Line[] {
  const rows: Array<[string, string]> = [
    ['y', 'allow the request on screen once'],
    ['a', 'allow it for this program in this session: the detail pane says exactly what and for how long'],
    ['1 2 3 4', 'the same for 1 minute, 10 minutes, 1 hour, 8 hours'],
    ['P  S', 'allow this process until it exits / this login session (at most 8 hours)'],
    ['A  L', 'allow this program in any session / until the store locks'],
    ['!', 'allow always (low-tier items only; kept across restarts)'],
    ['n  N', 'deny it / deny always (kept across restarts, refused without asking)'],
    ['y (tier high)', 'a high-tier request is never remembered; after y, type the word shown to approve it once'],
    ['t', 'set the tier (low, normal, high) of the request\'s items or signing key; only here can a tier be lowered'],
    ['j k / arrows', 'move between requests (the guard time restarts on a new request)'],
    ['Enter', 'full detail with scrolling (PgUp/PgDn, g/G); Esc back'],
    ['h', 'history of decisions'],
    ['r', 'remembered decisions and rules; d revokes the selected one, X revokes everything'],
    ['l', 'lock the store'],
    ['c', 'lift the rate limit shown under the title (a cooldown, paused remembered decisions, a cap)'],
    ['p', 'change the store\'s passphrase (asks for the current one, then the new one twice)'],
    ['Ctrl+R', 'at the unlock prompt: forgot the passphrase; set a new one with the recovery code'],
    ['Ctrl+L', 'paint the whole screen again'],
    ['?', 'this help'],
  ];
  return [
    [seg('Keys', 'bold')],
    ...rows.map(([k, t]) => [seg(`  ${k.padEnd(14)}`, 'label'), seg(t)]),
    [],
    [seg('Decision keys act only on the request shown, and are ignored for a short guard time after it appears,', 'dim')],
    [seg('so a key meant for one request never lands on another; if it goes away, pick the next with j or k.', 'dim')],
    [seg('Text from requesters is shown inert: control characters appear as \\x1b, \\r ..., invisible and', 'dim')],
    [seg('blank-looking characters as <U+202E>. The console\'s own marks are drawn like this: ', 'dim'), seg('…', 'marker'), seg(' ', 'dim'), seg('(claimed)', 'marker')],
  ];
}

function historyLines(entries: HistoryEntry[], width: number): Line[] {
  if (!entries.length) return [[seg('No history yet.', 'dim')]];
  return entries.map((e) => [
    seg(`${clock(e.createdAt)} `, 'dim'), seg(`${e.outcome.padEnd(11)}`, e.outcome === 'denied' ? 'warn' : 'normal'),
    seg(`${(e.kind === 'store' ? 'STORE' : BADGES[e.kind].text).padEnd(7)}`), seg(e.requesterUid < 0 ? 'console ' : `uid ${e.requesterUid} ${e.requesterPid ?? '-'} `),
    ...shown(e.requesterExe ?? '?', 30, 'bold'),
    seg('  '), ...shown(e.target, Math.max(10, width - 70)),
    ...(e.scope ? [seg('  ['), ...shown(e.scope, 30), seg(']')] : []),
    ...(e.reason ? [seg('  reason (their words): ', 'marker'), ...shown(e.reason, 40, 'claimed')] : []),
  ]);
}

function rememberedLines(entries: RememberedDecision[], selected: number, now: number, width: number): Line[] {
  if (!entries.length) return [[seg('No remembered decisions.', 'dim')]];
  const holderWidth = Math.max(20, Math.floor((width - 40) * 0.6));
  return entries.map((e, i) => {
    const style: Style = i === selected ? 'focus' : 'normal';
    return [
      seg(`${i === selected ? '>' : ' '} ${BADGES[e.kind].text.padEnd(7)}uid ${e.uid}  `, style),
      // Who the grant covers, in the words its remember line used (not just an executable).
      ...shown(e.holder, holderWidth, i === selected ? 'focus' : 'bold'),
      seg('  ', style), ...shown(e.targetLabel, Math.max(10, width - 40 - holderWidth), style),
      seg(`  ${e.verdict === 'deny' ? 'DENY ' : ''}${e.scope}${e.persisted ? ' (kept)' : ''}${e.expiresAt ? `, expires in ${countdown(e.expiresAt, now)}` : ''}`, style),
    ];
  });
}

/** A window of `rows` lines from `all`, starting at `scroll` (clamped). */
function windowed(all: Line[], scroll: number, rows: number): { lines: Line[]; maxScroll: number } {
  const maxScroll = Math.max(0, all.length - rows);
  const start = Math.min(scroll, maxScroll);
  return { lines: all.slice(start, start + rows), maxScroll };
}

/** The screen for a state at a size and a moment. */
export function renderView(state: ConsoleState, size: Size, now: number): View {
  const width = Math.max(20, size.width);
  const height = Math.max(6, size.height);
  const top: Line[] = [titleLine(state, now)];
  const flood = floodLine(state);
  if (flood) top.push(flood);
  const limited = cooldownLine(state, width);
  if (limited) top.push(limited);
  const bottom: Line[] = [];
  const notice = noticeLine(state, now);
  // While a recovery code is up, only Enter counts: a prompt below it would only distract.
  if (state.prompt && state.recoveryCode === null) bottom.push(...promptLines(state));
  bottom.push(notice, ...statusLines(state, width));
  let body: Line[];
  let pageLines = height - top.length - bottom.length;
  let maxScroll = 0;

  if (state.recoveryCode !== null) {
    body = recoveryCodeLines(state.recoveryCode);
  } else if (state.mode === 'help') {
    body = helpLines();
  } else if (state.mode === 'history') {
    const w = windowed(historyLines(state.history, width), state.scroll, pageLines - 1);
    body = [[seg('History (newest first)', 'bold')], ...w.lines];
    maxScroll = w.maxScroll;
    pageLines -= 1;
  } else if (state.mode === 'remembered') {
    body = [[seg('Remembered decisions', 'bold')], ...rememberedLines(state.remembered, state.rememberedIndex, now, width)];
  } else if (state.mode === 'detail' && focusedRequest(state)) {
    const all = detailLines(focusedRequest(state)!, width, now, true);
    const w = windowed(all, state.scroll, pageLines - 1);
    maxScroll = w.maxScroll;
    const shownTo = Math.min(all.length, Math.min(state.scroll, w.maxScroll) + pageLines - 1);
    body = [[seg(`Full detail  lines ${Math.min(state.scroll, w.maxScroll) + 1}-${shownTo} of ${all.length}`, 'bold')], ...w.lines];
    pageLines -= 1;
  } else {
    body = listBody(state, width, pageLines, now);
  }
  const bodyRows = height - top.length - bottom.length;
  const padded = body.slice(0, bodyRows);
  while (padded.length < bodyRows) padded.push([]);
  const lines = [...top, ...padded, ...bottom].map((l) => fitLine(l, width));
  return { lines, pageLines: Math.max(1, pageLines), maxScroll };
}

function listBody(state: ConsoleState, width: number, rows: number, now: number): Line[] {
  const body: Line[] = [];
  const pending = state.pending;
  const recent = state.recent.slice(0, Math.min(3, Math.max(0, rows - 8)));
  const beyond = state.waitingBeyond > 0
    ? [[more(`${state.waitingBeyond} more waiting: listed as the ones above are decided`)]]
    : [];
  if (!pending.length) {
    body.push([seg(`No pending requests.`, 'dim')], ...beyond);
    if (state.gone) body.push(...goneLines(state.gone, width));
  } else {
    // The list gets at most a third of the rows; the window keeps the focused request in view.
    const listRows = Math.max(1, Math.min(pending.length, Math.floor(rows / 3) - beyond.length));
    const found = pending.findIndex((r) => r.id === state.focusedId);
    const index = found >= 0 ? found : Math.min(state.gone?.index ?? 0, pending.length - 1);
    const start = Math.max(0, Math.min(index - Math.floor(listRows / 2), pending.length - listRows));
    const count = pending.length + state.waitingBeyond;
    body.push([seg(`Pending (${count})${pending.length > listRows || state.waitingBeyond > 0 ? `  showing ${start + 1}-${start + listRows}` : ''}`, 'bold')]);
    for (let i = start; i < start + listRows; i++) body.push(listRow(pending[i]!, pending[i]!.id === state.focusedId, now, width));
    body.push(...beyond);
    body.push([seg('-'.repeat(width), 'dim')]);
    const detail = focusedRequest(state);
    let all: Line[] = [];
    if (state.gone) all = goneLines(state.gone, width);
    else if (detail) all = detailLines(detail, width, now, false);
    else if (state.focusedId) all = [[seg('Reading the request from the daemon...', 'dim')]];
    const room = rows - body.length - (recent.length ? recent.length + 1 : 0);
    if (all.length > room) {
      body.push(...all.slice(0, Math.max(0, room - 1)));
      body.push([more(`${all.length - Math.max(0, room - 1)} more lines: Enter for full detail`)]);
    } else {
      body.push(...all);
    }
  }
  if (recent.length) {
    while (body.length < rows - recent.length - 1) body.push([]);
    body.push([seg('Recent', 'dim')]);
    body.push(...recent.map((d) => recentLine(d, width)));
  }
  return body;
}
