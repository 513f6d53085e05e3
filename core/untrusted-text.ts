// Text that came from a requester (labels, attributes, commit messages, file names, process names)
// is shown on the console only after passing through here (DESIGN §4). Anything that could move the
// cursor, recolour the screen, rewrite the window title, overwrite earlier characters or reorder
// what the human reads is replaced by a visible, inert spelling of itself, and long text is cut with
// a marker that says how much was left out, so nothing a requester sends can fake a line.

import { LIMITS } from './limits.js';

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
// Characters that draw as blank space (or nothing) although they are not a plain space: other
// spaces (no-break, en, em, ideographic, ...), the Hangul fillers, the blank Braille pattern,
// variation selectors and other default-ignorable marks. A requester could use them to make two
// different names look the same or to hide text, so each is shown by its code point too.
const OTHER_SPACE = /\p{Zs}/u;
const BLANK_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x034f, 0x034f], [0x115f, 0x1160], [0x17b4, 0x17b5], [0x180b, 0x180f], [0x2800, 0x2800], [0x3164, 0x3164],
  [0xfe00, 0xfe0f], [0xffa0, 0xffa0], [0xe0100, 0xe01ef],
];

function blankLooking(ch: string, code: number): boolean {
  if (code === 0x20) return false;
  return OTHER_SPACE.test(ch) || BLANK_RANGES.some(([low, high]) => code >= low && code <= high);
}
/** Marks that take no column of their own (enclosing and non-spacing); spacing marks take one. */
const COMBINING = /[\p{Mn}\p{Me}]/u;
// A stack of combining marks can paint over the lines above and below on some terminals; a few are
// normal in real names, more than this are shown by code point.
const MAX_COMBINING_RUN = 3;

/** True for a code point that takes no column (a combining mark). */
export function isZeroWidth(code: number): boolean {
  return COMBINING.test(String.fromCodePoint(code));
}

// East Asian Wide and Fullwidth ranges (Unicode 15), and emoji shown as pictures (the
// Emoji_Presentation property): a terminal gives each of these two columns.
const WIDE_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x1100, 0x115f], [0x231a, 0x231b], [0x2329, 0x232a], [0x2e80, 0x303e], [0x3041, 0x33ff], [0x3400, 0x4dbf],
  [0x4e00, 0x9fff], [0xa000, 0xa4cf], [0xa960, 0xa97f], [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f], [0xff00, 0xff60], [0xffe0, 0xffe6], [0x16fe0, 0x16fe4], [0x17000, 0x18cff], [0x1b000, 0x1b2ff],
  [0x1f200, 0x1f2ff], [0x20000, 0x2fffd], [0x30000, 0x3fffd],
];
const EMOJI_PRESENTATION = /\p{Emoji_Presentation}/u;

/** Columns a code point takes in a terminal: 2 for East Asian wide and emoji, 0 for combining marks, 1 otherwise. */
export function charWidth(code: number): number {
  for (const [low, high] of WIDE_RANGES) {
    if (code < low) break;
    if (code <= high) return 2;
  }
  if (code >= 0x2300 && EMOJI_PRESENTATION.test(String.fromCodePoint(code))) return 2;
  return 1;
}

/** One character that takes two columns (global, captured): for a renderer that marks wide cells. */
export const WIDE_CHARACTER = new RegExp(`([${WIDE_RANGES.map(([l, h]) => `\\u{${l.toString(16)}}-\\u{${h.toString(16)}}`).join('')}]|\\p{Emoji_Presentation})`, 'gu');

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
    } else if (INVISIBLE.test(ch) || blankLooking(ch, code)) {
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

/** Inert text and whether it was cut: the caller draws the mark itself, in a style of its own. */
export interface ShownText {
  /** Inert, at most maxWidth - 1 columns when cut (room for the mark), maxWidth otherwise. */
  text: string;
  cut: boolean;
}

/**
 * Cut text a requester sent before it goes to the console (the daemon's side of the console
 * protocol): at most LIMITS.shownTextChars UTF-16 units, a surrogate pair kept whole. Text that
 * arrives at that length or longer counts as cut (`wasCutForConsole`), so the console marks it
 * without a flag of its own: one definition on both sides.
 */
export function capForConsole(untrusted: string): string {
  const cap = LIMITS.shownTextChars;
  if (untrusted.length <= cap) return untrusted;
  const end = /[\uD800-\uDBFF]/.test(untrusted[cap - 1]!) ? cap + 1 : cap;
  return untrusted.slice(0, end);
}

/** True for text the daemon may have cut with capForConsole (a text exactly at the cap is marked too). */
export function wasCutForConsole(text: string): boolean {
  return text.length >= LIMITS.shownTextChars;
}

/** A single-line field (a label, an attribute value, a process name): inert, then cut. */
export function inlineParts(untrusted: string | null | undefined, options: InlineOptions): ShownText {
  if (untrusted === null || untrusted === undefined || options.maxWidth <= 0) return { text: '', cut: false };
  const maxWidth = options.maxWidth;
  // Inertness first: cutting raw text first could leave half of an escape sequence that a later
  // step would misread; and an over-long input is pre-cut so a 10 MB label costs little.
  let preCut = untrusted;
  if (untrusted.length > maxWidth * 4 + 16) {
    let end = maxWidth * 4 + 16;
    // Do not split a surrogate pair: half of one would be shown as a code point of its own.
    if (/[\uD800-\uDBFF]/.test(untrusted[end - 1]!)) end -= 1;
    preCut = untrusted.slice(0, end);
  }
  const inert = inertText(preCut);
  // Text dropped before this point (the pre-cut here, the daemon's cap) is due its mark even if
  // what is left happens to fit.
  const droppedEarlier = preCut !== untrusted || wasCutForConsole(untrusted);
  if (!droppedEarlier && displayWidth(inert) <= maxWidth) return { text: inert, cut: false };
  return { text: displayWidth(inert) < maxWidth && droppedEarlier ? inert : takeWidth(inert, maxWidth - 1), cut: true };
}

/** inlineParts as one string, the mark appended (for places that draw it in the text's own style). */
export function inlineText(untrusted: string | null | undefined, options: InlineOptions): string {
  const shown = inlineParts(untrusted, options);
  return shown.cut ? shown.text + TRUNCATION_MARK : shown.text;
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

/** A block's shown lines, each inert and cut, and how many lines were left out. */
export interface ShownBlock {
  lines: ShownText[];
  omitted: number;
}

/**
 * A multi-line field (a commit message, a file list): split on `\n` only (a lone `\r` is shown, not
 * obeyed), each line made inert and cut; past `maxLines`, only the count of lines left out.
 */
export function blockParts(untrusted: string | null | undefined, options: BlockOptions): ShownBlock {
  if (untrusted === null || untrusted === undefined || untrusted === '') return { lines: [], omitted: 0 };
  const lines: ShownText[] = [];
  let start = 0;
  let total = 0;
  while (start <= untrusted.length) {
    const end = untrusted.indexOf('\n', start);
    const stop = end === -1 ? untrusted.length : end;
    if (lines.length < options.maxLines) lines.push(inlineParts(untrusted.slice(start, stop), { maxWidth: options.maxWidth }));
    total += 1;
    if (end === -1) break;
    start = end + 1;
  }
  // A final newline ends the last line rather than opening an empty one.
  if (untrusted.endsWith('\n')) {
    total -= 1;
    if (lines.length > total) lines.pop();
  }
  return { lines, omitted: total - lines.length };
}

/** blockParts as strings, the marks and the omitted-lines marker line in the text itself. */
export function blockText(untrusted: string | null | undefined, options: BlockOptions): string[] {
  const block = blockParts(untrusted, options);
  const lines = block.lines.map((l) => (l.cut ? l.text + TRUNCATION_MARK : l.text));
  if (block.omitted > 0) lines.push(omittedLinesMarker(block.omitted));
  return lines;
}

/** True when text contains nothing a terminal would obey: the check tests use on rendered output. */
export function isInert(text: string): boolean {
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || INVISIBLE.test(ch) || blankLooking(ch, code)) return false;
  }
  return true;
}

/**
 * A short free text (a request's reason) made inert and wrapped to `maxWidth` columns, at most
 * `maxLines` lines; `cut` when more was left out. Wrapping happens after inertness, so a newline
 * the requester sent shows as `\n` inside a line rather than starting one it chose. A line breaks
 * at its last space when it has one, so words (a path, a hash, "10 minutes") stay whole.
 */
export function wrappedParts(untrusted: string | null | undefined, options: BlockOptions): { lines: string[]; cut: boolean } {
  if (!untrusted || options.maxWidth <= 1 || options.maxLines <= 0) return { lines: [], cut: false };
  const inert = inertText(untrusted);
  const lines: string[] = [];
  let line = '';
  let width = 0;
  for (const ch of inert) {
    const code = ch.codePointAt(0)!;
    const w = isZeroWidth(code) ? 0 : charWidth(code);
    if (width + w > options.maxWidth) {
      const space = ch === ' ' ? line.length : line.lastIndexOf(' ');
      const carry = space > 0 ? line.slice(space + 1) : '';
      lines.push(space > 0 ? line.slice(0, space) : line);
      if (lines.length === options.maxLines) return { lines: [...lines.slice(0, -1), takeWidth(lines.at(-1)!, options.maxWidth - 1)], cut: true };
      line = carry;
      width = displayWidth(carry);
      if (ch === ' ') continue;
    }
    line += ch;
    width += w;
  }
  if (line) lines.push(line);
  return { lines, cut: false };
}
