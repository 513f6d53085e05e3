// Where the person finds the approval console, for the lines that say "Approve … on the console":
// a virtual terminal on an installed system; the sandbox's own terminal under `secrets-dispatcher
// dev`, which has no VT and says so in its env file. Only wording depends on it.
export const CONSOLE_PLACE_VAR = 'SECRETS_DISPATCHER_CONSOLE';
/** The value the dev sandbox writes to its env file. */
export const CONSOLE_IN_TERMINAL = 'terminal';

export function consolePlace(env: NodeJS.ProcessEnv = process.env, vt = 8): string {
  return env[CONSOLE_PLACE_VAR] === CONSOLE_IN_TERMINAL ? 'on the console in the sandbox\'s terminal' : `on the console (Ctrl+Alt+F${vt})`;
}
