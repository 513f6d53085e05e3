import { describe, expect, it } from 'vitest';
import type { DaemonStatus } from '../../core/wire.js';
import { handleKey, type Action } from '../../tui/keys.js';
import { applyPending, applyStatus, initialState, type ConsoleState } from '../../tui/state.js';
import { arrive, listed, NOW, secretRequest, signRequest } from './tui-fixtures.js';

const STATUS: DaemonStatus = { initialized: true, locked: false, pending: 1, consoleConnected: true, version: '0.1.0', requestTimeoutSeconds: 300, throttled: null };
const CTX = { pageLines: 20, maxScroll: 100 };
const GUARD = 300;

function arrived(...requests: ReturnType<typeof secretRequest>[]): ConsoleState {
  return arrive(applyStatus(initialState(GUARD), STATUS), requests, NOW);
}

function press(state: ConsoleState, keys: string[], at: number): { state: ConsoleState; actions: Action[] } {
  let s = state;
  const actions: Action[] = [];
  for (const k of keys) {
    const r = handleKey(s, k, at, CTX);
    s = r.state;
    actions.push(...r.actions);
  }
  return { state: s, actions };
}

describe('decision keys', () => {
  it('y allows the request on screen once', () => {
    const { actions, state } = press(arrived(secretRequest()), ['y'], NOW + GUARD);
    expect(actions).toEqual([{ type: 'decide', id: 'r1', verb: 'once', minutes: 0 }]);
    expect(state.pending).toHaveLength(0);
    expect(state.recent[0]).toMatchObject({ id: 'r1', outcome: 'once' });
  });

  it('a remembers for exactly the minutes the screen showed', () => {
    expect(press(arrived(secretRequest()), ['a'], NOW + GUARD).actions).toEqual([{ type: 'decide', id: 'r1', verb: 'remember', minutes: 10 }]);
  });

  it('a digit picks the program scope for 1 m / 10 m / 1 h / 8 h, capitals pick the other offered scopes', () => {
    expect(press(arrived(secretRequest()), ['3'], NOW + GUARD).actions).toEqual([{ type: 'decide', id: 'r1', verb: 'remember', minutes: 60 }]);
    expect(press(arrived(secretRequest()), ['4'], NOW + GUARD).actions).toEqual([{ type: 'decide', id: 'r1', verb: 'remember', minutes: 480 }]);
    expect(press(arrived(secretRequest()), ['S'], NOW + GUARD).actions).toEqual([{ type: 'decide', id: 'r1', verb: 'session', minutes: 0 }]);
    expect(press(arrived(secretRequest()), ['N'], NOW + GUARD).actions).toEqual([{ type: 'decide', id: 'r1', verb: 'deny-always', minutes: 0 }]);
    // A scope the daemon did not offer (always, for a normal-tier item) decides nothing and says what is offered.
    const { actions, state } = press(arrived(secretRequest()), ['!'], NOW + GUARD);
    expect(actions).toEqual([]);
    expect(state.notice?.text).toMatch(/cannot be remembered as "always" \(it offers: program, session, deny-always\)/);
  });

  it('a on a request that cannot be remembered decides nothing and says why', () => {
    const { actions, state } = press(arrived(signRequest()), ['a'], NOW + GUARD);
    expect(actions).toEqual([]);
    expect(state.notice?.text).toMatch(/cannot be remembered/);
  });

  it('n denies', () => {
    expect(press(arrived(secretRequest()), ['n'], NOW + GUARD).actions).toEqual([{ type: 'decide', id: 'r1', verb: 'deny', minutes: 0 }]);
  });

  it('ignores a decision key within the guard time after a request appears', () => {
    const s = arrived(secretRequest());
    const early = press(s, ['y'], NOW + GUARD - 1);
    expect(early.actions).toEqual([]);
    expect(early.state.pending).toHaveLength(1);
    expect(early.state.notice?.text).toMatch(/just appeared/);
    expect(press(early.state, ['y'], NOW + GUARD).actions).toHaveLength(1);
  });

  it('restarts the guard when another request takes focus (moving or after a decision)', () => {
    const s = arrived(secretRequest({ id: 'a' }), secretRequest({ id: 'b' }));
    const moved = press(s, ['j'], NOW + 1000);
    expect(moved.state.focusedId).toBe('b');
    expect(press(moved.state, ['y'], NOW + 1100).actions).toEqual([]);
    const decided = press(s, ['n'], NOW + 1000);
    expect(decided.state.focusedId).toBe('b');
    expect(press(decided.state, ['y', 'y'], NOW + 1001).actions).toEqual([]);
  });

  it('keeps focus (and the running guard) when another request arrives', () => {
    const s = arrived(secretRequest({ id: 'a' }));
    const later = applyPending(s, listed(secretRequest({ id: 'new' }), secretRequest({ id: 'a' })), NOW + 5000);
    expect(later.focusedId).toBe('a');
    expect(press(later, ['y'], NOW + 5001).actions).toEqual([{ type: 'decide', id: 'a', verb: 'once', minutes: 0 }]);
  });

  it('decides the request shown in full detail, and nothing from help or history', () => {
    const s = arrived(secretRequest());
    expect(press(s, ['enter', 'n'], NOW + GUARD).actions).toEqual([{ type: 'decide', id: 'r1', verb: 'deny', minutes: 0 }]);
    expect(press(s, ['?', 'y'], NOW + GUARD).actions).toEqual([]);
    expect(press(s, ['h', 'y'], NOW + GUARD).actions).toEqual([{ type: 'load-history' }]);
  });

  it('when the focused request goes, says so and decides nothing until a navigation key picks the next', () => {
    const s = arrived(secretRequest({ id: 'a' }), secretRequest({ id: 'b' }));
    const after = applyPending(s, listed(secretRequest({ id: 'b' })), NOW + 9000);
    expect(after.focusedId).toBeNull();
    expect(after.gone).toMatchObject({ why: 'gone', index: 0 });
    expect(after.recent[0]).toMatchObject({ id: 'a', outcome: 'gone' });
    const pressed = press(after, ['y', 'a', 'n'], NOW + 20_000);
    expect(pressed.actions).toEqual([]);
    expect(pressed.state.notice?.text).toMatch(/request you were looking at is gone/);
    const moved = press(pressed.state, ['j'], NOW + 20_000);
    expect(moved.state.focusedId).toBe('b');
    expect(moved.state.gone).toBeNull();
    // Its detail is read first, and the guard runs from when it is shown.
    expect(press(moved.state, ['y'], NOW + 30_000).actions).toEqual([]);
    const shown = arrive(moved.state, [secretRequest({ id: 'b' })], NOW + 30_000);
    expect(press(shown, ['y'], NOW + 30_000 + GUARD - 1).actions).toEqual([]);
    expect(press(shown, ['y'], NOW + 30_000 + GUARD).actions).toEqual([{ type: 'decide', id: 'b', verb: 'once', minutes: 0 }]);
  });

  it('a request gone from an otherwise empty queue leaves a notice, and the next one to arrive takes focus', () => {
    const s = arrived(secretRequest({ id: 'a' }));
    const empty = applyPending(s, listed(), NOW + 1000);
    expect(empty.gone).toBeNull();
    expect(empty.notice?.text).toMatch(/That request is gone/);
    expect(arrive(empty, [secretRequest({ id: 'c' })], NOW + 2000).focusedId).toBe('c');
  });

  it('does not show a decided request again while the daemon still lists it', () => {
    const { state } = press(arrived(secretRequest({ id: 'a' }), secretRequest({ id: 'b' })), ['y'], NOW + GUARD);
    const stale = applyPending(state, listed(secretRequest({ id: 'a' }), secretRequest({ id: 'b' })), NOW + GUARD + 1);
    expect(stale.pending.map((r) => r.id)).toEqual(['b']);
  });
});

describe('views', () => {
  it('scrolls the full detail within bounds', () => {
    const s = arrived(secretRequest());
    expect(press(s, ['enter', 'j', 'j', 'k'], NOW).state.scroll).toBe(1);
    expect(press(s, ['enter', 'pagedown'], NOW).state.scroll).toBe(19);
    expect(press(s, ['enter', 'G'], NOW).state.scroll).toBe(100);
    expect(press(s, ['enter', 'k'], NOW).state.scroll).toBe(0);
    expect(press(s, ['enter', 'escape'], NOW).state.mode).toBe('list');
  });

  it('l locks, r lists remembered decisions and d revokes the selected one', () => {
    const s = arrived();
    expect(press(s, ['l'], NOW).actions).toEqual([{ type: 'lock' }]);
    const r = press(s, ['r'], NOW);
    expect(r.actions).toEqual([{ type: 'load-remembered' }]);
    const withList = { ...r.state, remembered: [1, 2].map((n) => ({ id: `m${n}`, scope: 'program' as const, verdict: 'allow' as const, persisted: false, kind: 'secret' as const, uid: 1000, exe: '/usr/bin/x', holder: 'any process of uid 1000 that presents itself as /usr/bin/x', target: 't', targetLabel: 'T', createdAt: NOW, expiresAt: NOW + 60_000 })) };
    expect(press(withList, ['j', 'd'], NOW).actions).toEqual([{ type: 'revoke', id: 'm2' }]);
    // X is "revoke everything": one action, the daemon revokes grants and the store's rules.
    expect(press(withList, ['X'], NOW).actions).toEqual([{ type: 'revoke-all' }]);
  });
});

describe('passphrase entry', () => {
  const locked = () => applyStatus(initialState(GUARD), { ...STATUS, locked: true });

  it('collects typed characters masked, Backspace and Ctrl+U edit, Enter hands them over', () => {
    const typed = press(locked(), [...'hunter2x', 'backspace', 'é'], NOW);
    expect(typed.state.prompt!.length).toBe(9);
    const cleared = press(typed.state, ['C-u'], NOW);
    expect(cleared.state.prompt!.length).toBe(0);
    expect(cleared.state.prompt!.buffer.every((b) => b === 0)).toBe(true);
    const done = press(cleared.state, [...'hunter2', 'enter'], NOW);
    expect(done.actions).toHaveLength(1);
    const action = done.actions[0] as Extract<Action, { type: 'unlock' }>;
    expect(action.type).toBe('unlock');
    expect(action.passphrase.toString()).toBe('hunter2');
    expect(done.state.prompt!.buffer.every((b) => b === 0)).toBe(true);
  });

  it('y typed into the prompt is part of the passphrase, not a decision', () => {
    const s = arrive(locked(), [secretRequest()], NOW);
    expect(press(s, ['y', 'n'], NOW + 10_000).actions).toEqual([]);
  });

  it('creating asks twice and refuses two different entries', () => {
    const first = applyStatus(initialState(GUARD), { ...STATUS, initialized: false, locked: true });
    const mismatch = press(first, [...'abc', 'enter', ...'abd', 'enter'], NOW);
    expect(mismatch.actions).toEqual([]);
    expect(mismatch.state.notice?.text).toMatch(/differ/);
    const ok = press(mismatch.state, [...'abc', 'enter', ...'abc', 'enter'], NOW);
    expect(ok.actions).toHaveLength(1);
    expect((ok.actions[0] as Extract<Action, { type: 'create' }>).passphrase.toString()).toBe('abc');
  });

  it('keeps the recovery code up until Enter', () => {
    const s = { ...arrived(), recoveryCode: { text: 'ABCD-EFGH', reason: 'created' as const } };
    expect(press(s, ['y', 'q', 'escape'], NOW).state.recoveryCode).toEqual({ text: 'ABCD-EFGH', reason: 'created' });
    expect(press(s, ['enter'], NOW).state.recoveryCode).toBeNull();
  });
});

describe('changing the passphrase (p)', () => {
  const wiped = (b: Buffer) => b.every((x) => x === 0);

  it('asks for the current passphrase, then the new one twice, and hands both over', () => {
    const asked = press(arrived(), ['p'], NOW);
    expect(asked.state.prompt).toMatchObject({ purpose: 'current', flow: 'change' });
    const current = asked.state.prompt!;
    const typedNew = press(asked.state, [...'old', 'enter', ...'new!', 'enter'], NOW);
    expect(wiped(current.buffer)).toBe(true);
    expect(typedNew.state.prompt).toMatchObject({ purpose: 'confirm', flow: 'change' });
    const done = press(typedNew.state, [...'new!', 'enter'], NOW);
    expect(done.state.prompt).toBeNull();
    expect(done.actions).toHaveLength(1);
    const action = done.actions[0] as Extract<Action, { type: 'change-passphrase' }>;
    expect(action.type).toBe('change-passphrase');
    expect(action.current.toString()).toBe('old');
    expect(action.passphrase.toString()).toBe('new!');
    expect(wiped(typedNew.state.prompt!.buffer) && wiped(typedNew.state.prompt!.first!)).toBe(true);
  });

  it('two different new entries: asks for the new one again, keeping the current one', () => {
    const mismatch = press(arrived(), ['p', ...'old', 'enter', ...'abc', 'enter', ...'abd', 'enter'], NOW);
    expect(mismatch.actions).toEqual([]);
    expect(mismatch.state.notice?.text).toMatch(/differ/);
    expect(mismatch.state.prompt).toMatchObject({ purpose: 'new', flow: 'change' });
    const ok = press(mismatch.state, [...'abc', 'enter', ...'abc', 'enter'], NOW);
    const action = ok.actions[0] as Extract<Action, { type: 'change-passphrase' }>;
    expect([action.current.toString(), action.passphrase.toString()]).toEqual(['old', 'abc']);
  });

  it('an empty entry is refused with a hint, not sent', () => {
    const r = press(arrived(), ['p', 'enter'], NOW);
    expect(r.actions).toEqual([]);
    expect(r.state.prompt?.purpose).toBe('current');
    expect(r.state.notice?.text).toMatch(/Type the passphrase/);
  });

  it('Esc at any step cancels, wipes what was typed and changes nothing', () => {
    for (const steps of [['p'], ['p', ...'old'], ['p', ...'old', 'enter', ...'ne'], ['p', ...'old', 'enter', ...'new', 'enter', ...'ne']]) {
      const before = press(arrived(), steps, NOW);
      const prompt = before.state.prompt!;
      const r = press(before.state, ['escape'], NOW);
      expect(r.actions).toEqual([]);
      expect(r.state.prompt).toBeNull();
      expect(r.state.notice?.text).toMatch(/not changed/);
      expect(wiped(prompt.buffer)).toBe(true);
      if (prompt.earlier) expect(wiped(prompt.earlier)).toBe(true);
      if (prompt.first) expect(wiped(prompt.first)).toBe(true);
    }
  });

  it('survives a status refresh while unlocked; locking replaces it with the unlock prompt', () => {
    const asked = press(arrived(), ['p', ...'ol'], NOW);
    expect(applyStatus(asked.state, STATUS).prompt?.purpose).toBe('current');
    const prompt = asked.state.prompt!;
    expect(applyStatus(asked.state, { ...STATUS, locked: true }).prompt?.purpose).toBe('unlock');
    expect(wiped(prompt.buffer)).toBe(true);
  });

  it('is not offered while the store is locked: p is part of the unlock passphrase', () => {
    const locked = applyStatus(initialState(GUARD), { ...STATUS, locked: true });
    const r = press(locked, ['p'], NOW);
    expect(r.state.prompt).toMatchObject({ purpose: 'unlock', length: 1 });
  });
});

describe('resetting a forgotten passphrase (Ctrl+R at the unlock prompt)', () => {
  const locked = () => applyStatus(initialState(GUARD), { ...STATUS, locked: true });
  const CODE = 'ABCD-EFGH-JKMN-PQRS-TVWX-YZ01-2345-6789';

  it('asks for the recovery code, then the new passphrase twice; the unlock prompt waits for the result', () => {
    const half = press(locked(), [...'half'], NOW).state;
    const unlockPrompt = half.prompt!;
    const asked = press(half, ['C-r'], NOW);
    expect(asked.state.prompt).toMatchObject({ purpose: 'recovery-code', flow: 'reset', length: 0 });
    expect(unlockPrompt.buffer.every((b) => b === 0)).toBe(true);
    const done = press(asked.state, [...CODE, 'enter', ...'fresh', 'enter', ...'fresh', 'enter'], NOW);
    expect(done.actions).toHaveLength(1);
    const action = done.actions[0] as Extract<Action, { type: 'reset-passphrase' }>;
    expect(action.type).toBe('reset-passphrase');
    expect(action.recoveryCode.toString()).toBe(CODE);
    expect(action.passphrase.toString()).toBe('fresh');
    expect(done.state.prompt).toMatchObject({ purpose: 'unlock', length: 0 });
  });

  it('Esc at any step goes back to the unlock prompt and wipes what was typed', () => {
    for (const steps of [['C-r'], ['C-r', ...'AB'], ['C-r', ...CODE, 'enter', ...'fr'], ['C-r', ...CODE, 'enter', ...'fresh', 'enter', ...'fr']]) {
      const before = press(locked(), steps, NOW);
      const prompt = before.state.prompt!;
      const r = press(before.state, ['escape'], NOW);
      expect(r.actions).toEqual([]);
      expect(r.state.prompt).toMatchObject({ purpose: 'unlock', length: 0 });
      expect(r.state.notice?.text).toMatch(/not reset/);
      expect(prompt.buffer.every((b) => b === 0)).toBe(true);
      expect(prompt.earlier?.every((b) => b === 0) ?? true).toBe(true);
    }
  });

  it('caps the code at what the daemon accepts', () => {
    const r = press(locked(), ['C-r', ...'A'.repeat(300)], NOW);
    expect(r.state.prompt!.length).toBe(256);
    expect(r.state.notice?.text).toMatch(/at most 256 characters/);
  });

  it('Ctrl+R does nothing outside the unlock prompt', () => {
    expect(press(arrived(), ['C-r'], NOW).state.prompt).toBeNull();
    const first = applyStatus(initialState(GUARD), { ...STATUS, initialized: false, locked: true });
    expect(press(first, ['C-r'], NOW).state.prompt?.flow).toBe('create');
  });

  it('unlocking the store (elsewhere) closes the reset prompt', () => {
    const asked = press(locked(), ['C-r', ...'AB'], NOW);
    expect(applyStatus(asked.state, STATUS).prompt).toBeNull();
  });
});

describe('a key protected by its own passphrase', () => {
  const keyImport = () => secretRequest({
    id: 'k1', kind: 'key', items: [], rememberScope: null,
    key: { action: 'import', fingerprint: 'AB'.repeat(20), userIds: ['N. B. <nb@example.org>'], algorithm: 'ed25519', needsPassphrase: true },
  });

  it('y asks for the passphrase on the console, Enter approves with it and wipes what was typed', () => {
    const asked = press(arrived(keyImport()), ['y'], NOW + GUARD);
    expect(asked.actions).toEqual([]);
    expect(asked.state.prompt).toMatchObject({ purpose: 'key-passphrase', requestId: 'k1' });
    const prompt = asked.state.prompt!;
    const done = press(asked.state, ['s', 'e', 'c', 'enter'], NOW + GUARD + 10);
    expect(done.actions).toHaveLength(1);
    const action = done.actions[0] as Extract<Action, { type: 'approve-with-secret' }>;
    expect(action).toMatchObject({ type: 'approve-with-secret', id: 'k1' });
    expect(action.secret.toString()).toBe('sec');
    expect(prompt.buffer.every((b) => b === 0)).toBe(true);
    expect(done.state.prompt).toBeNull();
    expect(done.state.pending).toHaveLength(0);
  });

  it('Esc backs out: nothing is decided and the request stays pending', () => {
    const asked = press(arrived(keyImport()), ['y', 'x'], NOW + GUARD);
    const back = press(asked.state, ['escape'], NOW + GUARD + 10);
    expect(back.actions).toEqual([]);
    expect(back.state.prompt).toBeNull();
    expect(back.state.pending.map((r) => r.id)).toEqual(['k1']);
  });

  it('n still denies at once without asking', () => {
    expect(press(arrived(keyImport()), ['n'], NOW + GUARD).actions).toEqual([{ type: 'decide', id: 'k1', verb: 'deny', minutes: 0 }]);
  });

  it('a status update of an unlocked store keeps the prompt open', () => {
    const asked = press(arrived(keyImport()), ['y'], NOW + GUARD);
    expect(applyStatus(asked.state, STATUS).prompt?.purpose).toBe('key-passphrase');
  });
});
