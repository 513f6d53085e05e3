// Text that came from a requester (labels, attributes, commit messages, file names, process names)
// is shown on the console only after passing through here (DESIGN §4). Anything that could move the
// cursor, recolour the screen, rewrite the window title, overwrite earlier characters or reorder
// what the human reads is replaced by a visible, inert spelling of itself, and long text is cut with
// a marker that says how much was left out, so nothing a requester sends can fake a line.

/** Shown where a single line was cut. */
export const TRUNCATION_MARK = '…';

const NAMED_ESCAPES: Record<string, string> = {
  '\x1b': '\\x1b',
  '\r': '\\r',
  '\n': '\\n',
  '\t': '\\t',
  '\b': '\\b',
  '\x7f': '\\x7f',
  '\\': '\\\\',
};

function hex2(code: number): string {
  return code.toString(16).padStart(2, '0');
}

function uPlus(code: number): string {
  return `<U+${code.toString(16).toUpperCase().padStart(4, '0')}>`;
}

// Format characters (bidi overrides and isolates, zero-width joiners, BOM, soft hyphen, ...), line
// and paragraph separators, unassigned and surrogate code points: none of them has a visible glyph
// of its own, so each is shown by its code point.
const INVISIBLE = /[\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Cn}\p{Co}]/u;
const COMBINING = /\p{M}/u;
// A stack of combining marks can paint over the lines above and below on some terminals; a few are
// normal in real names, more than this are shown by code point.
const MAX_COMBINING_RUN = 3;

/** Columns a code point takes in a terminal: 2 for East Asian wide and emoji, 1 otherwise. */
export function charWidth(code: number): number {
  if (
    (code >= 0x1100 && code <= 0x115f) || (code >= 0x2e80 && code <= 0xa4cf && code !== 0x303f) ||
    (code >= 0xac00 && code <= 0xd7a3) || (code >= 0xf900 && code <= 0xfaff) || (code >= 0xfe30 && code <= 0xfe4f) ||
    (code >= 0xff00 && code <= 0xff60) || (code >= 0xffe0 && code <= 0xffe6) || (code >= 0x1f300 && code <= 0x1faff) ||
    (code >= 0x20000 && code <= 0x3fffd)
  ) return 2;
  return 1;
}

/** Display width of text that has already been made inert. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) width += COMBINING.test(ch) ? 0 : charWidth(ch.codePointAt(0)!);
  return width;
}

/**
 * One line of inert text: every control character, escape sequence introducer, C1 control, bidi
 * and zero-width character spelled out (`\x1b`, `\r`, `<U+202E>`), newlines shown as `\n`.
 * The backslash itself is doubled so that a requester cannot type a fake `\x1b` that looks like an
 * escaped one and hides a real one next to it.
 */
export function inertText(untrusted: string): string {
  let out = '';
  let combiningRun = 0;
  for (const ch of untrusted) {
    const code = ch.codePointAt(0)!;
    const named = NAMED_ESCAPES[ch];
    if (named) {
      out += named;
      combiningRun = 0;
    } else if (code < 0x20 || (code >= 0x80 && code <= 0x9f)) {
      // C0 and C1 controls: 0x9b alone is a CSI on 8-bit terminals, 0x9d an OSC.
      out += `\\x${hex2(code)}`;
      combiningRun = 0;
    } else if (INVISIBLE.test(ch)) {
      out += uPlus(code);
      combiningRun = 0;
    } else if (COMBINING.test(ch)) {
      combiningRun += 1;
      out += combiningRun > MAX_COMBINING_RUN ? uPlus(code) : ch;
    } else {
      out += ch;
      combiningRun = 0;
    }
  }
  return out;
}

function takeWidth(text: string, maxWidth: number): string {
  let out = '';
  let width = 0;
  for (const ch of text) {
    const w = COMBINING.test(ch) ? 0 : charWidth(ch.codePointAt(0)!);
    if (width + w > maxWidth) break;
    out += ch;
    width += w;
  }
  return out;
}

/** Cut inert text to at most `maxWidth` columns, ending with the truncation mark when cut. */
export function truncateToWidth(text: string, maxWidth: number): string {
  if (maxWidth <= 0) return '';
  if (displayWidth(text) <= maxWidth) return text;
  return takeWidth(text, maxWidth - 1) + TRUNCATION_MARK;
}

export interface InlineOptions {
  /** Most columns shown; longer text ends with the truncation mark. */
  maxWidth: number;
}

/** A single-line field (a label, an attribute value, a process name): inert, then cut. */
export function inlineText(untrusted: string | null | undefined, options: InlineOptions): string {
  if (untrusted === null || untrusted === undefined) return '';
  // Inertness first: cutting raw text first could leave half of an escape sequence that a later
  // step would misread; and an over-long input is pre-cut so a 10 MB label costs little.
  let preCut = untrusted;
  if (untrusted.length > options.maxWidth * 4 + 16) {
    let end = options.maxWidth * 4 + 16;
    // Do not split a surrogate pair: half of one would be shown as a code point of its own.
    if (/[\uD800-\uDBFF]/.test(untrusted[end - 1]!)) end -= 1;
    preCut = untrusted.slice(0, end);
  }
  const inert = inertText(preCut);
  if (preCut === untrusted) return truncateToWidth(inert, options.maxWidth);
  // The pre-cut dropped text, so the mark is due even if what is left happens to fit.
  return displayWidth(inert) < options.maxWidth ? inert + TRUNCATION_MARK : takeWidth(inert, options.maxWidth - 1) + TRUNCATION_MARK;
}

export interface BlockOptions {
  /** Columns per shown line; longer lines are cut (not wrapped) with the truncation mark. */
  maxWidth: number;
  /** Lines kept; the rest is replaced by one marker line saying how many were left out. */
  maxLines: number;
}

/** The marker line that replaces what was left out of a block. */
export function omittedLinesMarker(count: number): string {
  return `[… ${count} more line${count === 1 ? '' : 's'} not shown]`;
}

/**
 * A multi-line field (a commit message, a file list): split on `\n` only (a lone `\r` is shown, not
 * obeyed), each line made inert and cut; past `maxLines`, a marker line with the count left out.
 */
export function blockText(untrusted: string | null | undefined, options: BlockOptions): string[] {
  if (untrusted === null || untrusted === undefined || untrusted === '') return [];
  const lines: string[] = [];
  let start = 0;
  let total = 0;
  while (start <= untrusted.length) {
    const end = untrusted.indexOf('\n', start);
    const stop = end === -1 ? untrusted.length : end;
    if (lines.length < options.maxLines) lines.push(inlineText(untrusted.slice(start, stop), { maxWidth: options.maxWidth }));
    total += 1;
    if (end === -1) break;
    start = end + 1;
  }
  // A final newline ends the last line rather than opening an empty one.
  if (untrusted.endsWith('\n')) {
    total -= 1;
    if (lines.length > total) lines.pop();
  }
  if (total > lines.length) lines.push(omittedLinesMarker(total - lines.length));
  return lines;
}

/** True when text contains nothing a terminal would obey: the check tests use on rendered output. */
export function isInert(text: string): boolean {
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || INVISIBLE.test(ch)) return false;
  }
  return true;
}
