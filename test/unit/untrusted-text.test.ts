import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../core/limits.js';
import { blockParts, blockText, capForConsole, charWidth, displayWidth, inertText, inlineParts, inlineText, isInert, omittedLinesMarker, TRUNCATION_MARK, wasCutForConsole } from '../../core/untrusted-text.js';

describe('inertText', () => {
  it('spells out ESC so CSI and OSC sequences cannot act', () => {
    expect(inertText('a\x1b[2Jb')).toBe('a\\x1b[2Jb');
    expect(inertText('\x1b]0;owned\x07')).toBe('\\x1b]0;owned\\x07');
  });

  it('shows carriage returns and backspaces instead of obeying them', () => {
    expect(inertText('safe\rEVIL')).toBe('safe\\rEVIL');
    expect(inertText('rm -rf\b\b\b\b\b\bls')).toBe('rm -rf\\b\\b\\b\\b\\b\\bls');
  });

  it('spells out 8-bit C1 controls (0x9b is a CSI on its own) and DEL', () => {
    expect(inertText('x\u009b2Jy\u009d0;t\u007f')).toBe('x\\x9b2Jy\\x9d0;t\\x7f');
  });

  it('shows bidi overrides, isolates and zero-width characters by code point', () => {
    expect(inertText('invoice\u202Egpj.exe')).toBe('invoice<U+202E>gpj.exe');
    expect(inertText('\u2066a\u2069\u200Bb\u200D\uFEFF')).toBe('<U+2066>a<U+2069><U+200B>b<U+200D><U+FEFF>');
    expect(inertText('line\u2028sep')).toBe('line<U+2028>sep');
  });

  it('doubles backslashes so a typed "\\x1b" cannot pass for an escaped one', () => {
    expect(inertText('\\x1b')).toBe('\\\\x1b');
  });

  it('keeps ordinary text, accents and CJK as they are', () => {
    expect(inertText('Zoë — 東京 ok')).toBe('Zoë — 東京 ok');
  });

  it('limits stacks of combining marks', () => {
    const zalgo = `a${'\u0301'.repeat(6)}`;
    expect(inertText(zalgo)).toBe(`a${'\u0301'.repeat(3)}${'<U+0301>'.repeat(3)}`);
  });

  it('shows blank-looking characters by code point, so two names that look alike can be told apart', () => {
    // Hangul fillers, the blank Braille pattern, no-break/em/ideographic spaces, variation selectors.
    expect(inertText('a\u3164b\u2800c\u115F\u1160d\u00A0e\u2003f\u3000g\uFFA0h\uFE0Fi'))
      .toBe('a<U+3164>b<U+2800>c<U+115F><U+1160>d<U+00A0>e<U+2003>f<U+3000>g<U+FFA0>h<U+FE0F>i');
    expect(inertText('plain space')).toBe('plain space');
    expect(isInert('git\u3164credential')).toBe(false);
  });

  it('shows a lone surrogate by code point', () => {
    expect(inertText('a\uD800b')).toBe('a<U+D800>b');
  });
});

describe('inlineText', () => {
  it('cuts long text to the width with a visible mark', () => {
    const out = inlineText('x'.repeat(100), { maxWidth: 10 });
    expect(out).toBe(`${'x'.repeat(9)}${TRUNCATION_MARK}`);
    expect(displayWidth(out)).toBe(10);
  });

  it('leaves short text alone and maps null to empty', () => {
    expect(inlineText('short', { maxWidth: 10 })).toBe('short');
    expect(inlineText(null, { maxWidth: 10 })).toBe('');
  });

  it('counts wide characters as two columns', () => {
    const out = inlineText('東京東京東京', { maxWidth: 7 });
    expect(displayWidth(out)).toBeLessThanOrEqual(7);
    expect(out.endsWith(TRUNCATION_MARK)).toBe(true);
  });

  it('counts emoji as two columns, as a terminal draws them, and cuts between whole characters', () => {
    expect(charWidth('🔑'.codePointAt(0)!)).toBe(2);
    expect(charWidth('✅'.codePointAt(0)!)).toBe(2);
    expect(charWidth('☀'.codePointAt(0)!)).toBe(1);
    expect(displayWidth('emoji only 🔑🔐 here')).toBe(20);
    for (let w = 1; w <= 22; w++) expect(displayWidth(inlineText('emoji only 🔑🔐 here', { maxWidth: w }))).toBeLessThanOrEqual(w);
    expect(inlineParts('🔑🔐🔑', { maxWidth: 4 })).toEqual({ text: '🔑', cut: true });
  });

  it('counts the spelled-out form against the width, so escapes cannot hide past the edge', () => {
    const out = inlineText('\x1b\x1b\x1b\x1b', { maxWidth: 10 });
    expect(out).toBe(`\\x1b\\x1b\\${TRUNCATION_MARK}`);
  });

  it('handles a 10 MB label quickly and marks it cut', () => {
    const start = process.hrtime.bigint();
    const out = inlineText('A'.repeat(10_000_000), { maxWidth: 80 });
    expect(Number(process.hrtime.bigint() - start) / 1e6).toBeLessThan(200);
    expect(out.endsWith(TRUNCATION_MARK)).toBe(true);
    expect(displayWidth(out)).toBe(80);
  });

  it('marks pre-cut text even when combining marks make it narrow', () => {
    const out = inlineText(`a${'\u0301'.repeat(5000)}`, { maxWidth: 2000 });
    expect(out.endsWith(TRUNCATION_MARK)).toBe(true);
  });
});

describe('the console cap', () => {
  it('cuts what the daemon sends to the cap, keeps surrogate pairs whole, and the console marks it cut', () => {
    const cap = LIMITS.shownTextChars;
    expect(capForConsole('x'.repeat(10 * cap))).toHaveLength(cap);
    const pairAtEdge = `${'x'.repeat(cap - 1)}🔑tail`;
    expect(capForConsole(pairAtEdge)).toBe(`${'x'.repeat(cap - 1)}🔑`);
    expect(wasCutForConsole(capForConsole(pairAtEdge))).toBe(true);
    expect(capForConsole('short')).toBe('short');
    // Even on a field wider than what arrived, text the daemon cut is marked.
    expect(inlineParts(capForConsole('y'.repeat(5000)), { maxWidth: 4000 }).cut).toBe(true);
    expect(inlineParts('short', { maxWidth: 4000 }).cut).toBe(false);
  });
});

describe('blockText', () => {
  it('blockParts gives the lines and the count left out separately (the view draws the marker itself)', () => {
    expect(blockParts('a\nb\nc\n', { maxWidth: 80, maxLines: 2 })).toEqual({ lines: [{ text: 'a', cut: false }, { text: 'b', cut: false }], omitted: 1 });
  });

  it('splits on newlines only and makes each line inert', () => {
    expect(blockText('one\r\ntwo\x1b[1A\nthree', { maxWidth: 80, maxLines: 10 })).toEqual(['one\\r', 'two\\x1b[1A', 'three']);
  });

  it('replaces lines past the limit by one marker that says how many', () => {
    const body = Array.from({ length: 10_000 }, (_, i) => `line ${i}`).join('\n');
    const out = blockText(body, { maxWidth: 80, maxLines: 100 });
    expect(out).toHaveLength(101);
    expect(out[99]).toBe('line 99');
    expect(out[100]).toBe(omittedLinesMarker(9900));
  });

  it('treats a final newline as the end of the last line', () => {
    expect(blockText('a\nb\n', { maxWidth: 80, maxLines: 10 })).toEqual(['a', 'b']);
    expect(blockText('a\nb\nc\n', { maxWidth: 80, maxLines: 2 })).toEqual(['a', 'b', omittedLinesMarker(1)]);
  });

  it('returns nothing for empty input', () => {
    expect(blockText('', { maxWidth: 80, maxLines: 10 })).toEqual([]);
  });
});

describe('isInert', () => {
  it('accepts sanitised hostile text and rejects the raw form', () => {
    const hostile = 'a\x1b[2J\x1b]0;t\x07\rb\b\u202E\u200B\u009b';
    expect(isInert(hostile)).toBe(false);
    expect(isInert(inertText(hostile))).toBe(true);
  });
});

describe('wrapped text breaks between words', () => {
  it('keeps words whole where a line has a space, and cuts a word longer than a line', async () => {
    const { wrappedParts } = await import('../../core/untrusted-text.js');
    expect(wrappedParts('may read it for 10 minutes', { maxWidth: 12, maxLines: 5 })).toEqual({ lines: ['may read it', 'for 10', 'minutes'], cut: false });
    expect(wrappedParts('abcdefghij', { maxWidth: 4, maxLines: 5 })).toEqual({ lines: ['abcd', 'efgh', 'ij'], cut: false });
    expect(wrappedParts('one two three four', { maxWidth: 7, maxLines: 2 }).cut).toBe(true);
  });
});
