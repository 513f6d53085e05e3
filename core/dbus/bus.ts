// Connecting, calling and asking the bus about peers. Thin wrappers over dbus-next's low-level
// MessageBus so that every process uses the same timeouts, error mapping and variant handling.
import dbus from 'dbus-next';
import { DBUS_INTERFACE, DBUS_NAME, DBUS_PATH } from '../names.js';
import { SdError, codeFromDbusErrorName } from '../errors.js';

export type MessageBus = dbus.MessageBus;
export const { Message, Variant } = dbus;
export type Message = dbus.Message;

/**
 * Connect and wait until the bus has said Hello. dbus-next rejects a promise nobody holds when
 * the socket is missing; that rejection is swallowed here and reported as Unavailable instead.
 */
export async function connectBus(kind: 'system' | 'session', address?: string): Promise<MessageBus> {
  const busAddress = address ?? (kind === 'system' ? process.env.DBUS_SYSTEM_BUS_ADDRESS ?? 'unix:path=/var/run/dbus/system_bus_socket' : process.env.DBUS_SESSION_BUS_ADDRESS);
  if (!busAddress) throw new SdError('Unavailable', `No ${kind} bus address (DBUS_SESSION_BUS_ADDRESS is not set).`);
  const swallow = (reason: unknown) => {
    if (!(reason instanceof Error) || !/ENOENT|ECONNREFUSED|EACCES|connect|Hello|auth/i.test(String(reason))) throw reason;
  };
  process.on('unhandledRejection', swallow);
  try {
    const bus = kind === 'system' ? dbus.systemBus() : dbus.sessionBus({ busAddress });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: unknown) => {
        bus.removeListener('connect', onConnect);
        reject(new SdError('Unavailable', `Cannot connect to the ${kind} bus at ${busAddress}: ${(err as Error)?.message ?? String(err)}`));
      };
      const onConnect = () => {
        bus.removeListener('error', onError);
        resolve();
      };
      bus.once('connect', onConnect);
      bus.once('error', onError);
    });
    // Errors after connect (socket closed) must not crash a process that has no listener.
    bus.on('error', () => undefined);
    return bus;
  } finally {
    setImmediate(() => process.removeListener('unhandledRejection', swallow));
  }
}

export function disconnectBus(bus: MessageBus): void {
  try {
    bus.disconnect();
  } catch {
    // already closed
  }
}

export interface CallOptions {
  destination: string;
  path: string;
  interface: string;
  member: string;
  signature?: string;
  body?: unknown[];
  /** Milliseconds; the call rejects with Timeout (our code) after it. Omit for no limit. */
  timeoutMs?: number;
}

/** An error reply from a peer, with the D-Bus name kept. */
export class RemoteError extends Error {
  constructor(readonly dbusName: string, message: string) {
    super(message);
    this.name = 'RemoteError';
  }
}

/** Call a method and return the reply body. Our own error names come back as SdError. */
export async function callMethod(bus: MessageBus, opts: CallOptions): Promise<any[]> {
  const msg = new Message({
    destination: opts.destination,
    path: opts.path,
    interface: opts.interface,
    member: opts.member,
    signature: opts.signature ?? '',
    body: opts.body ?? [],
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const call = bus.call(msg);
    const reply = opts.timeoutMs === undefined ? await call : await Promise.race([
      call,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new SdError('Timeout', `No reply to ${opts.member} within ${Math.round(opts.timeoutMs! / 1000)} s.`)), opts.timeoutMs);
      }),
    ]);
    return reply?.body ?? [];
  } catch (err) {
    throw toLocalError(err);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

function toLocalError(err: unknown): Error {
  if (err instanceof SdError) return err;
  const e = err as { type?: string; text?: string; message?: string };
  if (typeof e?.type === 'string') {
    const code = codeFromDbusErrorName(e.type);
    const text = e.text ?? e.message ?? '';
    if (code) {
      const sd = new SdError(code, undefined, { dbusName: e.type });
      // Keep the daemon's full text (it already starts with the catalogue sentence).
      Object.defineProperty(sd, 'message', { value: text || sd.message });
      return sd;
    }
    if (e.type === 'org.freedesktop.DBus.Error.ServiceUnknown' || e.type === 'org.freedesktop.DBus.Error.NameHasNoOwner' || e.type === 'org.freedesktop.DBus.Error.NoReply' && /disconnect/i.test(text)) {
      return new SdError('Unavailable', undefined, { dbusName: e.type });
    }
    return new RemoteError(e.type, text);
  }
  return err instanceof Error ? err : new Error(String(err));
}

export interface PeerCredentials { uid: number; pid: number | null }

/** The bus's own word on who a connection is (UID and PID as the kernel reported at connect). */
export async function getPeerCredentials(bus: MessageBus, uniqueName: string): Promise<PeerCredentials> {
  const [creds] = await callMethod(bus, {
    destination: DBUS_NAME, path: DBUS_PATH, interface: DBUS_INTERFACE,
    member: 'GetConnectionCredentials', signature: 's', body: [uniqueName],
  });
  const uid = creds?.UnixUserID?.value;
  if (typeof uid !== 'number') throw new SdError('NotAuthorized', 'The bus did not report the caller\'s UID.');
  const pid = creds?.ProcessID?.value;
  return { uid, pid: typeof pid === 'number' ? pid : null };
}

export interface ConnectionWatch {
  /** A unique name disconnected. */
  gone(uniqueName: string): void;
  /** A unique name connected (said Hello). */
  arrived?(uniqueName: string): void;
}

/** Ask the bus to tell us about NameOwnerChanged, and report unique names as they come and go. */
export async function watchConnections(bus: MessageBus, watch: ConnectionWatch): Promise<void> {
  await callMethod(bus, {
    destination: DBUS_NAME, path: DBUS_PATH, interface: DBUS_INTERFACE, member: 'AddMatch', signature: 's',
    body: [`type='signal',sender='${DBUS_NAME}',interface='${DBUS_INTERFACE}',member='NameOwnerChanged',path='${DBUS_PATH}'`],
  });
  bus.on('message', (msg: Message) => {
    if (msg.type !== dbus.MessageType.SIGNAL || msg.member !== 'NameOwnerChanged' || msg.sender !== DBUS_NAME) return;
    const [name, oldOwner, newOwner] = msg.body as [string, string, string];
    if (!name.startsWith(':')) return;
    if (newOwner === '') watch.gone(name);
    else if (oldOwner === '' && newOwner === name) watch.arrived?.(name);
  });
}

export async function nameHasOwner(bus: MessageBus, name: string): Promise<boolean> {
  const [has] = await callMethod(bus, { destination: DBUS_NAME, path: DBUS_PATH, interface: DBUS_INTERFACE, member: 'NameHasOwner', signature: 's', body: [name] });
  return has === true;
}

export const REQUEST_NAME_REPLY = { primaryOwner: 1, inQueue: 2, exists: 3, alreadyOwner: 4 } as const;
export const NAME_FLAG = { allowReplacement: 1, replaceExisting: 2, doNotQueue: 4 } as const;

export async function requestName(bus: MessageBus, name: string, flags: number): Promise<number> {
  const [reply] = await callMethod(bus, { destination: DBUS_NAME, path: DBUS_PATH, interface: DBUS_INTERFACE, member: 'RequestName', signature: 'su', body: [name, flags] });
  return reply as number;
}

/** a{sv} from a plain object; each value's signature chosen from its JS type. */
export function toVariantMap(values: Record<string, string | number | boolean | bigint | Buffer | string[]>): Record<string, dbus.Variant> {
  const out: Record<string, dbus.Variant> = {};
  for (const [k, v] of Object.entries(values)) {
    if (typeof v === 'string') out[k] = new Variant('s', v);
    else if (typeof v === 'boolean') out[k] = new Variant('b', v);
    else if (typeof v === 'bigint') out[k] = new Variant('t', v);
    else if (typeof v === 'number') out[k] = new Variant(Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? 'u' : 'd', v);
    else if (Buffer.isBuffer(v)) out[k] = new Variant('ay', v);
    else out[k] = new Variant('as', v);
  }
  return out;
}

/** A plain object from a{sv}; values that are not strings, numbers or booleans are stringified. */
export function fromVariantMap(map: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!map || typeof map !== 'object') return out;
  for (const [k, v] of Object.entries(map as Record<string, unknown>)) {
    out[k] = v instanceof Variant ? (v as dbus.Variant).value : v;
  }
  return out;
}
