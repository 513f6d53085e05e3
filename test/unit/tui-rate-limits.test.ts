// The console's side of rate limits: the banner under the title names the program (inert, within
// the width) and when the limit ends; `c` lifts exactly the one shown; a malformed Cooldowns value
// from the bus is left out rather than trusted.
import { describe, expect, it } from 'vitest';
import { Variant } from '../../core/dbus/bus.js';
import { displayWidth, isInert } from '../../core/untrusted-text.js';
import type { DaemonStatus, RateLimitNotice } from '../../core/wire.js';
import { parseStatus } from '../../tui/console-client.js';
import { handleKey } from '../../tui/keys.js';
import { applyStatus, initialState } from '../../tui/state.js';
import { lineText, renderView } from '../../tui/view-model.js';
import { arrive, NOW, secretRequest } from './tui-fixtures.js';

const STATUS: DaemonStatus = { initialized: true, locked: false, pending: 1, consoleConnected: true, version: '0.1.0', requestTimeoutSeconds: 300, throttled: null };
const HOSTILE = '/tmp/\x1b[2J\x1b]0;owned\x07\u202Epython3';
const notice = (over: Partial<RateLimitNotice> = {}): RateLimitNotice => ({
  id: 'c0123456789ab', subject: `${HOSTILE} (uid 1000)`, uid: 1000, why: 'cooldown', until: NOW + 10 * 60_000, refused: 3, ...over,
});
const withLimits = (cooldowns: RateLimitNotice[]) => arrive(applyStatus(initialState(300), { ...STATUS, cooldowns }), [secretRequest()], NOW);

describe('rate limits on the console', () => {
  it('a banner under the title names the program inert, says until when and which key lifts it, within the width', () => {
    for (const size of [{ width: 100, height: 40 }, { width: 60, height: 12 }]) {
      const lines = renderView(withLimits([notice(), notice({ id: 'c1', why: 'burst' })]), size, NOW).lines.map(lineText);
      for (const line of lines) {
        expect(displayWidth(line)).toBe(size.width);
        expect(isInert(line)).toBe(true);
      }
      const banner = lines.find((l) => l.includes('c lifts it'))!;
      expect(banner).toContain('\\x1b[2J');
      expect(banner).toContain('(+1 more)');
      if (size.width >= 100) expect(banner).toMatch(/… in cooldown until \d\d:\d\d/);
    }
    const quiet = renderView(withLimits([]), { width: 100, height: 40 }, NOW).lines.map(lineText);
    expect(quiet.some((l) => l.includes('c lifts it'))).toBe(false);
  });

  it('each kind of limit says what it means', () => {
    const line = (why: RateLimitNotice['why']) => renderView(withLimits([notice({ why, subject: '/usr/bin/python3 (uid 1000)' })]), { width: 200, height: 40 }, NOW).lines.map(lineText).find((l) => l.includes('c lifts it'))!;
    expect(line('cooldown')).toContain('too many denied or unanswered');
    expect(line('prompts')).toContain('asks too often: 3 refused until');
    expect(line('burst')).toContain('remembered decisions are paused');
  });

  it('c lifts the limit shown, and does nothing when none is', () => {
    expect(handleKey(withLimits([notice({ id: 'cfirst' }), notice({ id: 'csecond' })]), 'c', NOW, { pageLines: 20, maxScroll: 0 }).actions)
      .toEqual([{ type: 'lift-cooldown', id: 'cfirst' }]);
    expect(handleKey(withLimits([]), 'c', NOW, { pageLines: 20, maxScroll: 0 }).actions).toEqual([]);
  });

  it('reads Cooldowns from Status, leaving out what is malformed', () => {
    const base = { Initialized: new Variant('b', true), Locked: new Variant('b', false) };
    const good = notice({ subject: '/usr/bin/git (uid 1000)' });
    expect(parseStatus({ ...base, Cooldowns: new Variant('s', JSON.stringify([good, { ...good, why: 'whatever' }, { id: 5 }, null])) }).cooldowns).toEqual([good]);
    expect(parseStatus({ ...base, Cooldowns: new Variant('s', '{not json') }).cooldowns).toEqual([]);
    expect(parseStatus({ ...base, Cooldowns: new Variant('s', '{"id":"x"}') }).cooldowns).toEqual([]);
    expect(parseStatus(base).cooldowns).toEqual([]);
  });
});
