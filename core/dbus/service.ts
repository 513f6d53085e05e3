// A small object server on top of dbus-next's low-level method handler. We do not use
// dbus-next's Interface classes because they hide the sender (we authorise on it), send JS stack
// traces on unexpected errors, and cannot validate against our checked-in XML.
import dbus from 'dbus-next';
import { INTROSPECTABLE_INTERFACE, PEER_INTERFACE, PROPERTIES_INTERFACE } from '../names.js';
import { SdError, STANDARD_DBUS_ERRORS } from '../errors.js';
import type { Logger } from '../logger.js';
import { renderIntrospection, type InterfaceSpec } from './introspection.js';
import { getPeerCredentials, Message, Variant, type MessageBus, type PeerCredentials } from './bus.js';

export interface CallContext {
  sender: string;
  path: string;
  /** UID and PID of the caller, asked of the bus once per connection and cached. */
  credentials(): Promise<PeerCredentials>;
}

/** A method implementation: receives the decoded body, returns the out arguments. */
export type MethodImpl = (args: any[], ctx: CallContext) => unknown;
export type PropertyGetter = (ctx: CallContext | null) => unknown;
export type PropertySetter = (value: unknown, ctx: CallContext) => unknown;

export interface InterfaceImpl {
  spec: InterfaceSpec;
  methods: Record<string, MethodImpl>;
  getters?: Record<string, PropertyGetter>;
  setters?: Record<string, PropertySetter>;
  /** Runs before every method and property access of this interface; throw to refuse. */
  authorize?: (ctx: CallContext) => Promise<void> | void;
}

export interface ErrorReply { name: string; text: string }

export interface ObjectServerOptions {
  logger: Logger;
  /**
   * Turns a thrown value into the error sent back. Unknown errors must not leak detail: the
   * default sends the catalogue's Internal text and logs the real one.
   */
  errorReply?: (err: unknown) => ErrorReply | undefined;
  /** Error name for arguments that do not match the XML signature. */
  invalidArgsName?: string;
}

interface ExportedObject { interfaces: Map<string, InterfaceImpl> }

export class ObjectServer {
  private readonly objects = new Map<string, ExportedObject>();
  private readonly credentialCache = new Map<string, Promise<PeerCredentials>>();
  private readonly handler: (msg: dbus.Message) => boolean;

  constructor(private readonly bus: MessageBus, private readonly options: ObjectServerOptions) {
    this.handler = (msg) => this.handle(msg);
    bus.addMethodHandler(this.handler);
  }

  close(): void {
    this.bus.removeMethodHandler(this.handler);
    this.objects.clear();
  }

  /**
   * Ask the bus for a new connection's credentials before it calls. A client that connects and
   * calls at once (sd-gpg sends Hello and its Sign back to back) then finds them ready instead of
   * waiting a round trip to the bus on its first call. Unique names are never reused, so the
   * answer stays true until forgetPeer. The answer is also returned, for whoever records the
   * connection's first appearance.
   */
  prefetchPeer(uniqueName: string): Promise<PeerCredentials> {
    const p = this.credentials(uniqueName);
    p.catch(() => undefined);
    return p;
  }

  /** How many connections' credentials are held (each until it disconnects). */
  get knownPeers(): number {
    return this.credentialCache.size;
  }

  /** Forget cached credentials of a connection that has gone (unique names are never reused). */
  forgetPeer(uniqueName: string): void {
    this.credentialCache.delete(uniqueName);
  }

  export(path: string, interfaces: InterfaceImpl[]): void {
    const obj = this.objects.get(path) ?? { interfaces: new Map() };
    for (const i of interfaces) obj.interfaces.set(i.spec.name, i);
    this.objects.set(path, obj);
  }

  unexport(path: string): void {
    this.objects.delete(path);
  }

  has(path: string): boolean {
    return this.objects.has(path);
  }

  /** Send a signal; with `destination` it is unicast to that connection only. */
  emitSignal(path: string, iface: string, member: string, signature: string, body: unknown[], destination?: string): void {
    const msg = Message.newSignal(path, iface, member, signature, body);
    if (destination) msg.destination = destination;
    this.bus.send(msg);
  }

  emitPropertiesChanged(path: string, iface: string, changed: Record<string, unknown>): void {
    const obj = this.objects.get(path);
    const impl = obj?.interfaces.get(iface);
    if (!impl) return;
    const variants: Record<string, dbus.Variant> = {};
    for (const [name, value] of Object.entries(changed)) {
      const spec = impl.spec.properties.get(name);
      if (spec) variants[name] = new Variant(spec.type, value);
    }
    this.emitSignal(path, PROPERTIES_INTERFACE, 'PropertiesChanged', 'sa{sv}as', [iface, variants, []]);
  }

  private credentials(sender: string): Promise<PeerCredentials> {
    let p = this.credentialCache.get(sender);
    if (!p) {
      p = getPeerCredentials(this.bus, sender);
      this.credentialCache.set(sender, p);
      p.catch(() => this.credentialCache.delete(sender));
    }
    return p;
  }

  private childNames(path: string): string[] {
    const prefix = path === '/' ? '/' : `${path}/`;
    const names = new Set<string>();
    for (const p of this.objects.keys()) {
      if (p.startsWith(prefix) && p !== path) names.add(p.slice(prefix.length).split('/')[0]!);
    }
    return [...names];
  }

  private handle(msg: dbus.Message): boolean {
    const path = msg.path ?? '';
    const obj = this.objects.get(path);
    if (!obj) {
      // Let parents of exported objects be introspected so tools can walk the tree.
      if (msg.interface === INTROSPECTABLE_INTERFACE && msg.member === 'Introspect' && this.childNames(path).length > 0) {
        this.reply(msg, 's', [renderIntrospection([], this.childNames(path))]);
        return true;
      }
      return false;
    }
    const ctx: CallContext = { sender: msg.sender ?? '', path, credentials: () => this.credentials(msg.sender ?? '') };
    void this.dispatch(msg, obj, ctx);
    return true;
  }

  private async dispatch(msg: dbus.Message, obj: ExportedObject, ctx: CallContext): Promise<void> {
    try {
      const iface = msg.interface;
      const member = msg.member ?? '';
      if (iface === INTROSPECTABLE_INTERFACE && member === 'Introspect') {
        return this.reply(msg, 's', [renderIntrospection([...obj.interfaces.values()].map((i) => i.spec), this.childNames(ctx.path))]);
      }
      if (iface === PEER_INTERFACE) {
        if (member === 'Ping') return this.reply(msg, '', []);
        throw new SdError('InvalidArgs', `Unknown method ${member}.`, { dbusName: STANDARD_DBUS_ERRORS.UnknownMethod });
      }
      if (iface === PROPERTIES_INTERFACE) return await this.properties(msg, obj, ctx);

      let impl: InterfaceImpl | undefined;
      if (iface) impl = obj.interfaces.get(iface);
      else impl = [...obj.interfaces.values()].find((i) => i.spec.methods.has(member));
      if (!impl) throw new SdError('InvalidArgs', `No interface ${iface ?? '(none)'} at ${ctx.path}.`, { dbusName: STANDARD_DBUS_ERRORS.UnknownInterface });
      const spec = impl.spec.methods.get(member);
      const fn = impl.methods[member];
      if (!spec || !fn) throw new SdError('InvalidArgs', `No method ${member} on ${impl.spec.name}.`, { dbusName: STANDARD_DBUS_ERRORS.UnknownMethod });
      if ((msg.signature ?? '') !== spec.inSignature) {
        throw new SdError('InvalidArgs', `${member} takes (${spec.inSignature}), got (${msg.signature ?? ''}).`, this.invalidArgs());
      }
      await impl.authorize?.(ctx);
      const result = await fn(msg.body ?? [], ctx);
      const out = spec.outArgs.length === 0 ? [] : spec.outArgs.length === 1 ? [result] : (result as unknown[]);
      this.reply(msg, spec.outSignature, out);
    } catch (err) {
      this.replyError(msg, err);
    }
  }

  private invalidArgs(): { dbusName?: string } {
    return this.options.invalidArgsName ? { dbusName: this.options.invalidArgsName } : {};
  }

  private async properties(msg: dbus.Message, obj: ExportedObject, ctx: CallContext): Promise<void> {
    const member = msg.member;
    const body = msg.body ?? [];
    const find = (ifaceName: string): InterfaceImpl => {
      const impl = obj.interfaces.get(ifaceName);
      if (!impl) throw new SdError('InvalidArgs', `No interface ${ifaceName} at ${ctx.path}.`, { dbusName: STANDARD_DBUS_ERRORS.UnknownInterface });
      return impl;
    };
    if (member === 'Get' && msg.signature === 'ss') {
      const impl = find(body[0]);
      await impl.authorize?.(ctx);
      const spec = impl.spec.properties.get(body[1]);
      const getter = impl.getters?.[body[1]];
      if (!spec || !getter) throw new SdError('InvalidArgs', `No property ${body[1]}.`, { dbusName: STANDARD_DBUS_ERRORS.UnknownProperty });
      return this.reply(msg, 'v', [new Variant(spec.type, await getter(ctx))]);
    }
    if (member === 'GetAll' && msg.signature === 's') {
      const impl = find(body[0]);
      await impl.authorize?.(ctx);
      const all: Record<string, dbus.Variant> = {};
      for (const [name, spec] of impl.spec.properties) {
        const getter = impl.getters?.[name];
        if (getter && spec.access !== 'write') all[name] = new Variant(spec.type, await getter(ctx));
      }
      return this.reply(msg, 'a{sv}', [all]);
    }
    if (member === 'Set' && msg.signature === 'ssv') {
      const impl = find(body[0]);
      await impl.authorize?.(ctx);
      const spec = impl.spec.properties.get(body[1]);
      const setter = impl.setters?.[body[1]];
      if (!spec) throw new SdError('InvalidArgs', `No property ${body[1]}.`, { dbusName: STANDARD_DBUS_ERRORS.UnknownProperty });
      if (!setter || spec.access === 'read') throw new SdError('InvalidArgs', `Property ${body[1]} is read-only.`, { dbusName: STANDARD_DBUS_ERRORS.PropertyReadOnly });
      const value = body[2] as dbus.Variant;
      if (value.signature !== spec.type) throw new SdError('InvalidArgs', `Property ${body[1]} has type ${spec.type}.`, this.invalidArgs());
      await setter(value.value, ctx);
      return this.reply(msg, '', []);
    }
    throw new SdError('InvalidArgs', `Bad call ${member}(${msg.signature ?? ''}) on ${PROPERTIES_INTERFACE}.`, this.invalidArgs());
  }

  private reply(msg: dbus.Message, signature: string, body: unknown[]): void {
    if (msg.flags & dbus.MessageFlag.NO_REPLY_EXPECTED) return;
    try {
      this.bus.send(Message.newMethodReturn(msg, signature, body));
    } catch (err) {
      // Marshalling failed: our bug, never the caller's data on the wire.
      this.options.logger.error('reply could not be encoded', { member: msg.member, error: (err as Error).message });
      this.replyError(msg, new Error('reply encoding failed'));
    }
  }

  private replyError(msg: dbus.Message, err: unknown): void {
    let reply = this.options.errorReply?.(err);
    if (!reply) {
      if (err instanceof SdError) reply = { name: err.dbusName, text: err.message };
      else {
        this.options.logger.error('method failed', { member: msg.member, error: (err as Error)?.message ?? String(err) });
        const internal = new SdError('Internal');
        reply = { name: internal.dbusName, text: internal.message };
      }
    }
    if (msg.flags & dbus.MessageFlag.NO_REPLY_EXPECTED) return;
    try {
      // dbus-next's typings declare the first parameter as string; it is the call being answered.
      this.bus.send(Message.newError(msg as unknown as string, reply.name, reply.text));
    } catch (sendErr) {
      this.options.logger.error('error reply could not be sent', { error: (sendErr as Error).message });
    }
  }
}
