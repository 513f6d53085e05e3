// Argument parsing shared by every command's main(): yargs without letting it print or exit, so
// main() decides the exit code. Unknown options and bad values are one line naming the option.
// yargs is loaded only when used: the long-running daemon parses with node's own parseArgs
// (parseSimpleCommandLine) and so does not keep yargs in memory for its whole life.
import { parseArgs } from 'node:util';
import type { Options } from 'yargs';

export type ParsedArgs<T> =
  | { kind: 'run'; argv: T }
  | { kind: 'help'; text: string }
  | { kind: 'usage'; message: string };

export async function parseCommandLine<T>(args: string[], spec: {
  command: string;
  usage: string;
  options: Record<string, Options>;
  positional?: { name: string; describe: string; demand?: boolean };
}): Promise<ParsedArgs<T>> {
  const { default: yargs } = await import('yargs');
  let parser = yargs()
    .scriptName(spec.command)
    .usage(wrapText(spec.usage, 100))
    .options(spec.options)
    .strict()
    .help('help')
    .alias('help', 'h')
    .version(false)
    // yargs' own wrapping counts columns across the newlines of a multi-line usage text and cuts
    // words in half; the usage is wrapped here instead, and option lines are left whole.
    .wrap(null);
  if (spec.positional) parser = parser.demandCommand(spec.positional.demand ? 1 : 0, 1, `missing ${spec.positional.name}`, `only one ${spec.positional.name}`);
  return new Promise((resolve) => {
    parser.parse(args, {}, (err, argv, output) => {
      if (err) resolve({ kind: 'usage', message: err.message });
      else if ((argv as { help?: boolean }).help) resolve({ kind: 'help', text: output });
      else {
        for (const [name, opt] of Object.entries(spec.options)) {
          const value = (argv as Record<string, unknown>)[name];
          if (opt.type === 'number' && value !== undefined && !Number.isFinite(value)) {
            resolve({ kind: 'usage', message: `--${name} must be a number` });
            return;
          }
        }
        resolve({ kind: 'run', argv: argv as T });
      }
    });
  });
}

/** Word-wraps each line of `text` that is longer than `width`; existing line breaks are kept. */
export function wrapText(text: string, width: number): string {
  return text.split('\n').map((line) => {
    if (line.length <= width) return line;
    const out: string[] = [];
    let current = '';
    for (const word of line.split(' ')) {
      if (current && current.length + 1 + word.length > width) {
        out.push(current);
        current = word;
      } else current = current ? `${current} ${word}` : word;
    }
    out.push(current);
    return out.join('\n');
  }).join('\n');
}

export interface SimpleOption { type: 'string' | 'boolean'; describe: string }

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Options only (no positionals), strings and booleans, with node's parseArgs: for long-lived processes. */
export function parseSimpleCommandLine<T>(args: string[], spec: { command: string; usage: string; options: Record<string, SimpleOption> }): ParsedArgs<T> {
  if (args.includes('--help') || args.includes('-h')) {
    const width = Math.max(...Object.keys(spec.options).map((n) => n.length)) + 4;
    const lines = Object.entries(spec.options).map(([name, o]) => `  --${`${name}${o.type === 'string' ? ' X' : ''}`.padEnd(width)}  ${o.describe}`);
    lines.push(`  ${'-h, --help'.padEnd(width + 2)}  show this help`);
    return { kind: 'help', text: `${spec.usage.replace('$0', spec.command)}\n\nOptions:\n${lines.join('\n')}` };
  }
  try {
    const { values } = parseArgs({ args, options: Object.fromEntries(Object.entries(spec.options).map(([n, o]) => [n, { type: o.type }])), strict: true, allowPositionals: false });
    const argv: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(values)) argv[camel(name)] = value;
    return { kind: 'run', argv: argv as T };
  } catch (err) {
    return { kind: 'usage', message: (err as Error).message.split('\n')[0]! };
  }
}
