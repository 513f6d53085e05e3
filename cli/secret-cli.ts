// `secrets-dispatcher get|set|list|rm`: a Secret Service client like any other desktop app. It goes
// through org.freedesktop.secrets on the session bus (the agent, or whatever owns the name), so it
// gets exactly the protection every client gets: reads and changes wait for the console.
// The session is `plain`: the session bus is the user's own, and any process able to watch it can
// read this process's memory anyway.
import dbus from 'dbus-next';
import { callMethod, connectBus, disconnectBus, RemoteError, Variant, type Message, type MessageBus } from '../core/dbus/bus.js';
import { EXIT, isSdError, SdError } from '../core/errors.js';
import { LIMITS } from '../core/limits.js';
import { validReason } from '../core/reason.js';
import { isTier, TIER_ATTRIBUTE } from '../core/tiers.js';
import type { Tier } from '../core/wire.js';
import { DBUS_INTERFACE, DBUS_NAME, DBUS_PATH, PROPERTIES_INTERFACE, SECRET_COLLECTION_INTERFACE, SECRET_ITEM_INTERFACE, SECRET_PROMPT_INTERFACE, SECRET_SERVICE_BUS_NAME, SECRET_SERVICE_INTERFACE, SECRET_SERVICE_PATH } from '../core/names.js';
import { REASON_INTERFACE } from '../core/reason.js';

const DEFAULT_COLLECTION = `${SECRET_SERVICE_PATH}/aliases/default`;
const NO_OBJECT = '/';
/** Reads and changes wait for a human; a prompt's Completed may take as long as the request's deadline. */
const CALL_TIMEOUT_MS = 25_000;

// Each option's help line, once; a command's help lists the ones it takes (and parseArgs takes no other).
const OPTION_HELP = {
  label: '--label LABEL      the item\'s label, shown by `list` and on the console (required)',
  tier: '--tier low|normal|high\n                     the item\'s sensitivity tier (default normal): high asks every time',
  json: '--json             print JSON instead of text',
  reason: `--reason TEXT      why you ask, in your own words (at most ${LIMITS.reasonChars} characters): the console
                     shows it beside the request as the requester's unchecked words, and history keeps it`,
  help: '-h, --help         show this help',
} as const;

const TAKES: Record<string, (keyof typeof OPTION_HELP)[]> = {
  get: ['json', 'reason'],
  set: ['label', 'tier', 'json', 'reason'],
  list: ['json'],
  rm: ['json', 'reason'],
};

const optionsHelp = (command: string): string => `
Options:
${[...(TAKES[command] ?? []), 'help' as const].map((o) => `  ${OPTION_HELP[o]}`).join('\n')}
`;

const HELP: Record<string, string> = {
  get: `Usage: secrets-dispatcher get [--json] [--reason TEXT] KEY=VALUE...

Print the secret of the item whose attributes match (approve on the console). Without --json the
secret is written as is, with no newline added; with it, the item's label, attributes, tier and
secret as one JSON object.
${optionsHelp('get')}`,
  set: `Usage: secrets-dispatcher set --label LABEL [--tier low|normal|high] [--json] [--reason TEXT] KEY=VALUE... < secret

Store the secret read from stdin under LABEL and the attributes, replacing an item with exactly
these attributes (replacing asks on the console). --tier asks for the item's sensitivity tier: a
high item is asked for every time and approved by typing a word on the console. A replaced item's
tier may be raised this way, never lowered: only the console lowers a tier. --json prints the new
item's object path.
${optionsHelp('set')}`,
  list: `Usage: secrets-dispatcher list [--json] [KEY=VALUE...]

List the items matching the attributes (all items without any): label and attributes, no secrets.
An item whose tier is not normal says so at the end of its line; --json gives every item's "tier".
${optionsHelp('list')}`,
  rm: `Usage: secrets-dispatcher rm [--json] [--reason TEXT] KEY=VALUE...

Delete every item matching the attributes (each deletion asks on the console). --json prints the
deleted items' object paths.
${optionsHelp('rm')}`,
};

interface CliArgs { command: string; json: boolean; label: string | null; reason: string | null; tier: Tier | null; attributes: Record<string, string> }

function usageError(command: string, detail: string): SdError {
  return new SdError('InvalidArgs', `${detail}\n\n${HELP[command] ?? ''}`);
}

function parseArgs(command: string, args: string[]): CliArgs | 'help' {
  const out: CliArgs = { command, json: false, label: null, reason: null, tier: null, attributes: {} };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-h' || a === '--help') return 'help';
    if (a === '--json') out.json = true;
    else if (command === 'set' && (a === '--label' || a.startsWith('--label='))) {
      const v = a === '--label' ? args[++i] : a.slice('--label='.length);
      if (v === undefined) throw usageError(command, '--label needs a value.');
      out.label = v;
    } else if (command !== 'list' && (a === '--reason' || a.startsWith('--reason='))) {
      const v = a === '--reason' ? args[++i] : a.slice('--reason='.length);
      if (v === undefined) throw usageError(command, '--reason needs a value.');
      // The daemon's own rule, so an over-long reason fails here, before anything is asked.
      try {
        out.reason = validReason(v);
      } catch (err) {
        throw usageError(command, `--reason: ${(err as Error).message}`);
      }
    } else if (command === 'set' && (a === '--tier' || a.startsWith('--tier='))) {
      const v = a === '--tier' ? args[++i] : a.slice('--tier='.length);
      if (!isTier(v)) throw usageError(command, '--tier must be low, normal or high.');
      out.tier = v;
    } else if (a.startsWith('-')) throw usageError(command, `unknown option "${a}".`);
    else {
      const eq = a.indexOf('=');
      if (eq <= 0) throw usageError(command, `attributes are KEY=VALUE, got "${a}".`);
      out.attributes[a.slice(0, eq)] = a.slice(eq + 1);
    }
  }
  if (command === 'set' && out.label === null) throw usageError(command, 'set needs --label.');
  // The agent takes sd:tier out of the attributes and asks the daemon for that tier (agent/tier-attribute.ts).
  if (out.tier) out.attributes[TIER_ATTRIBUTE] = out.tier;
  if (command !== 'list' && Object.keys(out.attributes).length === 0) throw usageError(command, `${command} needs at least one KEY=VALUE attribute.`);
  return out;
}

class SecretServiceClient {
  private session: string | null = null;

  constructor(private readonly bus: MessageBus) {}

  call(path: string, iface: string, member: string, signature = '', body: unknown[] = []): Promise<any[]> {
    return callMethod(this.bus, { destination: SECRET_SERVICE_BUS_NAME, path, interface: iface, member, signature, body, timeoutMs: CALL_TIMEOUT_MS });
  }

  /** Our agent's addition: the reason goes with this connection's following requests. */
  async setReason(reason: string): Promise<void> {
    try {
      await this.call(SECRET_SERVICE_PATH, REASON_INTERFACE, 'SetReason', 's', [reason]);
    } catch (err) {
      if (err instanceof RemoteError && /UnknownMethod|UnknownInterface/.test(err.dbusName)) {
        throw new SdError('InvalidArgs', 'the Secret Service on this session bus does not take a reason (it is not the secrets-dispatcher agent); run without --reason.');
      }
      throw err;
    }
  }

  async openSession(): Promise<string> {
    if (!this.session) [, this.session] = await this.call(SECRET_SERVICE_PATH, SECRET_SERVICE_INTERFACE, 'OpenSession', 'sv', ['plain', new Variant('s', '')]);
    return this.session!;
  }

  async search(attributes: Record<string, string>): Promise<{ unlocked: string[]; locked: string[] }> {
    const [unlocked, locked] = await this.call(SECRET_SERVICE_PATH, SECRET_SERVICE_INTERFACE, 'SearchItems', 'a{ss}', [attributes]);
    return { unlocked, locked };
  }

  async properties(path: string): Promise<{ path: string; label: string; attributes: Record<string, string>; tier: string; created: number; modified: number }> {
    const [all] = await this.call(path, PROPERTIES_INTERFACE, 'GetAll', 's', [SECRET_ITEM_INTERFACE]);
    // The agent shows a tier other than normal as the attribute sd:tier; here it is its own field.
    const { [TIER_ATTRIBUTE]: tier = 'normal', ...attributes }: Record<string, string> = all.Attributes?.value ?? {};
    return { path, label: all.Label?.value ?? '', attributes, tier, created: Number(all.Created?.value ?? 0), modified: Number(all.Modified?.value ?? 0) };
  }

  /** Run a prompt and wait for Completed as long as it takes; returns the result or null if dismissed. */
  async prompt(path: string): Promise<unknown | null> {
    if (path === NO_OBJECT) return undefined;
    const rule = `type='signal',interface='${SECRET_PROMPT_INTERFACE}',member='Completed',path='${path}'`;
    await callMethod(this.bus, { destination: DBUS_NAME, path: DBUS_PATH, interface: DBUS_INTERFACE, member: 'AddMatch', signature: 's', body: [rule] });
    const completed = new Promise<{ dismissed: boolean; result: unknown }>((resolve) => {
      const onMessage = (msg: Message) => {
        if (msg.type !== dbus.MessageType.SIGNAL || msg.path !== path || msg.member !== 'Completed') return;
        this.bus.removeListener('message', onMessage);
        resolve({ dismissed: msg.body[0] === true, result: (msg.body[1] as InstanceType<typeof Variant>)?.value });
      };
      this.bus.on('message', onMessage);
    });
    await this.call(path, SECRET_PROMPT_INTERFACE, 'Prompt', 's', ['']);
    const { dismissed, result } = await completed;
    return dismissed ? null : result;
  }

  async secretOf(item: string, locked: boolean): Promise<{ secret: Buffer; contentType: string }> {
    const session = await this.openSession();
    if (locked) {
      const [, prompt] = await this.call(SECRET_SERVICE_PATH, SECRET_SERVICE_INTERFACE, 'Unlock', 'ao', [[item]]);
      if (await this.prompt(prompt) === null) throw new SdError('Denied');
    }
    const [[, , value, contentType]] = await this.call(item, SECRET_ITEM_INTERFACE, 'GetSecret', 'o', [session]);
    return { secret: value as Buffer, contentType: contentType as string };
  }

  async store(label: string, attributes: Record<string, string>, secret: Buffer): Promise<string> {
    const session = await this.openSession();
    const props = { 'org.freedesktop.Secret.Item.Label': new Variant('s', label), 'org.freedesktop.Secret.Item.Attributes': new Variant('a{ss}', attributes) };
    const [item, prompt] = await this.call(DEFAULT_COLLECTION, SECRET_COLLECTION_INTERFACE, 'CreateItem', 'a{sv}(oayays)b', [props, [session, Buffer.alloc(0), secret, 'text/plain'], true]);
    if (item !== NO_OBJECT) return item;
    const result = await this.prompt(prompt);
    if (result === null) throw new SdError('Denied');
    return result as string;
  }

  async delete(item: string): Promise<void> {
    const [prompt] = await this.call(item, SECRET_ITEM_INTERFACE, 'Delete');
    if (await this.prompt(prompt) === null) throw new SdError('Denied');
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > LIMITS.secretBytes) throw new SdError('TooLarge', `the secret on stdin is larger than ${LIMITS.secretBytes} bytes.`);
    chunks.push(chunk as Buffer);
  }
  const secret = Buffer.concat(chunks);
  for (const c of chunks) c.fill(0);
  return secret;
}

function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : text);
}

async function run(client: SecretServiceClient, args: CliArgs): Promise<number> {
  const { command, json, attributes } = args;
  if (args.reason !== null) await client.setReason(args.reason);
  if (command === 'set') {
    const secret = await readStdin();
    try {
      const item = await client.store(args.label!, attributes, secret);
      print(json, { item }, '');
    } finally {
      secret.fill(0);
    }
    return EXIT.ok;
  }
  // With a session open first, the agent lists unapproved items as locked: the read then goes
  // through a prompt, which may wait for the human longer than any call timeout.
  if (command === 'get') await client.openSession();
  const { unlocked, locked } = await client.search(attributes);
  const all = [...unlocked, ...locked];
  if (command === 'list') {
    const items = await Promise.all(all.map((p) => client.properties(p)));
    print(json, items, items.map((i) => `${i.label}\t${Object.entries(i.attributes).map(([k, v]) => `${k}=${v}`).join(' ')}${i.tier === 'normal' ? '' : `\ttier ${i.tier}`}\n`).join(''));
    return EXIT.ok;
  }
  if (all.length === 0) {
    process.stderr.write(`secrets-dispatcher ${command}: no item matches ${Object.entries(attributes).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
    return EXIT.failure;
  }
  if (command === 'get') {
    const path = all[0]!;
    const { secret, contentType } = await client.secretOf(path, !unlocked.includes(path));
    try {
      if (json) {
        const info = await client.properties(path);
        const text = secret.toString('utf8');
        const asText = Buffer.from(text, 'utf8').equals(secret);
        print(true, { ...info, contentType, ...(asText ? { secret: text } : { secretBase64: secret.toString('base64') }) }, '');
      } else {
        process.stdout.write(secret);
      }
    } finally {
      secret.fill(0);
    }
    return EXIT.ok;
  }
  for (const path of all) await client.delete(path);
  print(json, { deleted: all }, '');
  return EXIT.ok;
}

export async function main(args: string[], command: string): Promise<number> {
  let parsed: CliArgs | 'help';
  try {
    parsed = parseArgs(command, args);
  } catch (err) {
    process.stderr.write(`secrets-dispatcher ${command}: ${(err as Error).message.replace(/^The arguments are not valid\. /, '')}`);
    return EXIT.usage;
  }
  if (parsed === 'help') {
    process.stdout.write(HELP[command] ?? '');
    return EXIT.ok;
  }
  let bus: MessageBus | null = null;
  try {
    bus = await connectBus('session');
    return await run(new SecretServiceClient(bus), parsed);
  } catch (err) {
    const noService = (err instanceof RemoteError || err instanceof SdError) && /ServiceUnknown|NameHasNoOwner/.test(err.dbusName);
    const message = noService ? 'no Secret Service on the session bus. Start it: systemctl --user start secrets-dispatcher-agent' : (err as Error).message;
    process.stderr.write(`secrets-dispatcher ${command}: ${message}\n`);
    return noService || isSdError(err, 'Unavailable') ? EXIT.unavailable : EXIT.failure;
  } finally {
    if (bus) disconnectBus(bus);
  }
}
