// The Secret Service (spec 0.2) on the desktop session bus, translated to the companion daemon.
// Items of the companion's store are Locked for each client until that client's request was
// approved on the console (DESIGN §4): prompt-aware clients (libsecret, keyring) go through
// Unlock → Prompt → Completed and so wait for the human without a call timeout; clients that call
// GetSecret(s) on a locked item have their call held until the decision instead of IsLocked.
import { Message, Variant, watchConnections, type MessageBus } from '../core/dbus/bus.js';
import type { CallContext, InterfaceImpl } from '../core/dbus/service.js';
import { ObjectServer } from '../core/dbus/service.js';
import { dbusErrorName, SdError, SECRET_SERVICE_ERRORS, STANDARD_DBUS_ERRORS, type ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import {
  SECRET_COLLECTION_INTERFACE, SECRET_ITEM_INTERFACE, SECRET_SERVICE_INTERFACE, SECRET_SERVICE_PATH,
} from '../core/names.js';
import type { DaemonItem, DaemonLink, DaemonSecret } from './daemon-link.js';
import { ClientGrants, HIGH_TIER_READS } from './grants.js';
import type { Notifier } from './notifier.js';
import {
  collectionPath, itemPath, NO_OBJECT, parseObjectPath, SESSION_COLLECTION_ID, type CollectionRef, type ParsedPath,
} from './object-paths.js';
import { emptyPaths, PromptRegistry } from './prompts.js';
import { callerName, claimedContext, describeCaller, type SessionCaller } from './requester.js';
import { SessionCollection, type SessionItem } from './session-collection.js';
import { shownAttributes, splitTier, withTierContext } from './tier-attribute.js';
import { isTier, lowers } from '../core/tiers.js';
import { openSessionCrypto } from './session-crypto.js';
import { SessionRegistry } from './sessions.js';
import { loadInterface, loadSecretInterface } from './spec.js';
import { REASON_INTERFACE, validReason } from '../core/reason.js';
import { assertSecretSize, propertyOf, validAttributes, validContentType, validLabel } from './validate.js';

type SecretStruct = [string, Buffer, Buffer, string];

const ITEM_LABEL = 'org.freedesktop.Secret.Item.Label';
const ITEM_ATTRIBUTES = 'org.freedesktop.Secret.Item.Attributes';
const COLLECTION_LABEL = 'org.freedesktop.Secret.Collection.Label';
/** Requests answered faster than this (remembered decisions) raise no notification. */
const NOTIFY_AFTER_MS = 300;
/** Requests one session-bus client may have waiting on the console at once. */
const MAX_WAITING_PER_CLIENT = 16;
/** Collection and item objects are exported on first use; this bounds how many are kept. */
const MAX_DYNAMIC_OBJECTS = 4096;

/** Failures that mean "the companion cannot answer now": the user gets told what to do. */
const UNAVAILABLE_CODES: ErrorCode[] = ['Unavailable', 'NoConsole', 'StoreLocked', 'StoreNotInitialized'];

function noSuchObject(detail = 'No such item or collection.'): SdError {
  return new SdError('NotFound', detail, { dbusName: SECRET_SERVICE_ERRORS.NoSuchObject });
}

function notSupported(detail: string): SdError {
  return new SdError('InvalidArgs', detail, { dbusName: STANDARD_DBUS_ERRORS.NotSupported });
}

/** What a path resolves to now: an item of the store or of the session collection. */
type ResolvedItem = { kind: 'store'; collectionId: string; record: DaemonItem; path: string } | { kind: 'session'; item: SessionItem; path: string };

export interface SecretServiceOptions {
  bus: MessageBus;
  daemon: DaemonLink;
  notifier: Notifier;
  logger: Logger;
}

export class SecretService {
  readonly server: ObjectServer;
  readonly grants = new ClientGrants();
  readonly sessionCollection = new SessionCollection();
  private readonly sessions = new SessionRegistry();
  private readonly prompts: PromptRegistry;
  private readonly callers = new Map<string, Promise<SessionCaller>>();
  private readonly clientAborts = new Map<string, AbortController>();
  private readonly dynamic = new Set<string>();
  private readonly waiting = new Map<string, number>();
  /** A client's reason (SetReason), sent with each of its requests to the daemon until it leaves. */
  private readonly reasons = new Map<string, string>();
  private readonly collectionImpl: InterfaceImpl;
  private readonly itemImpl: InterfaceImpl;
  private readonly bus: MessageBus;
  private readonly daemon: DaemonLink;
  private readonly notifier: Notifier;
  private readonly logger: Logger;
  private readonly preHandler: (msg: any) => boolean;

  constructor(opts: SecretServiceOptions) {
    this.bus = opts.bus;
    this.daemon = opts.daemon;
    this.notifier = opts.notifier;
    this.logger = opts.logger;
    // Runs before the object server: exports collection and item paths on first use, so any
    // path a client was given (or builds) answers, and unknown ones get NoSuchObject from the impl.
    this.preHandler = (msg) => {
      const path: string | undefined = msg.path;
      this.logger.debug('call', { member: msg.member, path, sender: msg.sender });
      if (path && !this.server.has(path)) {
        const parsed = parseObjectPath(path);
        if (parsed) this.exportDynamic(path, parsed);
        else if (path.startsWith(`${SECRET_SERVICE_PATH}/`) && msg.member !== 'Introspect') {
          // A path of ours that names nothing: the spec's error, which secretstorage maps to "not found".
          if (!(msg.flags & 1)) this.bus.send(Message.newError(msg, SECRET_SERVICE_ERRORS.NoSuchObject, 'No such object.'));
          return true;
        }
      }
      return false;
    };
    this.bus.addMethodHandler(this.preHandler);
    this.server = new ObjectServer(this.bus, {
      logger: this.logger,
      invalidArgsName: STANDARD_DBUS_ERRORS.InvalidArgs,
      errorReply: (err) => this.errorReply(err),
    });
    this.prompts = new PromptRegistry(this.server, loadSecretInterface('Prompt'), this.logger);
    this.collectionImpl = this.buildCollection();
    this.itemImpl = this.buildItem();
    this.server.export(SECRET_SERVICE_PATH, [this.buildService(), this.buildReason()]);
    this.server.export(`${SECRET_SERVICE_PATH}/session`, []);
    const sessionImpl: InterfaceImpl = {
      spec: loadSecretInterface('Session'),
      methods: { Close: (_a, ctx) => { this.sessions.close(ctx.path, ctx.sender); this.server.unexport(ctx.path); } },
    };
    this.sessionImpl = sessionImpl;
    this.server.export(collectionPath(SESSION_COLLECTION_ID), [this.collectionImpl]);
  }

  private readonly sessionImpl: InterfaceImpl;

  async start(): Promise<void> {
    await watchConnections(this.bus, { gone: (name) => this.clientGone(name) });
  }

  close(): void {
    this.prompts.close();
    for (const c of this.clientAborts.values()) c.abort();
    this.grants.close();
    this.sessionCollection.wipe();
    this.bus.removeMethodHandler(this.preHandler);
    this.server.close();
  }

  private clientGone(name: string): void {
    this.clientAborts.get(name)?.abort();
    this.clientAborts.delete(name);
    this.prompts.forget(name);
    for (const path of this.sessions.forget(name)) this.server.unexport(path);
    this.grants.forget(name);
    this.callers.delete(name);
    this.reasons.delete(name);
    this.server.forgetPeer(name);
  }

  private exportDynamic(path: string, parsed: ParsedPath): void {
    if (this.dynamic.size >= MAX_DYNAMIC_OBJECTS) {
      for (const old of [...this.dynamic].slice(0, MAX_DYNAMIC_OBJECTS / 4)) {
        this.dynamic.delete(old);
        this.server.unexport(old);
      }
    }
    this.dynamic.add(path);
    this.server.export(path, [parsed.kind === 'collection' ? this.collectionImpl : this.itemImpl]);
  }

  private errorReply(err: unknown): { name: string; text: string } | undefined {
    if (!(err instanceof SdError)) return undefined;
    if (UNAVAILABLE_CODES.includes(err.code)) this.notifier.unavailable(err.message);
    // The daemon's NotFound is the spec's NoSuchObject for Secret Service clients.
    if (err.code === 'NotFound' && err.dbusName === dbusErrorName('NotFound')) return { name: SECRET_SERVICE_ERRORS.NoSuchObject, text: err.message };
    return undefined;
  }

  private caller(sender: string): Promise<SessionCaller> {
    let p = this.callers.get(sender);
    if (!p) {
      p = describeCaller(this.bus, sender);
      this.callers.set(sender, p);
    }
    return p;
  }

  private clientSignal(sender: string): AbortSignal {
    let c = this.clientAborts.get(sender);
    if (!c) this.clientAborts.set(sender, (c = new AbortController()));
    return c.signal;
  }

  /** Run a request that may wait for the human, with a notification if it does wait. */
  private async waitForHuman<T>(sender: string, what: string, work: (context: Record<string, string>) => Promise<T>): Promise<T> {
    // Each request reaches the daemon on its own connection, so the daemon's per-requester cap
    // cannot see one client's flood: count here.
    const waiting = this.waiting.get(sender) ?? 0;
    if (waiting >= MAX_WAITING_PER_CLIENT) throw new SdError('QueueFull', `(${waiting} waiting from this client).`);
    this.waiting.set(sender, waiting + 1);
    try {
      return await this.waitForHumanUncounted(sender, what, work);
    } finally {
      const left = (this.waiting.get(sender) ?? 1) - 1;
      if (left > 0) this.waiting.set(sender, left);
      else this.waiting.delete(sender);
    }
  }

  private async waitForHumanUncounted<T>(sender: string, what: string, work: (context: Record<string, string>) => Promise<T>): Promise<T> {
    const caller = await this.caller(sender);
    let done: (() => void) | null = null;
    const timer = setTimeout(() => { done = this.notifier.waiting(callerName(caller), what); }, NOTIFY_AFTER_MS);
    try {
      return await work(this.contextOf(sender, caller));
    } finally {
      clearTimeout(timer);
      (done as (() => void) | null)?.();
    }
  }

  /**
   * Ask the daemon for secrets, grant them to this client, and hand back copies. Tier-high items
   * (`high`) are granted for HIGH_TIER_READS reads, less `readNow` when the caller hands one out at once.
   */
  private async fetchSecrets(sender: string, ids: string[], signal: AbortSignal, high: ReadonlySet<string>, readNow: number): Promise<Map<string, DaemonSecret>> {
    let secrets: DaemonSecret[];
    try {
      secrets = await this.waitForHuman(sender, 'Secret', (context) => this.daemon.getSecrets(ids, context, signal));
    } catch (err) {
      if (err instanceof SdError && err.code !== 'Cancelled') this.grants.deny(sender, ids, err.code);
      throw err;
    }
    const out = new Map<string, DaemonSecret>();
    for (const s of secrets) {
      this.grants.grant(sender, s.id, s.secret, s.contentType, high.has(s.id) ? HIGH_TIER_READS - readNow : Infinity);
      out.set(s.id, s);
    }
    return out;
  }

  // ---- resolving paths ----

  private async collectionId(ref: CollectionRef, createDefault = false): Promise<string> {
    if ('id' in ref) return ref.id;
    if (ref.alias === SESSION_COLLECTION_ID) return SESSION_COLLECTION_ID;
    const id = await this.daemon.readAlias(ref.alias);
    if (id) return id;
    // libsecret stores into the "default" alias and expects it to exist, as gnome-keyring's login
    // collection does; create it on first write.
    if (createDefault && ref.alias === 'default') {
      const created = await this.daemon.createCollection('Default keyring', 'default');
      this.collectionsChanged(created, 'CollectionCreated');
      return created;
    }
    throw noSuchObject(`No collection has the alias "${ref.alias}".`);
  }

  private async collectionRecord(ref: CollectionRef): Promise<{ id: string; label: string; created: bigint; modified: bigint }> {
    const id = await this.collectionId(ref);
    if (id === SESSION_COLLECTION_ID) {
      const s = this.sessionCollection;
      return { id, label: s.label, created: s.created, modified: s.modified };
    }
    const found = (await this.daemon.listCollections()).find((c) => c.id === id);
    if (!found) throw noSuchObject();
    return found;
  }

  private async resolveItem(path: string): Promise<ResolvedItem> {
    const parsed = parseObjectPath(path);
    if (!parsed || parsed.kind !== 'item') throw noSuchObject();
    const collectionId = await this.collectionId(parsed.ref);
    if (collectionId === SESSION_COLLECTION_ID) {
      const item = this.sessionCollection.get(parsed.itemId);
      if (!item) throw noSuchObject();
      return { kind: 'session', item, path };
    }
    const [record] = await this.daemon.getItems([parsed.itemId]);
    if (!record || record.collectionId !== collectionId) throw noSuchObject();
    return { kind: 'store', collectionId, record, path };
  }

  private storeItemPaths(records: DaemonItem[]): string[] {
    return records.map((r) => itemPath(r.collectionId, r.id));
  }

  // ---- signals ----

  private collectionsChanged(id: string, signal: 'CollectionCreated' | 'CollectionDeleted' | 'CollectionChanged'): void {
    this.server.emitSignal(SECRET_SERVICE_PATH, SECRET_SERVICE_INTERFACE, signal, 'o', [collectionPath(id)]);
    if (signal !== 'CollectionChanged') {
      void this.collectionPaths().then((paths) => this.server.emitPropertiesChanged(SECRET_SERVICE_PATH, SECRET_SERVICE_INTERFACE, { Collections: paths }), () => undefined);
    }
  }

  private itemChanged(collectionId: string, itemId: string, signal: 'ItemCreated' | 'ItemDeleted' | 'ItemChanged'): void {
    const cpath = collectionPath(collectionId);
    if (!this.server.has(cpath)) this.exportDynamic(cpath, { kind: 'collection', ref: { id: collectionId } });
    this.server.emitSignal(cpath, SECRET_COLLECTION_INTERFACE, signal, 'o', [itemPath(collectionId, itemId)]);
    if (signal !== 'ItemChanged') {
      void this.itemPathsOf(collectionId).then((paths) => this.server.emitPropertiesChanged(cpath, SECRET_COLLECTION_INTERFACE, { Items: paths }), () => undefined);
    }
  }

  private async collectionPaths(): Promise<string[]> {
    const ids = (await this.daemon.listCollections()).map((c) => c.id);
    return [...ids, SESSION_COLLECTION_ID].map(collectionPath);
  }

  private async itemPathsOf(collectionId: string): Promise<string[]> {
    if (collectionId === SESSION_COLLECTION_ID) return this.sessionCollection.list().map((i) => itemPath(SESSION_COLLECTION_ID, i.id));
    const ids = await this.daemon.searchItems(collectionId, {});
    return ids.map((id) => itemPath(collectionId, id));
  }

  // ---- secrets in and out ----

  private encryptFor(sessionPath: string, sender: string, secret: Buffer, contentType: string): SecretStruct {
    const crypto = this.sessions.get(sessionPath, sender);
    const { parameters, value } = crypto.encrypt(secret);
    return [sessionPath, parameters, value, contentType];
  }

  /** The client's secret struct, decrypted; the caller wipes the Buffer. */
  private decryptFrom(untrustedStruct: SecretStruct, sender: string): { secret: Buffer; contentType: string } {
    const [sessionPath, parameters, value, untrustedContentType] = untrustedStruct;
    const crypto = this.sessions.get(sessionPath, sender);
    assertSecretSize(value);
    const contentType = validContentType(untrustedContentType);
    return { secret: crypto.decrypt(parameters, value), contentType };
  }

  /**
   * Secrets of the given item paths for this client: session items and granted items at once,
   * the rest in one request to the daemon that waits for the decision.
   */
  private async secretsFor(paths: string[], sender: string): Promise<Map<string, { secret: Buffer; contentType: string }>> {
    const out = new Map<string, { secret: Buffer; contentType: string }>();
    const needed = new Map<string, string>();
    const high = new Set<string>();
    for (const path of paths) {
      const parsed = parseObjectPath(path);
      if (!parsed || parsed.kind !== 'item') throw noSuchObject(`${path.slice(0, 200)} is not an item.`);
      const fromGrant = this.grants.read(sender, parsed.itemId);
      if (fromGrant) {
        out.set(path, fromGrant);
        continue;
      }
      const resolved = await this.resolveItem(path);
      if (resolved.kind === 'session') {
        out.set(path, { secret: Buffer.from(resolved.item.secret), contentType: resolved.item.contentType });
        continue;
      }
      const refused = this.grants.takeRefusal(sender, resolved.record.id);
      if (refused) throw new SdError(refused);
      needed.set(resolved.record.id, path);
      if (resolved.record.tier === 'high') high.add(resolved.record.id);
    }
    if (needed.size > 0) {
      const fetched = await this.fetchSecrets(sender, [...needed.keys()], this.clientSignal(sender), high, 1);
      for (const [id, path] of needed) {
        const s = fetched.get(id);
        if (s) out.set(path, { secret: Buffer.from(s.secret), contentType: s.contentType });
      }
      for (const s of fetched.values()) s.secret.fill(0);
    }
    return out;
  }

  private withWipe<T>(secrets: Iterable<{ secret: Buffer }>, reply: T): T {
    // The object server encodes the reply synchronously after we return; wipe right after.
    setImmediate(() => { for (const s of secrets) s.secret.fill(0); });
    return reply;
  }

  /** What the daemon is told about a request: the caller as read here (claimed) and its reason. */
  private contextOf(sender: string, caller: SessionCaller): Record<string, string> {
    const reason = this.reasons.get(sender);
    return reason ? { ...claimedContext(caller), reason } : claimedContext(caller);
  }

  // ---- net.mowaka.SecretsDispatcher1.Reason (ours) ----

  private buildReason(): InterfaceImpl {
    return {
      spec: loadInterface(REASON_INTERFACE),
      methods: {
        // Checked by the daemon's one rule here too, so an over-long reason fails at once.
        SetReason: ([untrustedReason]: any[], ctx) => {
          const reason = validReason(untrustedReason);
          if (reason === null) this.reasons.delete(ctx.sender);
          else this.reasons.set(ctx.sender, reason);
        },
      },
    };
  }

  // ---- org.freedesktop.Secret.Service ----

  private buildService(): InterfaceImpl {
    return {
      spec: loadSecretInterface('Service'),
      methods: {
        OpenSession: ([untrustedAlgorithm, untrustedInput]: any[], ctx) => {
          const crypto = openSessionCrypto(untrustedAlgorithm, untrustedInput?.value);
          const path = this.sessions.open(ctx.sender, crypto);
          this.server.export(path, [this.sessionImpl]);
          const output = crypto.output.length > 0 ? new Variant('ay', crypto.output) : new Variant('s', '');
          return [output, path];
        },
        CreateCollection: async ([untrustedProps, untrustedAlias]: any[]) => {
          const label = validLabel(propertyOf(untrustedProps, COLLECTION_LABEL, 's') ?? '');
          if (untrustedAlias === SESSION_COLLECTION_ID) return [collectionPath(SESSION_COLLECTION_ID), NO_OBJECT];
          if (untrustedAlias) {
            const existing = await this.daemon.readAlias(untrustedAlias);
            if (existing) return [collectionPath(existing), NO_OBJECT];
          }
          const id = await this.daemon.createCollection(label, untrustedAlias);
          this.collectionsChanged(id, 'CollectionCreated');
          return [collectionPath(id), NO_OBJECT];
        },
        SearchItems: async ([untrustedAttributes]: any[], ctx) => {
          const attributes = validAttributes(untrustedAttributes);
          const records = await this.daemon.getItems(await this.daemon.searchItems('', attributes));
          const unlocked: string[] = this.sessionCollection.search(attributes).map((i) => itemPath(SESSION_COLLECTION_ID, i.id));
          const locked: string[] = [];
          // A client without a session cannot receive a secret, so nothing is released by calling
          // its items unlocked; libsecret's clear deletes only the unlocked ones it was given,
          // while its lookup opens a session first and so still gets the prompt flow.
          const canRead = this.sessions.hasAny(ctx.sender);
          for (const r of records) (!canRead || this.grants.isUnlocked(ctx.sender, r.id) ? unlocked : locked).push(itemPath(r.collectionId, r.id));
          return [unlocked, locked];
        },
        Unlock: async ([untrustedObjects]: any[], ctx) => this.unlock(untrustedObjects, ctx),
        Lock: ([untrustedObjects]: any[], ctx) => {
          const locked: string[] = [];
          for (const path of untrustedObjects) {
            const parsed = parseObjectPath(path);
            if (!parsed) continue;
            this.grants.revoke(ctx.sender, parsed.kind === 'item' ? [parsed.itemId] : undefined);
            locked.push(path);
          }
          return [locked, NO_OBJECT];
        },
        GetSecrets: async ([untrustedItems, untrustedSession]: any[], ctx) => {
          this.sessions.get(untrustedSession, ctx.sender);
          const secrets = await this.secretsFor([...new Set<string>(untrustedItems)], ctx.sender);
          const out: Record<string, SecretStruct> = {};
          for (const [path, s] of secrets) out[path] = this.encryptFor(untrustedSession, ctx.sender, s.secret, s.contentType);
          return this.withWipe(secrets.values(), out);
        },
        ReadAlias: async ([untrustedName]: any[]) => {
          if (untrustedName === SESSION_COLLECTION_ID) return collectionPath(SESSION_COLLECTION_ID);
          if (!/^[A-Za-z0-9_-]{1,256}$/.test(untrustedName)) return NO_OBJECT;
          const id = await this.daemon.readAlias(untrustedName);
          return id ? collectionPath(id) : NO_OBJECT;
        },
        SetAlias: async ([untrustedName, untrustedPath]: any[]) => {
          if (untrustedName === SESSION_COLLECTION_ID) throw notSupported('The "session" alias always names the session collection.');
          if (untrustedPath === NO_OBJECT) return void await this.daemon.setAlias(untrustedName, '');
          const parsed = parseObjectPath(untrustedPath);
          if (!parsed || parsed.kind !== 'collection') throw noSuchObject(`${untrustedPath.slice(0, 200)} is not a collection.`);
          const id = (await this.collectionRecord(parsed.ref)).id;
          if (id === SESSION_COLLECTION_ID) throw notSupported('The session collection cannot take another alias.');
          await this.daemon.setAlias(untrustedName, id);
          this.collectionsChanged(id, 'CollectionChanged');
        },
      },
      getters: {
        Collections: () => this.collectionPaths(),
      },
    };
  }

  private async unlock(untrustedObjects: string[], ctx: CallContext): Promise<[string[], string]> {
    const unlocked: string[] = [];
    const needed = new Map<string, string>();
    const high = new Set<string>();
    for (const path of untrustedObjects) {
      const parsed = parseObjectPath(path);
      if (!parsed) continue;
      // Collections are never locked here: the store's own lock is the console's business.
      if (parsed.kind === 'collection') {
        unlocked.push(path);
        continue;
      }
      if (this.grants.isUnlocked(ctx.sender, parsed.itemId)) {
        unlocked.push(path);
        continue;
      }
      let resolved: ResolvedItem;
      try {
        resolved = await this.resolveItem(path);
      } catch (err) {
        if (err instanceof SdError && err.code === 'NotFound') continue;
        throw err;
      }
      if (resolved.kind === 'session') unlocked.push(path);
      else {
        needed.set(resolved.record.id, path);
        if (resolved.record.tier === 'high') high.add(resolved.record.id);
      }
    }
    if (needed.size === 0) return [unlocked, NO_OBJECT];
    // Say now, not after the prompt, when nobody could answer: the client shows this error.
    await this.daemon.assertCanAsk();
    const sender = ctx.sender;
    const prompt = this.prompts.create(sender, {
      emptyResult: emptyPaths(),
      run: async (signal) => {
        try {
          const fetched = await this.fetchSecrets(sender, [...needed.keys()], signal, high, 0);
          for (const s of fetched.values()) s.secret.fill(0);
          return new Variant('ao', [...needed].filter(([id]) => fetched.has(id)).map(([, path]) => path));
        } catch (err) {
          if (!(err instanceof SdError) || err.code === 'Cancelled') throw err;
          // Completed cannot carry an error, and a dismissed prompt leaves libsecret and keyring
          // with nothing to say. So report the items as done: the client's next read gets the
          // refusal (Denied, Timeout, NoConsole, ...) as a D-Bus error it shows to its user.
          return new Variant('ao', [...needed.values()]);
        }
      },
    });
    return [unlocked, prompt];
  }

  // ---- org.freedesktop.Secret.Collection ----

  private buildCollection(): InterfaceImpl {
    const record = (ctx: CallContext) => {
      const parsed = parseObjectPath(ctx.path);
      if (!parsed || parsed.kind !== 'collection') throw noSuchObject();
      return this.collectionRecord(parsed.ref);
    };
    const refOf = (ctx: CallContext): CollectionRef => {
      const parsed = parseObjectPath(ctx.path);
      if (!parsed || parsed.kind !== 'collection') throw noSuchObject();
      return parsed.ref;
    };
    return {
      spec: loadSecretInterface('Collection'),
      methods: {
        Delete: async (_args, ctx) => {
          const { id } = await record(ctx);
          if (id === SESSION_COLLECTION_ID) throw notSupported('The session collection cannot be deleted.');
          await this.daemon.assertCanAsk();
          const sender = ctx.sender;
          return this.prompts.create(sender, {
            emptyResult: new Variant('s', ''),
            run: async (signal) => {
              await this.waitForHuman(sender, 'Deleting a collection', (context) => this.daemon.deleteCollection(id, context, signal));
              this.collectionsChanged(id, 'CollectionDeleted');
              return new Variant('s', '');
            },
          });
        },
        SearchItems: async ([untrustedAttributes]: any[], ctx) => {
          const attributes = validAttributes(untrustedAttributes);
          const { id } = await record(ctx);
          if (id === SESSION_COLLECTION_ID) return this.sessionCollection.search(attributes).map((i) => itemPath(id, i.id));
          return (await this.daemon.searchItems(id, attributes)).map((itemId) => itemPath(id, itemId));
        },
        CreateItem: async ([untrustedProps, untrustedSecret, replace]: any[], ctx) =>
          this.createItem(refOf(ctx), untrustedProps, untrustedSecret, replace, ctx),
      },
      getters: {
        Items: async (ctx) => this.itemPathsOf((await record(ctx!)).id),
        Label: async (ctx) => (await record(ctx!)).label,
        Locked: async (ctx) => { await record(ctx!); return false; },
        Created: async (ctx) => (await record(ctx!)).created,
        Modified: async (ctx) => (await record(ctx!)).modified,
      },
      setters: {
        Label: async (untrustedValue, ctx) => {
          const label = validLabel(untrustedValue);
          const { id } = await record(ctx);
          if (id === SESSION_COLLECTION_ID) throw notSupported('The session collection\'s label is fixed.');
          await this.daemon.setCollectionLabel(id, label);
          this.collectionsChanged(id, 'CollectionChanged');
          this.server.emitPropertiesChanged(ctx.path, SECRET_COLLECTION_INTERFACE, { Label: label });
        },
      },
    };
  }

  private async createItem(ref: CollectionRef, untrustedProps: unknown, untrustedSecret: SecretStruct, replace: boolean, ctx: CallContext): Promise<[string, string]> {
    const label = validLabel(propertyOf(untrustedProps, ITEM_LABEL, 's') ?? '');
    const { attributes, tier } = splitTier(validAttributes(propertyOf(untrustedProps, ITEM_ATTRIBUTES, 'a{ss}') ?? {}));
    const collectionId = await this.collectionId(ref, true);
    const { secret, contentType } = this.decryptFrom(untrustedSecret, ctx.sender);
    let keep = false;
    try {
      if (collectionId === SESSION_COLLECTION_ID) {
        keep = true;
        const { item, replaced } = this.sessionCollection.create(label, attributes, secret, contentType, replace);
        this.itemChanged(collectionId, item.id, replaced ? 'ItemChanged' : 'ItemCreated');
        return [itemPath(collectionId, item.id), NO_OBJECT];
      }
      const existing = replace ? await this.exactMatch(collectionId, attributes) : null;
      if (!existing) {
        const caller = await this.caller(ctx.sender);
        const id = await this.daemon.createItem(collectionId, label, attributes, secret, contentType, false, withTierContext(this.contextOf(ctx.sender, caller), tier));
        this.itemChanged(collectionId, id, 'ItemCreated');
        return [itemPath(collectionId, id), NO_OBJECT];
      }
      // A prompt can only say "dismissed": a tier the daemon would refuse to lower is said here, plainly.
      if (tier !== null && isTier(tier)) {
        const [current] = await this.daemon.getItems([existing]);
        if (current?.tier && isTier(current.tier) && lowers(current.tier, tier)) {
          throw new SdError('CannotLowerTier', `'${current.label.slice(0, 64)}' is tier ${current.tier}; asked for ${tier}. Lower it on the console.`);
        }
      }
      // Overwriting a stored secret is a change the human approves: go through a prompt.
      await this.daemon.assertCanAsk();
      keep = true;
      const sender = ctx.sender;
      const prompt = this.prompts.create(sender, {
        emptyResult: new Variant('o', NO_OBJECT),
        run: async (signal) => {
          const id = await this.waitForHuman(sender, 'Replacing a secret', (context) =>
            this.daemon.createItem(collectionId, label, attributes, secret, contentType, true, withTierContext(context, tier), signal));
          this.grants.revokeEverywhere(id);
          this.itemChanged(collectionId, id, 'ItemChanged');
          return new Variant('o', itemPath(collectionId, id));
        },
        discard: () => secret.fill(0),
      });
      return [NO_OBJECT, prompt];
    } finally {
      if (!keep) secret.fill(0);
    }
  }

  private async exactMatch(collectionId: string, attributes: Record<string, string>): Promise<string | null> {
    const keys = Object.keys(attributes);
    const records = await this.daemon.getItems(await this.daemon.searchItems(collectionId, attributes));
    const hit = records.find((r) => Object.keys(r.attributes).length === keys.length && keys.every((k) => r.attributes[k] === attributes[k]));
    return hit?.id ?? null;
  }

  // ---- org.freedesktop.Secret.Item ----

  private buildItem(): InterfaceImpl {
    // Get/GetAll ask for several properties in a row: one daemon lookup per D-Bus call.
    const memo = new WeakMap<CallContext, Promise<ResolvedItem>>();
    const item = (ctx: CallContext): Promise<ResolvedItem> => {
      let p = memo.get(ctx);
      if (!p) memo.set(ctx, (p = this.resolveItem(ctx.path)));
      return p;
    };
    const field = async <T>(ctx: CallContext | null, pick: (i: { label: string; attributes: Record<string, string>; created: bigint; modified: bigint; tier?: string }) => T): Promise<T> => {
      const r = await item(ctx!);
      return pick(r.kind === 'session' ? r.item : r.record);
    };
    const update = async (ctx: CallContext, changes: { label?: string; attributes?: Record<string, string>; tier?: string | null }) => {
      const r = await item(ctx);
      if (r.kind === 'session') {
        this.sessionCollection.update(r.item.id, changes);
        this.itemChanged(SESSION_COLLECTION_ID, r.item.id, 'ItemChanged');
        return;
      }
      const { record } = r;
      await this.waitForHuman(ctx.sender, 'Changing a secret\'s label or attributes', (context) =>
        this.daemon.updateItem(record.id, changes.label ?? record.label, changes.attributes ?? record.attributes, withTierContext(context, changes.tier ?? null), this.clientSignal(ctx.sender)));
      this.itemChanged(r.collectionId, record.id, 'ItemChanged');
    };
    return {
      spec: loadSecretInterface('Item'),
      methods: {
        Delete: async (_args, ctx) => {
          const r = await item(ctx);
          if (r.kind === 'session') {
            this.sessionCollection.delete(r.item.id);
            this.itemChanged(SESSION_COLLECTION_ID, r.item.id, 'ItemDeleted');
            return NO_OBJECT;
          }
          await this.daemon.assertCanAsk();
          const sender = ctx.sender;
          const { collectionId, record } = r;
          return this.prompts.create(sender, {
            emptyResult: new Variant('s', ''),
            run: async (signal) => {
              await this.waitForHuman(sender, 'Deleting a secret', (context) => this.daemon.deleteItem(record.id, context, signal));
              this.grants.revokeEverywhere(record.id);
              this.itemChanged(collectionId, record.id, 'ItemDeleted');
              return new Variant('s', '');
            },
          });
        },
        GetSecret: async ([untrustedSession]: any[], ctx) => {
          this.sessions.get(untrustedSession, ctx.sender);
          const secrets = await this.secretsFor([ctx.path], ctx.sender);
          const s = secrets.get(ctx.path);
          if (!s) throw noSuchObject();
          return this.withWipe([s], this.encryptFor(untrustedSession, ctx.sender, s.secret, s.contentType));
        },
        SetSecret: async ([untrustedSecret]: any[], ctx) => {
          const r = await item(ctx);
          const { secret, contentType } = this.decryptFrom(untrustedSecret, ctx.sender);
          if (r.kind === 'session') {
            this.sessionCollection.update(r.item.id, { secret, contentType });
            this.itemChanged(SESSION_COLLECTION_ID, r.item.id, 'ItemChanged');
            return;
          }
          try {
            await this.waitForHuman(ctx.sender, 'Replacing a secret', (context) =>
              this.daemon.setSecret(r.record.id, secret, contentType, context, this.clientSignal(ctx.sender)));
          } finally {
            secret.fill(0);
          }
          this.grants.revokeEverywhere(r.record.id);
          this.itemChanged(r.collectionId, r.record.id, 'ItemChanged');
        },
      },
      getters: {
        // Unlocked as an object: secretstorage refuses to call GetSecret or Delete on an item whose
        // Locked is true, and each of those calls waits for the human anyway. The prompt flow is
        // steered by SearchItems' locked list (libsecret) and by Unlock (keyring always calls it).
        Locked: async (ctx) => {
          await item(ctx!);
          return false;
        },
        Attributes: (ctx) => field(ctx, (i) => shownAttributes(i.attributes, i.tier)),
        Label: (ctx) => field(ctx, (i) => i.label),
        Type: (ctx) => field(ctx, (i) => i.attributes['xdg:schema'] ?? ''),
        Created: (ctx) => field(ctx, (i) => i.created),
        Modified: (ctx) => field(ctx, (i) => i.modified),
      },
      setters: {
        Label: async (untrustedValue, ctx) => {
          await update(ctx, { label: validLabel(untrustedValue) });
          this.server.emitPropertiesChanged(ctx.path, SECRET_ITEM_INTERFACE, { Label: untrustedValue });
        },
        Attributes: async (untrustedValue, ctx) => {
          const { attributes, tier } = splitTier(validAttributes(untrustedValue));
          await update(ctx, { attributes, tier });
          this.server.emitPropertiesChanged(ctx.path, SECRET_ITEM_INTERFACE, { Attributes: attributes });
        },
        Type: () => { throw notSupported('Set the item\'s xdg:schema attribute instead of Type.'); },
      },
    };
  }
}
