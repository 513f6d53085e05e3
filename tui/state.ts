// What the console knows at one moment, and how it changes when the daemon tells it something. Pure:
// no bus, no terminal, no clock of its own (every change takes `now`), so the whole behaviour can be
// unit-tested and the view-model can be rendered from any state.
import { LIMITS } from '../core/limits.js';
import type { DaemonStatus, DecisionVerb, HistoryEntry, PendingRequest, RememberedDecision, RequestKind } from '../core/wire.js';

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
export type PromptPurpose = 'unlock' | 'new' | 'confirm' | 'current' | 'recovery-code' | 'key-passphrase';
export type PassphraseFlow = 'create' | 'change' | 'reset';

export interface PassphrasePrompt {
  purpose: PromptPurpose;
  /** For 'current', 'recovery-code', 'new' and 'confirm': which flow the step belongs to. */
  flow: PassphraseFlow | null;
  /** For 'key-passphrase': the request this passphrase approves. */
  requestId?: string;
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

export interface ConsoleState {
  connection: Connection;
  status: DaemonStatus | null;
  pending: PendingRequest[];
  /** The request on screen; keys that decide act on this id only. */
  focusedId: string | null;
  /** When the focused request appeared or took focus: keys that decide are ignored until guardMs later. */
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
    connection: 'connecting', status: null, pending: [], focusedId: null, focusSince: 0, guardMs, mode: 'list',
    scroll: 0, rememberedIndex: 0, recent: [], history: [], remembered: [], prompt: null, recoveryCode: null,
    notice: null, decidedIds: [],
  };
}

export function focusedRequest(state: ConsoleState): PendingRequest | null {
  return state.pending.find((r) => r.id === state.focusedId) ?? null;
}

/** Give focus to a request (or none) and restart the guard time if it is a different one. */
export function focus(state: ConsoleState, id: string | null, now: number): ConsoleState {
  if (id === state.focusedId) return state;
  return { ...state, focusedId: id, focusSince: now, scroll: 0, mode: state.mode === 'detail' && id === null ? 'list' : state.mode };
}

/**
 * A fresh pending list from the daemon. The focused request keeps focus while it is pending; when it
 * goes, focus moves to the request now at its place (guard time restarts). Requests that vanished
 * without being decided here go to the recent list as expired or cancelled.
 */
export function applyPending(state: ConsoleState, untrustedList: PendingRequest[], now: number): ConsoleState {
  const decided = new Set(state.decidedIds);
  const list = untrustedList.filter((r) => !decided.has(r.id));
  const ids = new Set(list.map((r) => r.id));
  const vanished = state.pending.filter((r) => !ids.has(r.id) && !decided.has(r.id));
  const recent = [
    ...vanished.map((r): RecentDecision => ({ id: r.id, kind: r.kind, summary: r.summary, outcome: r.deadline <= now ? 'expired' : 'gone', at: now })),
    ...state.recent,
  ].slice(0, RECENT_KEPT);
  // Forget ids the daemon no longer lists: they are settled.
  const stillListed = new Set(untrustedList.map((r) => r.id));
  let next: ConsoleState = { ...state, pending: list, recent, decidedIds: state.decidedIds.filter((id) => stillListed.has(id)) };
  if (state.focusedId !== null && ids.has(state.focusedId)) return next;
  const oldIndex = state.pending.findIndex((r) => r.id === state.focusedId);
  const replacement = list[Math.min(Math.max(oldIndex, 0), list.length - 1)] ?? null;
  next = focus({ ...next, focusedId: state.focusedId }, replacement?.id ?? null, now);
  return next;
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
  return prompt.purpose === 'key-passphrase' || prompt.flow === 'change';
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
