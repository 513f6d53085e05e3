// Interpreters count as what they run: `python3 t.py` is the program t.py, not python3, or an
// exe-wide grant for python3 would cover every script of the user. The script is found by parsing
// the interpreter's own options from the command line — which the process reported (it chose its
// argv and may rewrite it), so a program subject built on it is marked as reported. Forms that run
// no file (`python3 -m mod`, `bash -c …`, `node -e …`, a script on stdin) get no program subject.
import { basename, isAbsolute, resolve } from 'node:path';

interface Grammar {
  /** Options after which the code is not a file: no program subject. */
  inline: ReadonlySet<string>;
  /** Options that take the next argument as their value (when not attached). */
  withValue: ReadonlySet<string>;
  /** Single-dash letters may be bundled (`-uB`); the first inline or value letter ends the bundle. */
  bundles: boolean;
}

const set = (...xs: string[]) => new Set(xs);

const PYTHON: Grammar = { inline: set('-c', '-m', '-'), withValue: set('-W', '-X', '--check-hash-based-pycs'), bundles: true };
const NODE: Grammar = {
  inline: set('-e', '--eval', '-p', '--print', '-', '-i', '--interactive'),
  withValue: set('-r', '--require', '--import', '--loader', '--experimental-loader', '--input-type', '-C', '--conditions', '--env-file', '--title', '--stack-size'),
  bundles: false,
};
const SHELL: Grammar = { inline: set('-c', '-s', '-i', '-'), withValue: set('-o', '+o', '-O', '+O', '--rcfile', '--init-file'), bundles: true };
const PERL: Grammar = { inline: set('-e', '-E', '-'), withValue: set('-I', '-M', '-m', '-x'), bundles: true };
const RUBY: Grammar = { inline: set('-e', '-'), withValue: set('-I', '-r', '-C', '-E', '--encoding'), bundles: true };

/** By the executable's file name: the kernel's exe link, not argv[0], picks the grammar. */
function grammarFor(exe: string): { name: string; grammar: Grammar } | null {
  const name = basename(exe);
  if (/^python[23]?(\.\d+)?$/.test(name)) return { name: 'python', grammar: PYTHON };
  if (name === 'node' || name === 'nodejs') return { name: 'node', grammar: NODE };
  if (['bash', 'sh', 'dash', 'zsh', 'ksh', 'mksh'].includes(name)) return { name: 'shell', grammar: SHELL };
  if (/^perl(5[\d.]*)?$/.test(name)) return { name: 'perl', grammar: PERL };
  if (/^ruby(\d[\d.]*)?$/.test(name)) return { name: 'ruby', grammar: RUBY };
  return null;
}

/** Whether the executable is an interpreter whose script is its program (so its command line matters). */
export function isInterpreter(exe: string): boolean {
  return grammarFor(exe) !== null;
}

export type Interpreted =
  /** Not an interpreter we know: the executable is the program. */
  | { kind: 'binary' }
  /** An interpreter running a file: the script, resolved against the process's cwd. */
  | { kind: 'script'; interpreter: string; untrustedScript: string }
  /** An interpreter running inline code, a module or stdin: no program subject. */
  | { kind: 'inline'; interpreter: string; why: string };

/** Parse `cmdline` (as /proc showed it; argv[0] first) of a process whose executable is `exe`. */
export function interpretedScript(exe: string, cmdline: readonly string[], cwd: string | null): Interpreted {
  const found = grammarFor(exe);
  if (!found) return { kind: 'binary' };
  const { name, grammar } = found;
  const inline = (why: string): Interpreted => ({ kind: 'inline', interpreter: name, why });
  for (let i = 1; i < cmdline.length; i++) {
    const arg = cmdline[i]!;
    if (arg === '--') {
      const next = cmdline[i + 1];
      return next === undefined ? inline('it reads its program from standard input') : script(next);
    }
    if (grammar.inline.has(arg)) return inline(`it runs code given with ${arg}`);
    if (grammar.withValue.has(arg)) {
      i++;
      continue;
    }
    if (arg.startsWith('--')) {
      const name = arg.split('=', 1)[0]!;
      if (grammar.inline.has(name)) return inline(`it runs code given with ${name}`);
      continue;
    }
    if ((arg.startsWith('-') || arg.startsWith('+')) && arg.length > 1) {
      if (!grammar.bundles) continue;
      // `-uc code`: the c ends the bundle and what follows is inline code.
      let takesNext = false;
      for (let j = 1; j < arg.length; j++) {
        const opt = `${arg[0]}${arg[j]}`;
        if (grammar.inline.has(opt)) return inline(`it runs code given with ${opt}`);
        if (grammar.withValue.has(opt)) {
          takesNext = j === arg.length - 1;
          break;
        }
      }
      if (takesNext) i++;
      continue;
    }
    return script(arg);
  }
  return inline('it reads its program from standard input');

  function script(path: string): Interpreted {
    if (path === '' || path === '-') return inline('it reads its program from standard input');
    if (!isAbsolute(path) && cwd === null) return inline('its working directory could not be read');
    return { kind: 'script', interpreter: name, untrustedScript: isAbsolute(path) ? resolve(path) : resolve(cwd!, path) };
  }
}
