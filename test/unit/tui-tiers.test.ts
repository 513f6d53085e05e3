// The console's side of tiers: the tier on screen, y on a tier-high request opening the
// type-the-word prompt (and only the right word approving), a refusing to remember, t setting a tier.
import { describe, expect, it } from 'vitest';
import type { DaemonStatus } from '../../core/wire.js';
import { handleKey, type Action } from '../../tui/keys.js';
import { applyStatus, initialState, type ConsoleState } from '../../tui/state.js';
import { lineText, renderView } from '../../tui/view-model.js';
import { arrive, NOW, secretRequest, signRequest } from './tui-fixtures.js';

const STATUS: DaemonStatus = { initialized: true, locked: false, pending: 1, consoleConnected: true, version: '0.1.0', requestTimeoutSeconds: 300, throttled: null };
const CTX = { pageLines: 20, maxScroll: 100 };
const GUARD = 300;
const AT = NOW + GUARD;
const high = () => secretRequest({ tier: 'high', confirmWord: 'bako', rememberScope: null });

const arrived = (...requests: ReturnType<typeof secretRequest>[]): ConsoleState => arrive(applyStatus(initialState(GUARD), STATUS), requests, NOW);

function press(state: ConsoleState, keys: string[]): { state: ConsoleState; actions: Action[] } {
  let s = state;
  const actions: Action[] = [];
  for (const k of keys) {
    const r = handleKey(s, k, AT, CTX);
    s = r.state;
    actions.push(...r.actions);
  }
  return { state: s, actions };
}

const screen = (state: ConsoleState) => renderView(state, { width: 120, height: 40 }, AT).lines.map(lineText).join('\n');

describe('a tier-high request on the console', () => {
  it('shows the tier and the word in the detail and HIGH in the list row', () => {
    const text = screen(arrived(high()));
    expect(text).toMatch(/^> SECRET HIGH/m);
    expect(text).toContain('Tier         HIGH   asked every time, never remembered: y, then type the word bako');
    expect(text).toMatch(/a remembers +nothing: tier high is never remembered/);
    expect(screen(arrived(secretRequest()))).toMatch(/^Tier +normal *$/m);
  });

  it('y opens the prompt instead of deciding; a wrong word keeps it open; the right word approves once', () => {
    let r = press(arrived(high()), ['y']);
    expect(r.actions).toEqual([]);
    expect(r.state.pending).toHaveLength(1);
    expect(screen(r.state)).toContain('Tier high. Type the word bako to approve once');
    r = press(r.state, ['b', 'a', 'k', 'e', 'enter']);
    expect(r.actions).toEqual([]);
    expect(r.state.notice?.text).toContain('That is not the word');
    expect(r.state.prompt?.purpose).toBe('confirm-word');
    r = press(r.state, ['B', 'A', 'K', 'O', 'enter']);
    expect(r.actions).toEqual([{ type: 'decide-confirmed', id: 'r1', word: 'bako' }]);
    expect(r.state.pending).toHaveLength(0);
    expect(r.state.prompt).toBeNull();
  });

  it('a decides nothing and says tier high is never remembered; Esc leaves the prompt and the request pending', () => {
    const a = press(arrived(high()), ['a']);
    expect(a.actions).toEqual([]);
    expect(a.state.notice?.text).toContain('Tier high is never remembered');
    const esc = press(arrived(high()), ['y', 'b', 'escape']);
    expect(esc.state.prompt).toBeNull();
    expect(esc.state.pending).toHaveLength(1);
    expect(press(esc.state, ['n']).actions).toEqual([{ type: 'decide', id: 'r1', verb: 'deny', minutes: 0 }]);
  });

  it('the guard time still applies before the prompt opens', () => {
    const r = handleKey(arrived(high()), 'y', NOW + 10, CTX);
    expect(r.state.prompt).toBeNull();
    expect(r.state.notice?.text).toContain('Key ignored');
  });
});

describe('key t: the console sets a tier', () => {
  it('sets the tier of the request\'s items, with l/n/h or the full name', () => {
    let r = press(arrived(high()), ['t']);
    expect(screen(r.state)).toContain('Set the tier of the item of this request: low, normal or high');
    r = press(r.state, ['x', 'enter']);
    expect(r.actions).toEqual([]);
    expect(r.state.notice?.text).toContain('Type low, normal or high');
    r = press(r.state, ['n', 'enter']);
    expect(r.actions).toEqual([{ type: 'set-tier', what: 'item', ids: ['i1'], tier: 'normal' }]);
    expect(r.state.pending).toHaveLength(1);
    expect(press(arrived(high()), ['t', 'l', 'o', 'w', 'enter']).actions).toEqual([{ type: 'set-tier', what: 'item', ids: ['i1'], tier: 'low' }]);
  });

  it('on a signing request, sets the tier of its key', () => {
    const r = press(arrived(signRequest()), ['t', 'h', 'i', 'g', 'h', 'enter']);
    expect(r.actions).toEqual([{ type: 'set-tier', what: 'key', ids: ['0123456789ABCDEF0123456789ABCDEF01234567'], tier: 'high' }]);
  });
});
