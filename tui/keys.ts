// What a key press does, as a pure function of the state, the key and the time. The rules that keep
// a human's key on the request they meant (DESIGN §3, issue 3 item 3) live here:
// - y / a / n act only on the request on screen (its id travels with the action);
// - for guardMs after a request appears or takes focus, those keys are ignored and the screen says so;
// - when the request in focus vanishes, they do nothing until a navigation key picks another;
// - they decide nothing until the request's detail is on screen;
// - outside the list and detail views they decide nothing.
import type { DecisionVerb, RequestDetail, Tier } from '../core/wire.js';
import { isTier } from '../core/tiers.js';
import { LIMITS } from '../core/limits.js';
import { type ConsoleState, type PassphrasePrompt, type TierTarget, focus, focusedRequest, leaveGone, markDecided, newPrompt, notify, wipePrompt } from './state.js';

/** A key as the screen reports it: one printable character, or a name (enter, up, C-u, ...). */
export type Key = string;

export type Action =
  | { type: 'decide'; id: string; verb: DecisionVerb; minutes: number }
  | { type: 'lock' }
  /** The passphrase buffer belongs to the action's handler, which must wipe it. */
  | { type: 'unlock'; passphrase: Buffer }
  | { type: 'create'; passphrase: Buffer }
  /** Both buffers belong to the action's handler, which must wipe them. */
  | { type: 'change-passphrase'; current: Buffer; passphrase: Buffer }
  /** The recovery code as typed (UTF-8) and the new passphrase; the handler must wipe both. */
  | { type: 'reset-passphrase'; recoveryCode: Buffer; passphrase: Buffer }
  /** The secret belongs to the action's handler, which must wipe it. */
  | { type: 'approve-with-secret'; id: string; secret: Buffer }
  /** A tier-high request's second step: the word the human typed, checked again by the daemon. */
  | { type: 'decide-confirmed'; id: string; word: string }
  /** Key t: the console sets (and may lower) the tier of a request's items or signing key. */
  | { type: 'set-tier'; what: 'item' | 'key'; ids: string[]; tier: Tier }
  | { type: 'load-history' }
  | { type: 'load-remembered' }
  | { type: 'revoke'; id: string }
  /** X in the remembered view: every grant and rule, the store's included. */
  | { type: 'revoke-all' }
  /** End the rate limit the list's banner shows (its id from Status). */
  | { type: 'lift-cooldown'; id: string }
  /** Ctrl+L: paint the whole screen again, whatever the terminal shows now. */
  | { type: 'redraw' }
  | { type: 'quit' };

export interface KeyContext {
  /** Lines the scrolling views show at once (for page up/down). */
  pageLines: number;
  /** Last first-line the current scrolling view can show. */
  maxScroll: number;
}

export interface KeyResult {
  state: ConsoleState;
  actions: Action[];
}

/**
 * The decision keys. Wider scopes take a capital or a digit, so a stray lower-case key never grants
 * more than the program scope `a` names on screen; each acts only if the request offers it.
 */
export const DECISION_KEYS: Record<string, { verb: DecisionVerb; minutes?: number }> = {
  y: { verb: 'once' }, n: { verb: 'deny' },
  a: { verb: 'remember' }, '1': { verb: 'remember', minutes: 1 }, '2': { verb: 'remember', minutes: 10 }, '3': { verb: 'remember', minutes: 60 }, '4': { verb: 'remember', minutes: 480 },
  P: { verb: 'process' }, S: { verb: 'session' }, A: { verb: 'program-any-session' }, L: { verb: 'until-lock' },
  '!': { verb: 'always' }, N: { verb: 'deny-always' },
};

/** The daemon takes a recovery code of at most this many characters (daemon/request/validate.ts). */
export const RECOVERY_CODE_MAX = 256;
/** A confirm word or a tier name: the daemon takes at most 64 characters (validConfirmWord). */
const WORD_MAX = 64;

export function handleKey(state: ConsoleState, key: Key, now: number, ctx: KeyContext): KeyResult {
  if (key === 'C-c') return { state, actions: [{ type: 'quit' }] };
  if (key === 'C-l') return { state, actions: [{ type: 'redraw' }] };
  if (state.recoveryCode !== null) {
    // The code is shown once: only a deliberate Enter takes it away.
    if (key === 'enter') return { state: { ...state, recoveryCode: null }, actions: [] };
    return { state, actions: [] };
  }
  if (state.prompt) return promptKey(state, key, now);
  switch (state.mode) {
    case 'help':
      return { state: { ...state, mode: 'list' }, actions: [] };
    case 'history':
      return scrollKey(state, key, ctx) ?? backOrNothing(state, key);
    case 'remembered':
      return rememberedKey(state, key);
    case 'detail':
      if (key in DECISION_KEYS) return decide(state, DECISION_KEYS[key]!.verb, now, DECISION_KEYS[key]!.minutes);
      if (key === 't') return tierPrompt(state, now);
      return scrollKey(state, key, ctx) ?? backOrNothing(state, key);
    case 'list':
      return listKey(state, key, now);
  }
}

function backOrNothing(state: ConsoleState, key: Key): KeyResult {
  if (key === 'escape' || key === 'q' || key === 'backspace') return { state: { ...state, mode: 'list', scroll: 0 }, actions: [] };
  return { state, actions: [] };
}

function scrollKey(state: ConsoleState, key: Key, ctx: KeyContext): KeyResult | null {
  const page = Math.max(1, ctx.pageLines - 1);
  const delta: Record<string, number> = {
    j: 1, down: 1, k: -1, up: -1, pagedown: page, space: page, ' ': page, pageup: -page,
    home: -Infinity, g: -Infinity, end: Infinity, G: Infinity,
  };
  const d = delta[key];
  if (d === undefined) return null;
  const scroll = Math.max(0, Math.min(ctx.maxScroll, state.scroll + d));
  return { state: { ...state, scroll }, actions: [] };
}

const NAVIGATION: Record<string, number> = { j: 1, down: 1, k: -1, up: -1 };

function listKey(state: ConsoleState, key: Key, now: number): KeyResult {
  if (state.gone && key in NAVIGATION) return { state: leaveGone(state, NAVIGATION[key]!, now), actions: [] };
  if (key in DECISION_KEYS) return decide(state, DECISION_KEYS[key]!.verb, now, DECISION_KEYS[key]!.minutes);
  const index = state.pending.findIndex((r) => r.id === state.focusedId);
  switch (key) {
    case 'j':
    case 'down': {
      const next = state.pending[Math.min(index + 1, state.pending.length - 1)];
      return { state: next ? focus(state, next.id, now) : state, actions: [] };
    }
    case 'k':
    case 'up': {
      const prev = state.pending[Math.max(index - 1, 0)];
      return { state: prev ? focus(state, prev.id, now) : state, actions: [] };
    }
    case 'enter':
      return { state: state.focusedId ? { ...state, mode: 'detail', scroll: 0 } : state, actions: [] };
    case 't':
      return tierPrompt(state, now);
    case '?':
      return { state: { ...state, mode: 'help' }, actions: [] };
    case 'h':
      return { state: { ...state, mode: 'history', scroll: 0 }, actions: [{ type: 'load-history' }] };
    case 'r':
      return { state: { ...state, mode: 'remembered', rememberedIndex: 0 }, actions: [{ type: 'load-remembered' }] };
    case 'l':
      return { state, actions: [{ type: 'lock' }] };
    case 'c': {
      // The one the banner under the title shows, and no other.
      const shown = state.status?.cooldowns?.[0];
      return { state, actions: shown ? [{ type: 'lift-cooldown', id: shown.id }] : [] };
    }
    case 'p':
      if (!state.status?.initialized || state.status.locked) {
        return { state: notify(state, 'The passphrase can be changed while the store is unlocked.', 'warn', now), actions: [] };
      }
      return { state: { ...state, prompt: newPrompt('current', 'change') }, actions: [] };
    default:
      return { state, actions: [] };
  }
}

function decide(state: ConsoleState, verb: DecisionVerb, now: number, pickedMinutes?: number): KeyResult {
  if (state.gone) {
    return { state: notify(state, 'Nothing decided: the request you were looking at is gone. Press j or k to pick a request first.', 'warn', now), actions: [] };
  }
  const request = focusedRequest(state);
  if (!request) {
    if (state.focusedId === null) return { state, actions: [] };
    return { state: notify(state, 'Nothing decided: the request is still being read from the daemon.', 'warn', now), actions: [] };
  }
  if (now - state.focusSince < state.guardMs) {
    return { state: notify(state, `Key ignored: this request just appeared (wait ${state.guardMs} ms before deciding).`, 'warn', now), actions: [] };
  }
  if (verb !== 'deny' && verb !== 'deny-always' && request.confirmWord) {
    // Tier high: a key alone never approves it; typing the word shown is the deliberate second step.
    if (verb !== 'once') {
      return { state: notify(state, 'Tier high is never remembered: press y and type the word to allow it once, or n to deny.', 'warn', now), actions: [] };
    }
    return { state: { ...state, prompt: { ...newPrompt('confirm-word'), requestId: request.id, word: request.confirmWord } }, actions: [] };
  }
  const offer = verb === 'once' || verb === 'deny' || verb === 'remember' ? null : request.scopes?.find((o) => o.verb === verb);
  if (verb === 'remember' && !request.rememberScope) {
    return { state: notify(state, 'This request cannot be remembered for this program: press y to allow once or n to deny (the detail pane lists any other scope).', 'warn', now), actions: [] };
  }
  if (verb !== 'once' && verb !== 'deny' && verb !== 'remember' && !offer) {
    const offered = (request.scopes ?? []).map((o) => o.verb).join(', ');
    return { state: notify(state, `This request cannot be remembered as "${verb}"${offered ? ` (it offers: ${offered})` : ''}: press y to allow once or n to deny.`, 'warn', now), actions: [] };
  }
  if (verb !== 'deny' && request.key?.needsPassphrase) {
    // The key is locked with its own passphrase: approving means typing it here, on the console.
    return { state: { ...state, prompt: { ...newPrompt('key-passphrase'), requestId: request.id } }, actions: [] };
  }
  // The program scope goes for exactly the minutes the screen showed, unless a digit picked others.
  const minutes = pickedMinutes ?? (verb === 'remember' ? request.rememberScope!.minutes : offer?.verb === 'program' || offer?.verb === 'program-any-session' ? offer.minutes ?? 0 : 0);
  return { state: markDecided(state, request.id, verb, now), actions: [{ type: 'decide', id: request.id, verb, minutes }] };
}

/** What key t sets the tier of on this request: its items, else the signing key it uses or deletes. */
export function tierTargetOf(r: RequestDetail): TierTarget | null {
  if (r.items.length) {
    return { what: 'item', ids: r.items.map((i) => i.itemId), label: r.items.length === 1 ? 'the item of this request' : `the ${r.items.length} items of this request` };
  }
  const fingerprint = r.sign?.key?.fingerprint ?? r.key?.fingerprint;
  return fingerprint ? { what: 'key', ids: [fingerprint], label: 'the signing key of this request' } : null;
}

/** Key t: open the tier prompt for the request on screen (no guard time: it decides nothing). */
function tierPrompt(state: ConsoleState, now: number): KeyResult {
  const request = focusedRequest(state);
  if (!request || state.gone) return { state, actions: [] };
  const target = tierTargetOf(request);
  if (!target) return { state: notify(state, 'This request touches no stored item or key whose tier could be set.', 'warn', now), actions: [] };
  return { state: { ...state, prompt: { ...newPrompt('tier'), tierTarget: target } }, actions: [] };
}

function rememberedKey(state: ConsoleState, key: Key): KeyResult {
  const last = state.remembered.length - 1;
  switch (key) {
    case 'j':
    case 'down':
      return { state: { ...state, rememberedIndex: Math.min(state.rememberedIndex + 1, Math.max(last, 0)) }, actions: [] };
    case 'k':
    case 'up':
      return { state: { ...state, rememberedIndex: Math.max(state.rememberedIndex - 1, 0) }, actions: [] };
    case 'X':
      if (!state.remembered.length) return { state, actions: [] };
      return { state, actions: [{ type: 'revoke-all' }] };
    case 'd':
    case 'delete': {
      const entry = state.remembered[state.rememberedIndex];
      if (!entry) return { state, actions: [] };
      return { state, actions: [{ type: 'revoke', id: entry.id }] };
    }
    default:
      return backOrNothing(state, key);
  }
}

function promptKey(state: ConsoleState, key: Key, now: number): KeyResult {
  const prompt = state.prompt!;
  if (key === 'escape') {
    const cancelled = cancelPrompt(state, prompt, now);
    if (cancelled) return { state: cancelled, actions: [] };
  }
  if (key === 'C-r' && prompt.purpose === 'unlock') {
    // Forgotten passphrase: the recovery code from paper sets a new one.
    wipePrompt(prompt);
    return { state: { ...state, prompt: newPrompt('recovery-code', 'reset') }, actions: [] };
  }
  if (key === 'C-u' || key === 'escape') {
    prompt.buffer.fill(0, 0, prompt.length);
    if (prompt.purpose === 'confirm') return { state: { ...state, prompt: backToNew(prompt) }, actions: [] };
    return { state: { ...state, prompt: { ...prompt, length: 0 } }, actions: [] };
  }
  if (key === 'backspace') {
    let length = prompt.length;
    // Step back over UTF-8 continuation bytes so one key removes one character.
    while (length > 0 && (prompt.buffer[length - 1]! & 0xc0) === 0x80) length -= 1;
    length = Math.max(0, length - 1);
    prompt.buffer.fill(0, length, prompt.length);
    return { state: { ...state, prompt: { ...prompt, length } }, actions: [] };
  }
  if (key === 'enter') return submitPrompt(state, now);
  if ([...key].length !== 1 || key < ' ') return { state, actions: [] };
  const bytes = Buffer.from(key, 'utf8');
  const isCode = prompt.purpose === 'recovery-code';
  const isWord = prompt.purpose === 'confirm-word' || prompt.purpose === 'tier';
  const max = isCode ? RECOVERY_CODE_MAX : isWord ? WORD_MAX : LIMITS.passphraseBytes;
  if (prompt.length + bytes.length > max) {
    bytes.fill(0);
    const text = isCode ? `A recovery code is at most ${max} characters.` : isWord ? `At most ${max} characters here.` : `A passphrase is at most ${max} bytes.`;
    return { state: notify(state, text, 'warn', now), actions: [] };
  }
  bytes.copy(prompt.buffer, prompt.length);
  bytes.fill(0);
  return { state: { ...state, prompt: { ...prompt, length: prompt.length + bytes.length } }, actions: [] };
}

/**
 * Esc leaves a prompt that was opened on purpose, wiping everything typed so far: a key's
 * passphrase (the request stays pending), changing the passphrase (back to the list), resetting it
 * (back to the unlock prompt). Null: Esc only clears the line (unlock, first run).
 */
function cancelPrompt(state: ConsoleState, prompt: PassphrasePrompt, now: number): ConsoleState | null {
  if (prompt.purpose === 'key-passphrase' || prompt.purpose === 'confirm-word' || prompt.purpose === 'tier') {
    wipePrompt(prompt);
    return { ...state, prompt: null };
  }
  if (prompt.flow === 'change') {
    wipePrompt(prompt);
    return notify({ ...state, prompt: null }, 'Cancelled: the passphrase was not changed.', 'info', now);
  }
  if (prompt.flow === 'reset') {
    wipePrompt(prompt);
    return notify({ ...state, prompt: newPrompt('unlock') }, 'Cancelled: the passphrase was not reset.', 'info', now);
  }
  return null;
}

/** From the second entry of a new passphrase back to the first, keeping what earlier steps collected. */
function backToNew(prompt: PassphrasePrompt): PassphrasePrompt {
  const earlier = prompt.earlier;
  prompt.earlier = null;
  wipePrompt(prompt);
  return { ...newPrompt('new', prompt.flow), earlier };
}

function submitPrompt(state: ConsoleState, now: number): KeyResult {
  const prompt = state.prompt!;
  if (prompt.length === 0) {
    const what = { 'recovery-code': 'recovery code', 'confirm-word': 'word shown', tier: 'tier' }[prompt.purpose as string] ?? 'passphrase';
    return { state: notify(state, `Type the ${what}, then Enter.`, 'warn', now), actions: [] };
  }
  const typed = Buffer.from(prompt.buffer.subarray(0, prompt.length));
  prompt.buffer.fill(0);
  switch (prompt.purpose) {
    case 'unlock':
      return { state: { ...state, prompt: { ...prompt, length: 0 } }, actions: [{ type: 'unlock', passphrase: typed }] };
    case 'key-passphrase': {
      const id = prompt.requestId!;
      wipePrompt(prompt);
      return { state: markDecided({ ...state, prompt: null }, id, 'once', now), actions: [{ type: 'approve-with-secret', id, secret: typed }] };
    }
    case 'confirm-word': {
      const word = typed.toString('utf8').trim().toLowerCase();
      typed.fill(0);
      if (word !== prompt.word) {
        // Checked here first so a typo costs none of the daemon's three tries.
        return { state: notify({ ...state, prompt: { ...prompt, length: 0 } }, `That is not the word. Type ${prompt.word} to approve, or Esc.`, 'error', now), actions: [] };
      }
      const id = prompt.requestId!;
      return { state: markDecided({ ...state, prompt: null }, id, 'once', now), actions: [{ type: 'decide-confirmed', id, word }] };
    }
    case 'tier': {
      const untrustedTier = typed.toString('utf8').trim().toLowerCase();
      typed.fill(0);
      const tier = ({ l: 'low', n: 'normal', h: 'high' } as Record<string, string>)[untrustedTier] ?? untrustedTier;
      if (!isTier(tier)) return { state: notify({ ...state, prompt: { ...prompt, length: 0 } }, 'Type low, normal or high (or l, n, h), then Enter.', 'error', now), actions: [] };
      const target = prompt.tierTarget!;
      return { state: { ...state, prompt: null }, actions: [{ type: 'set-tier', what: target.what, ids: target.ids, tier }] };
    }
    case 'current':
    case 'recovery-code':
      // Checked by the daemon only together with the new passphrase: one call changes it or nothing.
      return { state: { ...state, prompt: { ...newPrompt('new', prompt.flow), earlier: typed } }, actions: [] };
    case 'new':
      return { state: { ...state, prompt: { ...newPrompt('confirm', prompt.flow), first: typed, earlier: prompt.earlier } }, actions: [] };
    case 'confirm': {
      const first = prompt.first!;
      const same = first.length === typed.length && first.equals(typed);
      first.fill(0);
      if (!same) {
        typed.fill(0);
        return { state: notify({ ...state, prompt: backToNew(prompt) }, 'The two entries differ; type the new passphrase again.', 'error', now), actions: [] };
      }
      return finishNewPassphrase(state, prompt, typed);
    }
  }
}

/** Both entries agree: hand the new passphrase (and what the flow collected before) to the daemon. */
function finishNewPassphrase(state: ConsoleState, prompt: PassphrasePrompt, passphrase: Buffer): KeyResult {
  const earlier = prompt.earlier;
  switch (prompt.flow) {
    case 'change':
      return { state: { ...state, prompt: null }, actions: [{ type: 'change-passphrase', current: earlier!, passphrase }] };
    case 'reset':
      // The store stays locked until the reset is done; the unlock prompt waits meanwhile.
      return { state: { ...state, prompt: newPrompt('unlock') }, actions: [{ type: 'reset-passphrase', recoveryCode: earlier!, passphrase }] };
    default:
      return { state: { ...state, prompt: newPrompt('new', 'create') }, actions: [{ type: 'create', passphrase }] };
  }
}
