// The whole screen as lines of styled segments, computed from the state and the terminal size. Pure:
// blessed only paints what this returns (tui/screen.ts), so layout, truncation and the marking of
// claimed values are unit-tested without a terminal. Every value that came from a requester goes
// through core/untrusted-text.ts here and nowhere else.
import { blockText, displayWidth, inlineText, truncateToWidth } from '../core/untrusted-text.js';
import type { HistoryEntry, PendingRequest, ProcessInfo, RememberedDecision, RequestKind } from '../core/wire.js';
import type { ConsoleState, PassphrasePrompt, RecentDecision, ShownRecoveryCode } from './state.js';

export type Style =
  | 'normal' | 'bold' | 'dim' | 'title' | 'focus' | 'label' | 'claimed' | 'warn' | 'error'
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

/** Lines of a commit message or file list kept for the full-detail view; the rest is counted. */
export const FULL_DETAIL_MAX_LINES = 5000;
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
      const cut = truncateToWidth(s.text, width - used);
      out.push({ text: cut, style: s.style });
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

function requesterName(r: PendingRequest, width: number): string {
  const p = r.requester.process;
  const name = p?.comm ?? p?.exe?.split('/').pop() ?? r.requester.busName;
  return `${inlineText(name, { maxWidth: Math.max(4, width) })}${p ? `[${p.pid}]` : ''}`;
}

function listRow(r: PendingRequest, focused: boolean, now: number, width: number): Line {
  const style: Style = focused ? 'focus' : 'normal';
  const who = requesterName(r, 20);
  const head = `${focused ? '>' : ' '} `;
  return [
    seg(head, style), badge(r.kind), seg(` ${countdown(r.deadline, now).padStart(5)}  `, style),
    seg(`${who}  `, focused ? 'focus' : 'bold'),
    seg(inlineText(r.summary, { maxWidth: Math.max(10, width - 20 - displayWidth(who)) }), style),
  ];
}

function field(label: string, value: string, valueStyle: Style = 'normal', extra?: Segment): Line {
  const line = [seg(label.padEnd(LABEL_WIDTH), 'label'), seg(value, valueStyle)];
  if (extra) line.push(extra);
  return line;
}

const CLAIMED = seg(' (claimed)', 'claimed');

function processLine(p: ProcessInfo, width: number): string {
  const exe = inlineText(p.exe ?? p.comm ?? '?', { maxWidth: Math.max(8, Math.floor(width / 2)) });
  return `${exe}[${p.pid}]`;
}

/**
 * What /proc said about the process that opened the connection, labelled as exactly that: it is
 * not proof of who sends (a process can connect, fork and exec). Changes between the daemon's
 * reads come first, in the warning style.
 */
function openerLines(q: PendingRequest['requester'], v: number): Line[] {
  const p = q.process;
  if (!p) return [field('  opener', 'the process that opened the connection is gone', 'warn')];
  const lines = (q.changes ?? []).map((c) => field('  changed', inlineText(`pid ${p.pid} ${c}`, { maxWidth: v }), 'warn'));
  const lead = `the process that opened the connection (pid ${p.pid}) now runs `;
  lines.push(field('  exe', `${lead}${inlineText(p.exe ?? '(unreadable)', { maxWidth: Math.max(8, v - lead.length) })}`));
  lines.push(field('  cmdline', inlineText(p.cmdline.join(' '), { maxWidth: v })));
  lines.push(field('  cwd', inlineText(p.cwd ?? '(unreadable)', { maxWidth: v })));
  return lines;
}

function requesterLines(r: PendingRequest, width: number): Line[] {
  const v = width - LABEL_WIDTH;
  const q = r.requester;
  const p = q.process;
  const lines: Line[] = [
    field('Requester', `uid ${q.uid}${q.userName ? ` (${inlineText(q.userName, { maxWidth: 32 })})` : ''}${p ? `  pid ${p.pid}` : '  process gone'}`, 'bold'),
  ];
  lines.push(...openerLines(q, v));
  if (q.systemdUnit) lines.push(field('  unit', inlineText(q.systemdUnit, { maxWidth: v })));
  if (q.chain.length) lines.push(field('  parents', inlineText(q.chain.map((c) => processLine(c, width)).join(' < '), { maxWidth: v })));
  lines.push(field('  bus name', inlineText(q.busName, { maxWidth: v }), 'dim'));
  // A signing client's repository, branch and file list are already shown (as claimed) with the payload.
  const shownWithPayload = r.sign ? new Set(['repository', 'branch', 'files', 'filesTree', 'filesOmitted']) : new Set<string>();
  for (const [key, value] of Object.entries(q.claimed)) {
    if (shownWithPayload.has(key)) continue;
    const k = inlineText(key, { maxWidth: 24 });
    lines.push(field('  claims', `${k}: ${inlineText(value, { maxWidth: Math.max(8, v - displayWidth(k) - 14) })}`, 'normal', CLAIMED));
  }
  return lines;
}

function itemLines(r: PendingRequest, width: number, full: boolean): Line[] {
  const v = width - LABEL_WIDTH;
  const lines: Line[] = [];
  const shown = full ? r.items : r.items.slice(0, 3);
  for (const item of shown) {
    lines.push(field('Item', inlineText(item.label, { maxWidth: v }), 'bold'));
    lines.push(field('Collection', inlineText(item.collectionLabel || item.collectionId, { maxWidth: v })));
    for (const [key, value] of Object.entries(item.attributes)) {
      const k = inlineText(key, { maxWidth: 32 });
      lines.push(field('  attribute', `${k} = ${inlineText(value, { maxWidth: Math.max(8, v - displayWidth(k) - 3) })}`));
    }
  }
  if (shown.length < r.items.length) lines.push(field('', `[… ${r.items.length - shown.length} more items: Enter for all]`, 'dim'));
  return lines;
}

function signLines(r: PendingRequest, width: number, full: boolean): Line[] {
  const s = r.sign!;
  const v = width - LABEL_WIDTH;
  const lines: Line[] = [];
  if (s.contradictions.length) {
    for (const c of s.contradictions) lines.push(field('MISMATCH', inlineText(c, { maxWidth: v }), 'error'));
  }
  const reported = (label: string, value: string | undefined, style: Style) => (value === undefined
    ? field(label, '(not reported by the client)', 'dim')
    : field(label, inlineText(value, { maxWidth: v - 10 }), style, CLAIMED));
  lines.push(reported('Repository', s.reported.repository, 'bold'), reported('Branch', s.reported.branch, 'normal'));
  if (s.key) {
    lines.push(field('Key', `${s.key.fingerprint} ${s.key.algorithm}`, 'bold'));
    for (const uid of s.key.userIds) lines.push(field('', inlineText(uid, { maxWidth: v })));
  } else {
    lines.push(field('Key', '(no matching key)', 'warn'));
  }
  lines.push(field('Object', `${s.payloadKind}, ${s.payloadBytes} bytes`));
  const labels: Record<string, string> = { author: 'Author', committer: 'Committer', parent: 'Parent', tagger: 'Tagger', tag: 'Tag', object: 'Object id', type: 'Type', tree: 'Tree' };
  for (const [name, value] of s.headers) {
    const label = labels[name];
    if (!label && !full) continue;
    lines.push(field(label ?? inlineText(name, { maxWidth: LABEL_WIDTH - 1 }), inlineText(value, { maxWidth: v })));
  }
  const message = blockText(s.message, { maxWidth: v, maxLines: full ? FULL_DETAIL_MAX_LINES : 6 });
  message.forEach((text, i) => lines.push(field(i === 0 ? 'Message' : '', text)));
  if (s.reported.files) {
    const files = s.reported.files;
    const shown = full ? files.slice(0, FULL_DETAIL_MAX_LINES) : files.slice(0, 5);
    lines.push(field('Files', `${files.length} changed`, 'normal', CLAIMED));
    for (const f of shown) {
      const counts = `${f.added === null ? '-' : `+${f.added}`} ${f.removed === null ? '-' : `-${f.removed}`}`.padEnd(12);
      lines.push(field('', `${counts} ${inlineText(f.path, { maxWidth: v - 13 })}`));
    }
    if (shown.length < files.length) lines.push(field('', `[… ${files.length - shown.length} more files${full ? ' not shown' : ': Enter for all'}]`, 'dim'));
  }
  return lines;
}

function keyLines(r: PendingRequest, width: number): Line[] {
  const k = r.key!;
  const v = width - LABEL_WIDTH;
  const lines = [field('Key action', k.action, 'bold'), field('Fingerprint', k.fingerprint ?? '(new)'), field('Algorithm', inlineText(k.algorithm ?? '?', { maxWidth: v }))];
  for (const uid of k.userIds) lines.push(field('User id', inlineText(uid, { maxWidth: v })));
  if (k.needsPassphrase) lines.push(field('', 'Approving asks for the key\'s own passphrase.', 'warn'));
  return lines;
}

/** An export: what leaves and who holds its passphrase. An import: what it adds and, first, what it overwrites. */
function bundleLines(r: PendingRequest, width: number, full: boolean): Line[] {
  const b = r.bundle!;
  const v = width - LABEL_WIDTH;
  const { counts } = b;
  const lines: Line[] = b.direction === 'export'
    ? [
      field('Bundle', `every secret (${counts.items} items)${counts.keys ? ` and ${counts.keys} PRIVATE signing keys` : ''}`, 'warn'),
      field('', 'its passphrase was chosen by the requester: to the requester it is plaintext', 'warn'),
    ]
    : [field('Bundle', `adds ${counts.items} items and ${counts.keys} signing keys; overwrites ${counts.overwrites} here`, counts.overwrites ? 'warn' : 'bold')];
  const shown = full ? b.entries : b.entries.slice(0, 8);
  for (const e of shown) {
    const what = `${e.what} ${inlineText(e.label, { maxWidth: Math.max(10, e.was === null ? v - 12 : Math.floor(v / 2) - 8) })}`;
    lines.push(field(e.action === 'overwrite' ? 'OVERWRITES' : e.action === 'add' ? 'adds' : 'exports',
      e.was === null ? what : `${what}  (now ${inlineText(e.was, { maxWidth: Math.max(10, Math.floor(v / 2) - 8) })})`, e.action === 'overwrite' ? 'warn' : undefined));
  }
  const left = b.entries.length - shown.length + b.more;
  if (left > 0) lines.push(field('', `[${left} more not shown${full ? '' : ': Enter for full detail'}]`, 'dim'));
  return lines;
}

/** Every detail line of one request; `full` keeps long messages and lists whole (up to the cap). */
export function detailLines(r: PendingRequest, width: number, now: number, full: boolean): Line[] {
  const v = width - LABEL_WIDTH;
  const lines: Line[] = [
    [seg('Request'.padEnd(LABEL_WIDTH), 'label'), badge(r.kind), seg(`  expires in ${countdown(r.deadline, now)}  `), seg(`id ${inlineText(r.id, { maxWidth: 40 })}`, 'dim')],
    field('Summary', inlineText(r.summary, { maxWidth: v })),
  ];
  if (r.sign) lines.push(...signLines(r, width, full));
  if (r.key) lines.push(...keyLines(r, width));
  if (r.bundle) lines.push(...bundleLines(r, width, full));
  if (r.items.length) lines.push(...itemLines(r, width, full));
  lines.push(...requesterLines(r, width));
  const scope = r.rememberScope;
  // The daemon's description usually names the duration already; the number is shown either way.
  const saysMinutes = scope !== null && new RegExp(`\\b${scope.minutes} min`).test(scope.description);
  lines.push(scope
    ? field('a remembers', `${inlineText(scope.description, { maxWidth: Math.max(10, saysMinutes ? v : v - 16) })}${saysMinutes ? '' : ` for ${scope.minutes} min`}`, 'bold')
    : field('a remembers', 'nothing: this request can only be allowed once or denied', 'dim'));
  return lines;
}

function recentLine(d: RecentDecision, width: number): Line {
  // 'gone': it left the queue without a key here (requester gone, or decided by another console).
  const outcome = { once: 'allowed once', remember: 'allowed+remembered', deny: 'denied', expired: 'expired', gone: 'ended' }[d.outcome];
  return [seg(`  ${clock(d.at)} ${outcome.padEnd(19)} ${BADGES[d.kind].text.padEnd(7)}${inlineText(d.summary, { maxWidth: Math.max(10, width - 40) })}`, 'dim')];
}

function titleLine(state: ConsoleState, now: number): Line {
  const s = state.status;
  let right = '';
  if (state.connection === 'lost') right = 'DAEMON NOT REACHABLE - reconnecting';
  else if (state.connection === 'connecting' || !s) right = 'connecting to the daemon';
  else right = `store ${!s.initialized ? 'not created' : s.locked ? 'LOCKED' : 'unlocked'} | ${state.pending.length} pending | ${clock(now)}`;
  return [seg(' Secrets Dispatcher - approval console', 'title'), seg(`   ${right} `, state.connection === 'lost' ? 'error' : 'title')];
}

/** Under the title while it lasts: a flood is being turned away, so new requests from that UID fail at once. */
function floodLine(state: ConsoleState): Line | null {
  const t = state.status?.throttled;
  if (!t || state.connection !== 'connected') return null;
  return [seg(` uid ${t.uid}: ${t.refused} requests refused since ${clock(t.since)}, too many waiting (queue full); new requests from it fail until the queue drains `, 'error')];
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
    detail: 'y allow once  a allow+remember  n deny  j/k scroll  PgUp/PgDn page  Esc back',
    help: 'any key: back',
    history: 'j/k scroll  Esc back',
    remembered: 'j/k select  d revoke  Esc back',
  };
  if (state.recoveryCode !== null) return [[seg('Enter: I have written the recovery code down', 'bold')]];
  if (state.prompt) {
    const p = state.prompt;
    const canCancel = p.purpose === 'key-passphrase' || p.flow === 'change' || p.flow === 'reset';
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
  }
}

function promptLines(state: ConsoleState): Line[] {
  const p = state.prompt!;
  const typed = Buffer.from(p.buffer.subarray(0, p.length)).toString('utf8');
  // A recovery code is copied from paper: seeing it helps find a typo. Passphrases stay masked.
  const shown = p.purpose === 'recovery-code' ? inlineText(typed, { maxWidth: 300 }) : '*'.repeat([...typed].length);
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
    ['a', 'allow it and remember the decision: the detail pane says exactly what and for how long'],
    ['n', 'deny it'],
    ['j k / arrows', 'move between requests (the guard time restarts on a new request)'],
    ['Enter', 'full detail with scrolling (PgUp/PgDn, g/G); Esc back'],
    ['h', 'history of decisions'],
    ['r', 'remembered decisions; d revokes the selected one'],
    ['l', 'lock the store'],
    ['p', 'change the store\'s passphrase (asks for the current one, then the new one twice)'],
    ['Ctrl+R', 'at the unlock prompt: forgot the passphrase; set a new one with the recovery code'],
    ['?', 'this help'],
  ];
  return [
    [seg('Keys', 'bold')],
    ...rows.map(([k, t]) => [seg(`  ${k.padEnd(14)}`, 'label'), seg(t)]),
    [],
    [seg('Decision keys act only on the request shown, and are ignored for a short guard time after it appears,', 'dim')],
    [seg('so a key meant for one request never lands on another. Text from requesters is shown inert:', 'dim')],
    [seg('control characters appear as \\x1b, \\r ..., invisible characters as <U+202E>, long text ends with ….', 'dim')],
  ];
}

function historyLines(entries: HistoryEntry[], width: number): Line[] {
  if (!entries.length) return [[seg('No history yet.', 'dim')]];
  return entries.map((e) => [
    seg(`${clock(e.createdAt)} `, 'dim'), seg(`${e.outcome.padEnd(11)}`, e.outcome === 'denied' ? 'warn' : 'normal'),
    seg(`${(e.kind === 'store' ? 'STORE' : BADGES[e.kind].text).padEnd(7)}`), seg(e.requesterUid < 0 ? 'console ' : `uid ${e.requesterUid} ${e.requesterPid ?? '-'} `),
    seg(inlineText(e.requesterExe ?? '?', { maxWidth: 30 }), 'bold'),
    seg(`  ${inlineText(e.target, { maxWidth: Math.max(10, width - 70) })}${e.scope ? `  [${inlineText(e.scope, { maxWidth: 30 })}]` : ''}`),
  ]);
}

function rememberedLines(entries: RememberedDecision[], selected: number, now: number, width: number): Line[] {
  if (!entries.length) return [[seg('No remembered decisions.', 'dim')]];
  return entries.map((e, i) => {
    const style: Style = i === selected ? 'focus' : 'normal';
    return [
      seg(`${i === selected ? '>' : ' '} ${BADGES[e.kind].text.padEnd(7)}uid ${e.uid}  `, style),
      seg(inlineText(e.exe, { maxWidth: 30 }), i === selected ? 'focus' : 'bold'),
      seg(`  ${inlineText(e.targetLabel, { maxWidth: Math.max(10, width - 70) })}  expires in ${countdown(e.expiresAt, now)}`, style),
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
  } else if (state.mode === 'detail' && state.pending.some((r) => r.id === state.focusedId)) {
    const r = state.pending.find((p) => p.id === state.focusedId)!;
    const all = detailLines(r, width, now, true);
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
  if (!pending.length) {
    body.push([seg(`No pending requests.`, 'dim')]);
  } else {
    // The list gets at most a third of the rows; the window keeps the focused request in view.
    const listRows = Math.max(1, Math.min(pending.length, Math.floor(rows / 3)));
    const index = Math.max(0, pending.findIndex((r) => r.id === state.focusedId));
    const start = Math.max(0, Math.min(index - Math.floor(listRows / 2), pending.length - listRows));
    body.push([seg(`Pending (${pending.length})${pending.length > listRows ? `  showing ${start + 1}-${start + listRows}` : ''}`, 'bold')]);
    for (let i = start; i < start + listRows; i++) body.push(listRow(pending[i]!, pending[i]!.id === state.focusedId, now, width));
    body.push([seg('-'.repeat(width), 'dim')]);
    const focused = pending[index];
    if (focused) {
      const room = rows - body.length - (recent.length ? recent.length + 1 : 0);
      const all = detailLines(focused, width, now, false);
      if (all.length > room) {
        body.push(...all.slice(0, Math.max(0, room - 1)));
        body.push([seg(`[… ${all.length - Math.max(0, room - 1)} more lines: Enter for full detail]`, 'dim')]);
      } else {
        body.push(...all);
      }
    }
  }
  if (recent.length) {
    while (body.length < rows - recent.length - 1) body.push([]);
    body.push([seg('Recent', 'dim')]);
    body.push(...recent.map((d) => recentLine(d, width)));
  }
  return body;
}
