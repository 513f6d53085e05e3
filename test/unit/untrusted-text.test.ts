import { describe, expect, it } from 'vitest';
import { blockText, displayWidth, inertText, inlineText, isInert, omittedLinesMarker, TRUNCATION_MARK } from '../../core/untrusted-text.js';

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

describe('blockText', () => {
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
