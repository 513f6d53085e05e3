// Argument parsing shared by every command's main(): yargs without letting it print or exit, so
// main() decides the exit code. Unknown options and bad values are one line naming the option.
import yargs, { type Options } from 'yargs';

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
  let parser = yargs()
    .scriptName(spec.command)
    .usage(spec.usage)
    .options(spec.options)
    .strict()
    .help('help')
    .alias('help', 'h')
    .version(false)
    .wrap(100);
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
