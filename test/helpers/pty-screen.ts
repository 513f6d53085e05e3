// A program in a real pseudo-terminal (node-pty) whose output is fed into a headless xterm, so a
// test reads the screen a person would see (lines of cells, not the byte stream) and types keys.
import xterm from '@xterm/headless';
import pty from 'node-pty';

// CommonJS package: its named exports are not visible to Node's ESM loader.
const { Terminal } = xterm;

export interface PtyScreenOptions {
  cols?: number;
  rows?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** How one cell is drawn: background colour (-1: the default) and reverse video. */
export interface CellStyle {
  bg: number;
  inverse: boolean;
}

export interface PtyScreen {
  readonly pid: number;
  /** The style of the cell `offset` characters into the first place `text` is on screen, or null if it is not there. */
  styleOf(text: string, offset?: number): CellStyle | null;
  /** Write to the terminal behind the program's back, as another process on the same tty could. */
  scribble(data: string): Promise<void>;
  /** The visible screen, one string per row, trailing spaces removed. */
  lines(): string[];
  /** The visible screen as one text (rows joined by newlines). */
  text(): string;
  /** Titles the program set with OSC 0/2 (a hostile requester must never manage that). */
  readonly titles: string[];
  /** Everything the program wrote, raw (for failure messages). */
  raw(): string;
  send(data: string): void;
  resize(cols: number, rows: number): void;
  /** Resolves with the milliseconds waited once `match` is on screen; rejects with the screen after timeoutMs. */
  waitForText(match: string | RegExp, timeoutMs?: number): Promise<number>;
  waitFor(predicate: (lines: string[]) => boolean, what: string, timeoutMs?: number): Promise<number>;
  /** Resolves when the program has exited. */
  readonly exited: Promise<{ exitCode: number; signal?: number }>;
  kill(signal?: string): void;
  /** Kill (SIGTERM, then SIGKILL) if still running and wait for the exit. */
  close(): Promise<void>;
}

export const KEYS = {
  enter: '\r', escape: '\x1b', up: '\x1b[A', down: '\x1b[B', pageDown: '\x1b[6~', pageUp: '\x1b[5~',
  ctrlC: '\x03', ctrlL: '\x0c', ctrlU: '\x15', backspace: '\x7f',
} as const;

/**
 * The headless terminal measures characters as Unicode 6 did, emoji one column; terminals since
 * Unicode 9 (and the Linux console's own table) draw emoji two columns wide. The test terminal
 * does the same, so a layout that counts them wrong shows up on its screen as it would on a real
 * one. Everything else keeps xterm's own widths.
 */
function useEmojiWidths(term: InstanceType<typeof Terminal>): void {
  // The built-in provider is not exported; the service that holds it is xterm's own.
  const v6 = (term as unknown as { _core: { unicodeService: { _providers: Record<string, { wcwidth(c: number): 0 | 1 | 2 }> } } })._core.unicodeService._providers['6']!;
  const emoji = /\p{Emoji_Presentation}/u;
  const wcwidth = (c: number): 0 | 1 | 2 => (emoji.test(String.fromCodePoint(c)) ? 2 : v6.wcwidth(c));
  term.unicode.register({
    version: 'emoji-wide',
    wcwidth,
    // xterm's packing of (width, join with the previous cell), as its own providers do.
    charProperties(c: number, preceding: number): number {
      let width: number = wcwidth(c);
      let join = width === 0 && preceding !== 0;
      if (join) {
        const before = (preceding >> 1) & 3;
        if (before === 0) join = false;
        else if (before > width) width = before;
      }
      return ((width & 3) << 1) | (join ? 1 : 0);
    },
  });
  term.unicode.activeVersion = 'emoji-wide';
}

export function spawnPty(command: string, args: string[], options: PtyScreenOptions = {}): PtyScreen {
  const cols = options.cols ?? 120;
  const rows = options.rows ?? 40;
  const term = new Terminal({ cols, rows, allowProposedApi: true });
  useEmojiWidths(term);
  const titles: string[] = [];
  term.onTitleChange((t) => titles.push(t));
  let raw = '';
  let pending = 0;
  const child = pty.spawn(command, args, {
    name: 'xterm-256color', cols, rows, cwd: options.cwd ?? process.cwd(),
    env: { ...(options.env ?? process.env), TERM: 'xterm-256color' } as Record<string, string>,
  });
  child.onData((data) => {
    raw += data;
    pending += 1;
    term.write(data, () => { pending -= 1; });
  });
  let done = false;
  const exited = new Promise<{ exitCode: number; signal?: number }>((resolve) => {
    child.onExit((e) => {
      done = true;
      resolve(e);
    });
  });

  const lines = () => {
    const buf = term.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < term.rows; i++) out.push((buf.getLine(buf.viewportY + i)?.translateToString(true) ?? '').trimEnd());
    return out;
  };

  // Screen checks run when xterm has parsed new output (and every 50 ms), not in a busy loop: the
  // test process shares two cores with the programs it measures.
  const parsedWaiters = new Set<() => void>();
  term.onWriteParsed(() => {
    for (const wake of parsedWaiters) wake();
  });
  const waitFor = async (predicate: (l: string[]) => boolean, what: string, timeoutMs = 10_000) => {
    const start = performance.now();
    for (;;) {
      if (pending === 0 && predicate(lines())) return performance.now() - start;
      if (performance.now() - start > timeoutMs) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; screen:\n${lines().join('\n')}`);
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          parsedWaiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, 50);
        parsedWaiters.add(wake);
      });
    }
  };

  const styleOf = (needle: string, offset = 0): CellStyle | null => {
    const buf = term.buffer.active;
    for (let y = 0; y < term.rows; y++) {
      const line = buf.getLine(buf.viewportY + y);
      if (!line) continue;
      // Text and the cell each character starts in (a wide character's second cell is empty).
      let text = '';
      const cellOf: number[] = [];
      for (let x = 0; x < line.length; x++) {
        const cell = line.getCell(x)!;
        if (cell.getWidth() === 0) continue;
        const chars = cell.getChars() || ' ';
        for (let i = 0; i < chars.length; i++) cellOf.push(x);
        text += chars;
      }
      const at = text.indexOf(needle);
      if (at < 0) continue;
      const cell = line.getCell(cellOf[at + offset]!)!;
      return { bg: cell.isBgDefault() ? -1 : cell.getBgColor(), inverse: cell.isInverse() !== 0 };
    }
    return null;
  };

  return {
    pid: child.pid,
    styleOf,
    scribble: (data) => new Promise<void>((resolve) => term.write(data, resolve)),
    lines,
    text: () => lines().join('\n'),
    titles,
    raw: () => raw,
    send: (data) => child.write(data),
    resize: (c, r) => {
      child.resize(c, r);
      term.resize(c, r);
    },
    waitForText: (match, timeoutMs) => waitFor((l) => {
      const t = l.join('\n');
      return typeof match === 'string' ? t.includes(match) : match.test(t);
    }, `"${String(match)}"`, timeoutMs),
    waitFor,
    exited,
    kill: (signal = 'SIGTERM') => {
      if (!done) child.kill(signal);
    },
    async close() {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => { if (!done) child.kill('SIGKILL'); }, 5000);
      await exited;
      clearTimeout(timer);
      term.dispose();
    },
  };
}
