// Which gpg command lines sd-gpg answers itself. Signing options are taken by allowlist (what git
// passes for commits, tags and push certificates: `--status-fd=N -bsau KEY`); a signing command
// with anything else is refused rather than half-understood. A command line that does not ask for
// a signature (--verify, --list-keys, --version, ...) goes untouched to the real gpg.

export interface SignRequest {
  kind: 'sign';
  /** What followed -u / --local-user; "" when none was given. */
  keySpec: string;
  statusFd: number | null;
  armor: boolean;
}

export type ParsedArgs = SignRequest | { kind: 'passthrough' } | { kind: 'refuse'; reason: string };

const SIGN_LONG = new Set(['--sign', '--detach-sign', '--clearsign', '--clear-sign']);
/** Options that change nothing about a detached signature of stdin. */
const HARMLESS_LONG = new Set(['--batch', '--no-tty', '--yes', '--quiet']);

export function parseGpgArgs(untrustedArgs: string[]): ParsedArgs {
  let sign = false;
  let detach = false;
  let armor = false;
  let keySpec = '';
  let statusFd: number | null = null;
  const unsupported: string[] = [];
  let endOfOptions = false;

  for (let i = 0; i < untrustedArgs.length; i++) {
    const arg = untrustedArgs[i]!;
    if (endOfOptions || arg === '-' || !arg.startsWith('-')) {
      if (arg !== '-') unsupported.push(`file argument ${JSON.stringify(arg)}`);
      continue;
    }
    if (arg === '--') {
      endOfOptions = true;
      continue;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg : arg.slice(0, eq);
      const inlineValue = eq < 0 ? undefined : arg.slice(eq + 1);
      const value = () => inlineValue ?? untrustedArgs[++i] ?? '';
      if (name === '--sign') sign = true;
      else if (name === '--detach-sign') {
        sign = true;
        detach = true;
      } else if (name === '--armor') armor = true;
      else if (name === '--local-user') keySpec = value();
      else if (name === '--status-fd') {
        const fd = value();
        if (!/^\d{1,4}$/.test(fd)) unsupported.push(`--status-fd ${JSON.stringify(fd)}`);
        else statusFd = Number(fd);
      } else if (SIGN_LONG.has(name)) {
        sign = true;
        unsupported.push(name);
      } else if (!HARMLESS_LONG.has(name)) unsupported.push(name);
      continue;
    }
    // A cluster of short options, as git writes them: -bsau KEY (u takes the rest or the next arg).
    for (let j = 1; j < arg.length; j++) {
      const c = arg[j]!;
      if (c === 's') sign = true;
      else if (c === 'b') {
        sign = true;
        detach = true;
      } else if (c === 'a') armor = true;
      else if (c === 'u') {
        keySpec = j + 1 < arg.length ? arg.slice(j + 1) : untrustedArgs[++i] ?? '';
        break;
      } else {
        unsupported.push(`-${c}`);
        if (c === 'o' || c === 'r' || c === 'e') break;
      }
    }
  }

  if (!sign) return { kind: 'passthrough' };
  if (!detach) unsupported.push('a signature that is not detached (-b)');
  if (unsupported.length) {
    return { kind: 'refuse', reason: `sd-gpg signs only detached signatures of stdin (-bsau KEY); not supported: ${unsupported.join(', ')}` };
  }
  return { kind: 'sign', keySpec, statusFd, armor };
}
