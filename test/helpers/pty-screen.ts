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

export interface PtyScreen {
  readonly pid: number;
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
  ctrlC: '\x03', ctrlU: '\x15', backspace: '\x7f',
} as const;

export function spawnPty(command: string, args: string[], options: PtyScreenOptions = {}): PtyScreen {
  const cols = options.cols ?? 120;
  const rows = options.rows ?? 40;
  const term = new Terminal({ cols, rows, allowProposedApi: true });
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

  return {
    pid: child.pid,
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
