// The one rule for a request's reason, how the daemon keeps it out of the claims, and how the
// console wraps it: capped, never rewritten, shown inert.
import { describe, expect, it } from 'vitest';
import { REASON_KEY, validReason } from '../../core/reason.js';
import { displayWidth, isInert, wrappedParts } from '../../core/untrusted-text.js';
import { sanitizeClaims } from '../../daemon/identity/requesters.js';

describe('validReason', () => {
  it('keeps a reason as sent, escape sequences and newlines included; absent or empty is none', () => {
    expect(validReason('deploy \x1b[2J\nnow')).toBe('deploy \x1b[2J\nnow');
    expect(validReason(undefined)).toBeNull();
    expect(validReason('')).toBeNull();
    expect(validReason('r'.repeat(300))).toHaveLength(300);
  });

  it('refuses an over-long or non-string reason with a code and the numbers', () => {
    expect(() => validReason('r'.repeat(301))).toThrow(expect.objectContaining({ code: 'TooLarge', message: expect.stringContaining('301 characters (limit 300)') }));
    expect(() => validReason(42)).toThrow(expect.objectContaining({ code: 'InvalidArgs' }));
  });

  it('is not a claim: the context key is left out of `claimed`, whatever its size', () => {
    expect(sanitizeClaims({ [REASON_KEY]: 'x'.repeat(100_000), via: 'cli' })).toEqual({ via: 'cli' });
  });
});

describe('wrappedParts', () => {
  it('wraps the inert spelling to the width and marks a cut at the line limit', () => {
    const w = wrappedParts('ab\x1b[2Jcd\nef', { maxWidth: 4, maxLines: 10 });
    expect(w).toEqual({ lines: ['ab\\x', '1b[2', 'Jcd\\', 'nef'], cut: false });
    const cut = wrappedParts('x'.repeat(20), { maxWidth: 5, maxLines: 2 });
    expect(cut.cut).toBe(true);
    expect(cut.lines).toEqual(['xxxxx', 'xxxx']);
  });

  it('counts wide characters as two columns and never passes the width', () => {
    const w = wrappedParts('漢字漢字漢字\u202E', { maxWidth: 5, maxLines: 10 });
    for (const line of w.lines) {
      expect(displayWidth(line)).toBeLessThanOrEqual(5);
      expect(isInert(line)).toBe(true);
    }
    expect(w.lines.join('')).toBe('漢字漢字漢字<U+202E>');
    expect(wrappedParts(null, { maxWidth: 10, maxLines: 3 })).toEqual({ lines: [], cut: false });
  });
});
