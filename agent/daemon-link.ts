// The agent's side of the companion daemon's request interface (the contract in
// daemon/introspection/net.mowaka.SecretsDispatcher1.xml). Metadata calls share one system-bus
// connection. Every call that may wait for the human gets a connection of its own: the daemon
// owns a pending request by the caller's bus name, so closing that connection is how the agent
// withdraws exactly one request (prompt dismissed, session-bus client gone) without touching the
// requests of other clients.
import { callMethod, connectBus, disconnectBus, fromVariantMap, Variant, type MessageBus } from '../core/dbus/bus.js';
import { SdError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH, REQUEST_INTERFACE } from '../core/names.js';

/** Metadata calls answer at once; a daemon that does not is as good as absent. */
const QUICK_CALL_MS = 20_000;
/** Added to the daemon's own deadline so its Timeout reply, not ours, ends a gated call. */
const DEADLINE_MARGIN_MS = 15_000;
const DEFAULT_REQUEST_TIMEOUT_S = 300;

export interface DaemonItem {
  id: string;
  collectionId: string;
  label: string;
  attributes: Record<string, string>;
  contentType: string;
  created: bigint;
  modified: bigint;
  /** "low", "normal" or "high" (absent from a daemon before tiers). */
  tier?: string;
}

export interface DaemonCollection { id: string; label: string; aliases: string[]; created: bigint; modified: bigint }

export interface DaemonStatus { initialized: boolean; locked: boolean; consoleConnected: boolean; requestTimeoutSeconds: number }

export interface DaemonSecret { id: string; secret: Buffer; contentType: string }

export type Context = Record<string, string>;

export class DaemonLink {
  private shared: Promise<MessageBus> | null = null;
  private spare: Promise<MessageBus> | null = null;
  private requestTimeoutSeconds = DEFAULT_REQUEST_TIMEOUT_S;

  constructor(private readonly logger: Logger, private readonly systemBusAddress?: string) {}

  close(): void {
    for (const p of [this.shared, this.spare]) p?.then(disconnectBus, () => undefined);
    this.shared = null;
    this.spare = null;
  }

  private connection(): Promise<MessageBus> {
    if (!this.shared) {
      const p = connectBus('system', this.systemBusAddress);
      this.shared = p;
      p.then((bus) => {
        // A restarted system bus leaves a dead socket behind: drop it so the next call reconnects.
        bus.on('error', () => { if (this.shared === p) this.shared = null; });
      }, () => { if (this.shared === p) this.shared = null; });
    }
    return this.shared;
  }

  private async quick(member: string, signature: string, body: unknown[]): Promise<any[]> {
    const bus = await this.connection();
    try {
      return await callMethod(bus, { destination: DISPATCHER_BUS_NAME, path: DISPATCHER_OBJECT_PATH, interface: REQUEST_INTERFACE, member, signature, body, timeoutMs: QUICK_CALL_MS });
    } catch (err) {
      throw this.normalise(err);
    }
  }

  /** A call that may wait for the human, on its own connection, withdrawn when `signal` aborts. */
  private async gated(member: string, signature: string, body: unknown[], signal?: AbortSignal): Promise<any[]> {
    if (signal?.aborted) throw new SdError('Cancelled');
    const bus = await this.freshConnection();
    const abort = () => disconnectBus(bus);
    signal?.addEventListener('abort', abort, { once: true });
    try {
      const call = callMethod(bus, {
        destination: DISPATCHER_BUS_NAME, path: DISPATCHER_OBJECT_PATH, interface: REQUEST_INTERFACE, member, signature, body,
        timeoutMs: this.requestTimeoutSeconds * 1000 + DEADLINE_MARGIN_MS,
      });
      const aborted = new Promise<never>((_, reject) => {
        if (signal) signal.addEventListener('abort', () => reject(new SdError('Cancelled')), { once: true });
      });
      return await Promise.race([call, aborted]);
    } catch (err) {
      throw this.normalise(err);
    } finally {
      signal?.removeEventListener('abort', abort);
      disconnectBus(bus);
    }
  }

  /**
   * A new connection for one gated request. One is kept connected in advance, so a client does
   * not wait for the bus handshake (each request still gets its own, never a reused one).
   */
  private async freshConnection(): Promise<MessageBus> {
    const spare = this.spare;
    this.spare = null;
    const bus = spare ? await spare.catch(() => connectBus('system', this.systemBusAddress)) : await connectBus('system', this.systemBusAddress);
    const next = connectBus('system', this.systemBusAddress);
    next.catch(() => { if (this.spare === next) this.spare = null; });
    this.spare = next;
    return bus;
  }

  private normalise(err: unknown): Error {
    // ServiceUnknown would tell a Secret Service client that *this* service is missing.
    if (err instanceof SdError && err.code === 'Unavailable') return new SdError('Unavailable');
    if (err instanceof SdError) return err;
    // Anything else (socket closed, unexpected D-Bus error) means the companion cannot serve us now.
    this.logger.warning('daemon call failed', { error: (err as Error)?.message ?? String(err) });
    return new SdError('Unavailable');
  }

  async status(): Promise<DaemonStatus> {
    const [raw] = await this.quick('Status', '', []);
    const s = fromVariantMap(raw);
    const status = {
      initialized: s.Initialized === true,
      locked: s.Locked === true,
      consoleConnected: s.ConsoleConnected === true,
      requestTimeoutSeconds: typeof s.RequestTimeoutSeconds === 'number' ? s.RequestTimeoutSeconds : DEFAULT_REQUEST_TIMEOUT_S,
    };
    this.requestTimeoutSeconds = status.requestTimeoutSeconds;
    return status;
  }

  /** Throws the error a waiting request would end with, before anyone waits for it. */
  async assertCanAsk(): Promise<void> {
    const s = await this.status();
    if (!s.initialized) throw new SdError('StoreNotInitialized');
    if (s.locked) throw new SdError('StoreLocked');
    if (!s.consoleConnected) throw new SdError('NoConsole');
  }

  async listCollections(): Promise<DaemonCollection[]> {
    const [rows] = await this.quick('ListCollections', '', []);
    return (rows as [string, string, string[], bigint, bigint][]).map(([id, label, aliases, created, modified]) => ({ id, label, aliases, created, modified }));
  }

  async createCollection(label: string, alias: string): Promise<string> {
    return (await this.quick('CreateCollection', 'ss', [label, alias]))[0] as string;
  }

  async setCollectionLabel(id: string, label: string): Promise<void> {
    await this.quick('SetCollectionLabel', 'ss', [id, label]);
  }

  async deleteCollection(id: string, context: Context, signal?: AbortSignal): Promise<void> {
    await this.gated('DeleteCollection', 'sa{sv}', [id, contextVariants(context)], signal);
  }

  async readAlias(alias: string): Promise<string | null> {
    const [id] = await this.quick('ReadAlias', 's', [alias]);
    return id ? (id as string) : null;
  }

  async setAlias(alias: string, id: string): Promise<void> {
    await this.quick('SetAlias', 'ss', [alias, id]);
  }

  async searchItems(collectionId: string, attributes: Record<string, string>): Promise<string[]> {
    return (await this.quick('SearchItems', 'sa{ss}', [collectionId, attributes]))[0] as string[];
  }

  async getItems(ids: string[]): Promise<DaemonItem[]> {
    if (ids.length === 0) return [];
    const [rows] = await this.quick('GetItems', 'as', [ids]);
    return (rows as [string, string, string, Record<string, string>, string, bigint, bigint, string][]).map(
      ([id, collectionId, label, attributes, contentType, created, modified, tier]) => ({ id, collectionId, label, attributes, contentType, created, modified, tier }));
  }

  /** New items are stored at once; replacing an existing one waits for approval. */
  async createItem(collectionId: string, label: string, attributes: Record<string, string>, secret: Buffer, contentType: string, replace: boolean, context: Context, signal?: AbortSignal): Promise<string> {
    const body = [collectionId, label, attributes, secret, contentType, replace, contextVariants(context)];
    const [id] = replace ? await this.gated('CreateItem', 'ssa{ss}aysba{sv}', body, signal) : await this.quick('CreateItem', 'ssa{ss}aysba{sv}', body);
    return id as string;
  }

  /** One decision covers all ids; the caller wipes the returned secrets. */
  async getSecrets(ids: string[], context: Context, signal?: AbortSignal): Promise<DaemonSecret[]> {
    const [rows] = await this.gated('GetSecrets', 'asa{sv}', [ids, contextVariants(context)], signal);
    return (rows as [string, Buffer, string][]).map(([id, secret, contentType]) => ({ id, secret, contentType }));
  }

  async setSecret(id: string, secret: Buffer, contentType: string, context: Context, signal?: AbortSignal): Promise<void> {
    await this.gated('SetSecret', 'saysa{sv}', [id, secret, contentType, contextVariants(context)], signal);
  }

  async updateItem(id: string, label: string, attributes: Record<string, string>, context: Context, signal?: AbortSignal): Promise<void> {
    await this.gated('UpdateItem', 'ssa{ss}a{sv}', [id, label, attributes, contextVariants(context)], signal);
  }

  async deleteItem(id: string, context: Context, signal?: AbortSignal): Promise<void> {
    await this.gated('DeleteItem', 'sa{sv}', [id, contextVariants(context)], signal);
  }
}

function contextVariants(context: Context): Record<string, InstanceType<typeof Variant>> {
  const out: Record<string, InstanceType<typeof Variant>> = {};
  for (const [k, v] of Object.entries(context)) out[k] = new Variant('s', v);
  return out;
}
