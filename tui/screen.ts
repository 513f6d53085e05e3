// The only module that knows blessed (DESIGN §8: unmaintained, so kept behind the pure view-model).
// It paints the lines tui/view-model.ts computed, turns terminal key events into our key names, and
// reports resizes. On a VT it runs as `terminal: 'linux'` on the opened device.
import { openSync } from 'node:fs';
import { createRequire } from 'node:module';
import tty from 'node:tty';
import blessed from 'blessed';
import { charWidth, isZeroWidth, WIDE_CHARACTER } from '../core/untrusted-text.js';
import type { Key } from './keys.js';
import type { Line, Size, Style, View } from './view-model.js';

export interface ScreenOptions {
  /** A terminal device to take over (e.g. /dev/tty8); default: this process's stdin/stdout. */
  ttyPath?: string;
  onKey(key: Key): void;
  onResize(size: Size): void;
}

const STYLE_TAGS: Record<Style, string> = {
  normal: '',
  bold: '{bold}',
  dim: '{grey-fg}',
  title: '{inverse}{bold}',
  focus: '{inverse}',
  label: '{cyan-fg}',
  claimed: '{yellow-fg}',
  warn: '{yellow-fg}{bold}',
  error: '{red-fg}{bold}',
  // No requester text is ever drawn with a background colour (see view-model.ts Style).
  marker: '{black-fg}{green-bg}',
  'badge-secret': '{black-fg}{yellow-bg}',
  'badge-sign': '{white-fg}{magenta-bg}',
  'badge-write': '{white-fg}{blue-bg}',
  'badge-delete': '{white-fg}{red-bg}',
  'badge-key': '{black-fg}{cyan-bg}',
};

// Names the key machine understands; blessed's own names are mapped onto them.
const NAMED: Record<string, Key> = {
  enter: 'enter', return: 'enter', escape: 'escape', backspace: 'backspace', up: 'up', down: 'down',
  pageup: 'pageup', pagedown: 'pagedown', home: 'home', end: 'end', delete: 'delete', tab: 'tab',
  'C-u': 'C-u', 'C-c': 'C-c', 'C-l': 'C-l', 'C-r': 'C-r',
};

/** Blessed tags in text are escaped: the view-model's text is inert for the terminal, and this keeps it inert for blessed. */
function escapeTags(text: string): string {
  return text.replace(/[{}]/g, (c) => (c === '{' ? '{open}' : '{close}'));
}

export function toTagged(line: Line): string {
  return line.map((s) => {
    const open = STYLE_TAGS[s.style];
    return open ? `${open}${escapeTags(s.text)}{/}` : escapeTags(s.text);
  }).join('');
}

interface BlessedUnicode {
  charWidth(str: string | number, i?: number): number;
  codePointAt(str: string, i: number): number;
  combining: Record<number, boolean>;
  chars: { all: RegExp };
}

let widthsPatched = false;

/**
 * blessed's own table of character widths (Unicode 6) knows no emoji: a label with one was laid
 * out a column short of what the terminal draws, and cells were left over. So there is one measure
 * of width for the view-model and blessed: blessed puts a placeholder cell after each character
 * its `chars.all` matches, skips that cell when drawing a character whose charWidth is 2, and
 * merges its `combining` characters into the cell before.
 */
function useOurWidths(): void {
  if (widthsPatched) return;
  widthsPatched = true;
  // The module blessed itself loaded (CommonJS shares one instance).
  const u = createRequire(import.meta.url)('blessed/lib/unicode.js') as BlessedUnicode;
  const original = u.charWidth.bind(u);
  u.charWidth = (str, i) => {
    const code = typeof str === 'number' ? str : u.codePointAt(str, i ?? 0);
    // Controls and the tab keep blessed's own answer; text reaching blessed is inert already.
    if (code < 0x20 || (code >= 0x7f && code < 0xa0)) return original(str, i);
    return isZeroWidth(code) ? 0 : charWidth(code);
  };
  u.combining = new Proxy({}, { get: (_target, key) => typeof key === 'string' && /^\d+$/.test(key) && isZeroWidth(Number(key)) }) as Record<number, boolean>;
  u.chars.all = WIDE_CHARACTER;
}

export class ConsoleScreen {
  private readonly screen: blessed.Widgets.Screen;
  private readonly box: blessed.Widgets.BoxElement;
  private lastEnter = 0;
  private readonly streams: Array<tty.ReadStream | tty.WriteStream> = [];

  constructor(options: ScreenOptions) {
    useOurWidths();
    let io: { input: NodeJS.ReadableStream; output: NodeJS.WritableStream; terminal?: string } = { input: process.stdin, output: process.stdout };
    if (options.ttyPath) {
      const fd = openSync(options.ttyPath, 'r+');
      const input = new tty.ReadStream(fd);
      const output = new tty.WriteStream(fd);
      io = { input, output, terminal: 'linux' };
      this.streams.push(input, output);
    }
    this.screen = blessed.screen({
      ...io,
      smartCSR: true,
      fullUnicode: true,
      warnings: false,
      autoPadding: false,
      // Ctrl+C and friends reach us as keys; nothing is handled behind the key machine's back.
      ignoreLocked: [],
    } as unknown as blessed.Widgets.IScreenOptions);
    this.box = blessed.box({ parent: this.screen, top: 0, left: 0, width: '100%', height: '100%', tags: true, wrap: false } as blessed.Widgets.BoxOptions);
    this.screen.program.hideCursor();
    this.screen.on('keypress', (ch: string | undefined, key: { full?: string; name?: string; ctrl?: boolean } | undefined) => {
      // Meta (a doubled ESC, Alt) is dropped: M-escape is still Escape; Ctrl is kept (C-u, C-c).
      const name = key?.ctrl ? key.full : key?.name;
      let mapped: Key | undefined = name ? NAMED[name] : undefined;
      if (mapped === 'enter') {
        // Some terminals send CR LF for one Enter; blessed reports both. Only an Enter right after
        // another one is that pair: a quick "text, Enter" after an Enter is typing, and counts.
        const now = Date.now();
        if (now - this.lastEnter < 15) return;
        this.lastEnter = now;
      } else {
        this.lastEnter = 0;
      }
      if (!mapped && ch && ch >= ' ' && ch !== '\x7f') mapped = ch;
      if (mapped) options.onKey(mapped);
    });
    this.screen.on('resize', () => options.onResize(this.size));
  }

  get size(): Size {
    return { width: Number(this.screen.width), height: Number(this.screen.height) };
  }

  paint(view: View): void {
    this.box.setContent(view.lines.map(toTagged).join('\n'));
    this.screen.render();
  }

  /** Forget what blessed believes is on the terminal and paint every cell again (Ctrl+L). */
  redraw(view: View): void {
    this.screen.program.clear();
    this.screen.realloc();
    this.paint(view);
  }

  destroy(): void {
    this.screen.program.showCursor();
    this.screen.destroy();
    // An open terminal stream keeps the process alive after main() returns.
    for (const stream of this.streams) stream.destroy();
    if (!this.streams.length) process.stdin.pause();
  }
}
