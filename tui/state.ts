// What the console knows at one moment, and how it changes when the daemon tells it something. Pure:
// no bus, no terminal, no clock of its own (every change takes `now`), so the whole behaviour can be
// unit-tested and the view-model can be rendered from any state.
import { LIMITS } from '../core/limits.js';
import type { DaemonStatus, DecisionVerb, HistoryEntry, PendingList, PendingSummary, RememberedDecision, RequestDetail, RequestKind } from '../core/wire.js';

export type Mode = 'list' | 'detail' | 'help' | 'history' | 'remembered';
export type Connection = 'connecting' | 'connected' | 'lost';

export interface RecentDecision {
  id: string;
  kind: RequestKind;
  summary: string;
  outcome: DecisionVerb | 'expired' | 'gone';
  at: number;
}

/**
 * What a prompt asks for. A new passphrase is always typed twice ('new', then 'confirm'); what it
 * is for, and what the steps before it collected, travels with the prompt (its flow):
 * - create: new, confirm (first run);
 * - change: current, new, confirm (store unlocked, key p);
 * - reset:  recovery-code, new, confirm (at the unlock prompt, Ctrl+R).
 */
export type PromptPurpose = 'unlock' | 'new' | 'confirm' | 'current' | 'recovery-code' | 'key-passphrase' | 'confirm-word' | 'tier';

/** What the tier prompt (key t) sets the tier of: the items a request touches, or its signing key. */
export interface TierTarget {
  what: 'item' | 'key';
  ids: string[];
  /** Our words for the screen, e.g. "the 2 items of this request". */
  label: string;
}
export type PassphraseFlow = 'create' | 'change' | 'reset';

export interface PassphrasePrompt {
  purpose: PromptPurpose;
  /** For 'current', 'recovery-code', 'new' and 'confirm': which flow the step belongs to. */
  flow: PassphraseFlow | null;
  /** For 'key-passphrase' and 'confirm-word': the request this prompt approves. */
  requestId?: string;
  /** For 'confirm-word': the word a tier-high request is approved with (the daemon's, shown on screen). */
  word?: string;
  /** For 'tier': what the typed tier is for. */
  tierTarget?: TierTarget;
  /** The typed characters, UTF-8; wiped (fill(0)) whenever the prompt is cleared or submitted. */
  buffer: Buffer;
  length: number;
  /** The first entry while confirming a new passphrase; wiped the same way. */
  first: Buffer | null;
  /** What the flow's first step collected (current passphrase or recovery code) until the final call; wiped the same way. */
  earlier: Buffer | null;
}

/** The recovery code on screen, and why there is a new one. */
export interface ShownRecoveryCode {
  text: string;
  reason: 'created' | 'reset';
}

export interface Notice {
  text: string;
  level: 'info' | 'warn' | 'error';
  at: number;
}

/** The request in focus ended without a key here: shown until a navigation key picks another. */
export interface GoneFocus {
  kind: RequestKind;
  summary: string;
  why: 'expired' | 'gone';
  /** Where it sat in the list: j/k continue from there. */
  index: number;
}

export interface ConsoleState {
  connection: Connection;
  status: DaemonStatus | null;
  /** The rows the daemon listed (ListPending), oldest first. */
  pending: PendingSummary[];
  /** Requests waiting beyond the listed rows (the list is cut at core/limits.ts shownListRows). */
  waitingBeyond: number;
  /** The request on screen; keys that decide act on this id only. */
  focusedId: string | null;
  /** The focused request's detail (GetRequest); nothing is decided until it is on screen. */
  detail: RequestDetail | null;
  /** Set when the focused request vanished: decision keys do nothing until a navigation key. */
  gone: GoneFocus | null;
  /** When the focused request's detail appeared: keys that decide are ignored until guardMs later. */
  focusSince: number;
  guardMs: number;
  mode: Mode;
  /** First line shown in the full-detail, history and remembered views. */
  scroll: number;
  /** Selected row in the remembered view. */
  rememberedIndex: number;
  recent: RecentDecision[];
  history: HistoryEntry[];
  remembered: RememberedDecision[];
  prompt: PassphrasePrompt | null;
  /** Shown once after the store is created or the passphrase reset, until Enter is pressed. */
  recoveryCode: ShownRecoveryCode | null;
  notice: Notice | null;
  /** Requests decided here whose removal the daemon has not confirmed yet. */
  decidedIds: string[];
}

export const RECENT_KEPT = 5;

export function initialState(guardMs: number): ConsoleState {
  return {
    connection: 'connecting', status: null, pending: [], waitingBeyond: 0, focusedId: null, detail: null, gone: null, focusSince: 0, guardMs, mode: 'list',
    scroll: 0, rememberedIndex: 0, recent: [], history: [], remembered: [], prompt: null, recoveryCode: null,
    notice: null, decidedIds: [],
  };
}

/** The focused request's detail, once it has arrived: what decision keys act on. */
export function focusedRequest(state: ConsoleState): RequestDetail | null {
  return state.detail !== null && state.detail.id === state.focusedId && state.pending.some((r) => r.id === state.focusedId) ? state.detail : null;
}

/** Give focus to a request (or none); a different one waits for its detail, and the guard restarts. */
export function focus(state: ConsoleState, id: string | null, now: number): ConsoleState {
  if (id === state.focusedId) return state;
  return {
    ...state, focusedId: id, detail: state.detail?.id === id ? state.detail : null, gone: null, focusSince: now, scroll: 0,
    mode: state.mode === 'detail' && id === null ? 'list' : state.mode,
  };
}

/** The detail of a request arrived (GetRequest): shown if that request still has focus; the guard starts now. */
export function applyDetail(state: ConsoleState, detail: RequestDetail, now: number): ConsoleState {
  if (detail.id !== state.focusedId || state.detail?.id === detail.id) return state;
  return { ...state, detail, focusSince: now };
}

/**
 * A fresh pending list from the daemon. The focused request keeps focus while it is pending. When
 * it goes without a key here (withdrawn, expired, decided elsewhere), nothing takes its place: the
 * screen says it is gone and decision keys do nothing until a navigation key picks a request, so a
 * key meant for the vanished request never lands on its neighbour. Requests that vanished without
 * being decided here go to the recent list as expired or ended.
 */
export function applyPending(state: ConsoleState, untrustedList: PendingList, now: number): ConsoleState {
  const decided = new Set(state.decidedIds);
  const list = untrustedList.requests.filter((r) => !decided.has(r.id));
  const waitingBeyond = Math.max(0, untrustedList.total - untrustedList.requests.length);
  const ids = new Set(list.map((r) => r.id));
  const vanished = state.pending.filter((r) => !ids.has(r.id) && !decided.has(r.id));
  const why = (r: PendingSummary): GoneFocus['why'] => (r.deadline <= now ? 'expired' : 'gone');
  const recent = [
    ...vanished.map((r): RecentDecision => ({ id: r.id, kind: r.kind, summary: r.summary, outcome: why(r), at: now })),
    ...state.recent,
  ].slice(0, RECENT_KEPT);
  // Forget ids the daemon no longer lists: they are settled.
  const stillListed = new Set(untrustedList.requests.map((r) => r.id));
  const next: ConsoleState = { ...state, pending: list, waitingBeyond, recent, decidedIds: state.decidedIds.filter((id) => stillListed.has(id)) };
  if (state.focusedId !== null && ids.has(state.focusedId)) return next;

  const lost = state.pending.find((r) => r.id === state.focusedId && !decided.has(r.id));
  const gone: GoneFocus | null = lost
    ? { kind: lost.kind, summary: lost.summary, why: why(lost), index: state.pending.indexOf(lost) }
    : state.gone;
  if (gone && list.length > 0) {
    return { ...next, focusedId: null, detail: null, gone, mode: next.mode === 'detail' ? 'list' : next.mode, scroll: 0 };
  }
  if (gone) {
    // Nothing else waits, so no key can land on the wrong request: a notice is enough.
    const cleared = focus({ ...next, gone: null }, null, now);
    return notify(cleared, `That request is gone (${gone.why === 'expired' ? 'it expired' : 'it ended without a decision here'}); nothing was decided.`, 'warn', now);
  }
  return focus(next, list[0]?.id ?? null, now);
}

/** A navigation key after the focused request vanished: focus the request now at that place. */
export function leaveGone(state: ConsoleState, offset: number, now: number): ConsoleState {
  const index = Math.min(Math.max((state.gone?.index ?? 0) + Math.min(offset, 0), 0), state.pending.length - 1);
  return focus({ ...state, gone: null }, state.pending[index]?.id ?? null, now);
}

/** The console decided a request: it leaves the list at once (the daemon confirms with Changed). */
export function markDecided(state: ConsoleState, id: string, outcome: DecisionVerb, now: number): ConsoleState {
  const request = state.pending.find((r) => r.id === id);
  if (!request) return state;
  const index = state.pending.indexOf(request);
  const pending = state.pending.filter((r) => r.id !== id);
  const recent = [{ id, kind: request.kind, summary: request.summary, outcome, at: now }, ...state.recent].slice(0, RECENT_KEPT);
  const nextFocus = pending[Math.min(index, pending.length - 1)]?.id ?? null;
  const mode = state.mode === 'detail' ? 'list' : state.mode;
  return focus({ ...state, pending, recent, mode, decidedIds: [...state.decidedIds, id] }, nextFocus, now);
}

/** A decision the daemon refused (e.g. the request expired meanwhile): show it again if listed. */
export function unmarkDecided(state: ConsoleState, id: string): ConsoleState {
  return { ...state, decidedIds: state.decidedIds.filter((d) => d !== id) };
}

export function notify(state: ConsoleState, text: string, level: Notice['level'], now: number): ConsoleState {
  return { ...state, notice: { text, level, at: now } };
}

/** One fixed-size buffer per prompt so typing never leaves copies of the passphrase behind. */
export function newPrompt(purpose: PromptPurpose, flow: PassphraseFlow | null = null): PassphrasePrompt {
  return { purpose, flow, buffer: Buffer.alloc(LIMITS.passphraseBytes), length: 0, first: null, earlier: null };
}

export function wipePrompt(prompt: PassphrasePrompt | null): void {
  if (!prompt) return;
  prompt.buffer.fill(0);
  prompt.first?.fill(0);
  prompt.earlier?.fill(0);
}

/** Prompts that exist only while the store is locked: unlocking it closes them. */
function belongsToLockedStore(prompt: PassphrasePrompt): boolean {
  return prompt.purpose === 'unlock' || prompt.flow === 'create' || prompt.flow === 'reset';
}

/** Prompts that need an unlocked store: locking it replaces them with the unlock prompt. */
function belongsToUnlockedStore(prompt: PassphrasePrompt): boolean {
  return prompt.purpose === 'key-passphrase' || prompt.purpose === 'confirm-word' || prompt.purpose === 'tier' || prompt.flow === 'change';
}

/**
 * New daemon status. A locked store opens the passphrase prompt (unlock, or create on first run);
 * an unlocked one closes it. Prompts that need the store unlocked (a key's passphrase, changing the
 * passphrase) end when it locks: locking ends every pending request, and the unlock comes first.
 */
export function applyStatus(state: ConsoleState, status: DaemonStatus): ConsoleState {
  let prompt = state.prompt;
  if (prompt && (status.locked ? belongsToUnlockedStore(prompt) : belongsToLockedStore(prompt))) {
    wipePrompt(prompt);
    prompt = null;
  }
  if (status.locked && !prompt) prompt = status.initialized ? newPrompt('unlock') : newPrompt('new', 'create');
  return { ...state, status, prompt, connection: 'connected' };
}
