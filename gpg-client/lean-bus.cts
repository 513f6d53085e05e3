// Just enough D-Bus for sd-gpg: connect to a unix socket, authenticate with EXTERNAL, say Hello and
// make method calls, little-endian. sd-gpg runs on every `git commit -S`; dbus-next alone costs
// about 110 ms to load, which is more than the whole signing budget, so this speaks the wire
// protocol (D-Bus specification, "Message Protocol") directly. Only node:net is loaded.
import { connect, type Socket } from 'node:net';

/** A variant to send: its signature and value. Received variants come back as plain values. */
export interface OutVariant { sig: string; value: unknown }

export interface LeanCall {
  destination: string;
  path: string;
  interface: string;
  member: string;
  signature?: string;
  body?: unknown[];
}

/** An error reply: the D-Bus error name and its message. */
export class LeanBusError extends Error {
  constructor(readonly errorName: string, message: string) {
    super(message);
    this.name = 'LeanBusError';
  }
}

/** The socket could not be reached or closed before a reply. */
export class LeanBusUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeanBusUnavailable';
  }
}

const MSG_METHOD_CALL = 1;
const MSG_METHOD_RETURN = 2;
const MSG_ERROR = 3;
const FIELD = { path: 1, interface: 2, member: 3, errorName: 4, replySerial: 5, destination: 6, sender: 7, signature: 8 } as const;
const MAX_MESSAGE = 128 * 1024 * 1024;

const ALIGN: Record<string, number> = { y: 1, b: 4, n: 2, q: 2, i: 4, u: 4, x: 8, t: 8, d: 8, h: 4, s: 4, o: 4, g: 1, a: 4, '(': 8, '{': 8, v: 1 };

/** Split a signature into complete types. */
export function splitSignature(sig: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < sig.length) {
    const end = typeEnd(sig, i);
    out.push(sig.slice(i, end));
    i = end;
  }
  return out;
}

function typeEnd(sig: string, start: number): number {
  const c = sig[start];
  if (c === 'a') return typeEnd(sig, start + 1);
  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}';
    let i = start + 1;
    while (sig[i] !== close) {
      if (i >= sig.length) throw new Error(`bad signature ${sig}`);
      i = typeEnd(sig, i);
    }
    return i + 1;
  }
  if (c === undefined || !(c in ALIGN)) throw new Error(`bad signature ${sig}`);
  return start + 1;
}

class Writer {
  private buf = Buffer.alloc(256);
  length = 0;

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  align(n: number): void {
    const pad = (n - (this.length % n)) % n;
    this.ensure(pad);
    this.buf.fill(0, this.length, this.length + pad);
    this.length += pad;
  }

  bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.length);
    this.length += b.length;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf.writeUInt8(v, this.length);
    this.length += 1;
  }

  u32(v: number): void {
    this.align(4);
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.length);
    this.length += 4;
  }

  patchU32(at: number, v: number): void {
    this.buf.writeUInt32LE(v, at);
  }

  result(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  write(type: string, value: unknown): void {
    const c = type[0]!;
    switch (c) {
      case 'y': return this.u8(Number(value));
      case 'b': return this.u32(value ? 1 : 0);
      case 'n': case 'q': {
        this.align(2);
        this.ensure(2);
        if (c === 'n') this.buf.writeInt16LE(Number(value), this.length);
        else this.buf.writeUInt16LE(Number(value), this.length);
        this.length += 2;
        return;
      }
      case 'i': case 'h': case 'u': {
        this.align(4);
        this.ensure(4);
        if (c === 'i') this.buf.writeInt32LE(Number(value), this.length);
        else this.buf.writeUInt32LE(Number(value), this.length);
        this.length += 4;
        return;
      }
      case 'x': case 't': case 'd': {
        this.align(8);
        this.ensure(8);
        if (c === 'd') this.buf.writeDoubleLE(Number(value), this.length);
        else if (c === 'x') this.buf.writeBigInt64LE(BigInt(value as number | bigint), this.length);
        else this.buf.writeBigUInt64LE(BigInt(value as number | bigint), this.length);
        this.length += 8;
        return;
      }
      case 's': case 'o': {
        const b = Buffer.from(String(value), 'utf8');
        this.u32(b.length);
        this.bytes(b);
        return this.u8(0);
      }
      case 'g': {
        const b = Buffer.from(String(value), 'latin1');
        this.u8(b.length);
        this.bytes(b);
        return this.u8(0);
      }
      case 'v': {
        const v = value as OutVariant;
        this.write('g', v.sig);
        return this.write(v.sig, v.value);
      }
      case '(': {
        this.align(8);
        const members = splitSignature(type.slice(1, -1));
        const values = value as unknown[];
        members.forEach((m, i) => this.write(m, values[i]));
        return;
      }
      case 'a': {
        const elem = type.slice(1);
        this.u32(0);
        const lengthAt = this.length - 4;
        this.align(ALIGN[elem[0]!]!);
        const start = this.length;
        if (elem === 'y') {
          this.bytes(Buffer.isBuffer(value) ? value : Buffer.from(value as number[]));
        } else if (elem[0] === '{') {
          const [k, v] = splitSignature(elem.slice(1, -1));
          const entries = value instanceof Map ? [...value.entries()] : Object.entries(value as Record<string, unknown>);
          for (const [key, val] of entries) {
            this.align(8);
            this.write(k!, key);
            this.write(v!, val);
          }
        } else {
          for (const item of value as unknown[]) this.write(elem, item);
        }
        this.patchU32(lengthAt, this.length - start);
        return;
      }
      default:
        throw new Error(`cannot marshal type ${type}`);
    }
  }
}

class Reader {
  pos: number;
  constructor(private readonly buf: Buffer, start = 0, private readonly base = 0) {
    this.pos = start;
  }

  private align(n: number): void {
    const rel = this.pos - this.base;
    this.pos += (n - (rel % n)) % n;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error('truncated D-Bus message');
  }

  read(type: string): unknown {
    const c = type[0]!;
    this.align(ALIGN[c] ?? 1);
    switch (c) {
      case 'y': this.need(1); return this.buf.readUInt8(this.pos++);
      case 'b': this.need(4); this.pos += 4; return this.buf.readUInt32LE(this.pos - 4) !== 0;
      case 'n': this.need(2); this.pos += 2; return this.buf.readInt16LE(this.pos - 2);
      case 'q': this.need(2); this.pos += 2; return this.buf.readUInt16LE(this.pos - 2);
      case 'i': this.need(4); this.pos += 4; return this.buf.readInt32LE(this.pos - 4);
      case 'u': case 'h': this.need(4); this.pos += 4; return this.buf.readUInt32LE(this.pos - 4);
      case 'x': this.need(8); this.pos += 8; return this.buf.readBigInt64LE(this.pos - 8);
      case 't': this.need(8); this.pos += 8; return this.buf.readBigUInt64LE(this.pos - 8);
      case 'd': this.need(8); this.pos += 8; return this.buf.readDoubleLE(this.pos - 8);
      case 's': case 'o': {
        const len = this.read('u') as number;
        this.need(len + 1);
        const s = this.buf.toString('utf8', this.pos, this.pos + len);
        this.pos += len + 1;
        return s;
      }
      case 'g': {
        const len = this.read('y') as number;
        this.need(len + 1);
        const s = this.buf.toString('latin1', this.pos, this.pos + len);
        this.pos += len + 1;
        return s;
      }
      case 'v': return this.read(this.read('g') as string);
      case '(': return splitSignature(type.slice(1, -1)).map((m) => this.read(m));
      case 'a': {
        const len = this.read('u') as number;
        const elem = type.slice(1);
        this.align(ALIGN[elem[0]!]!);
        this.need(len);
        const end = this.pos + len;
        if (elem === 'y') {
          const b = Buffer.from(this.buf.subarray(this.pos, end));
          this.pos = end;
          return b;
        }
        if (elem[0] === '{') {
          const [k, v] = splitSignature(elem.slice(1, -1));
          const out: Record<string, unknown> = {};
          while (this.pos < end) {
            this.align(8);
            const key = this.read(k!);
            out[String(key)] = this.read(v!);
          }
          return out;
        }
        const items: unknown[] = [];
        while (this.pos < end) items.push(this.read(elem));
        return items;
      }
      default:
        throw new Error(`cannot unmarshal type ${type}`);
    }
  }
}

export function marshalCall(serial: number, call: LeanCall): Buffer {
  const signature = call.signature ?? '';
  const body = new Writer();
  splitSignature(signature).forEach((t, i) => body.write(t, call.body?.[i]));
  const fields: Array<[number, OutVariant]> = [
    [FIELD.path, { sig: 'o', value: call.path }],
    [FIELD.destination, { sig: 's', value: call.destination }],
    [FIELD.interface, { sig: 's', value: call.interface }],
    [FIELD.member, { sig: 's', value: call.member }],
  ];
  if (signature) fields.push([FIELD.signature, { sig: 'g', value: signature }]);
  const head = new Writer();
  head.u8(0x6c); // 'l': little-endian
  head.u8(MSG_METHOD_CALL);
  head.u8(0);
  head.u8(1);
  head.u32(body.length);
  head.u32(serial);
  head.write('a(yv)', fields);
  head.align(8);
  return Buffer.concat([head.result(), body.result()]);
}

export interface IncomingMessage {
  type: number;
  serial: number;
  replySerial: number | null;
  errorName: string | null;
  signature: string;
  body: unknown[];
}

/** Bytes the message at the front of `buf` takes, once its fixed header is there (else 16). */
function messageLength(buf: Buffer): number {
  if (buf.length < 16) return 16;
  const fieldsLength = buf.readUInt32LE(12);
  return 16 + fieldsLength + ((8 - (fieldsLength % 8)) % 8) + buf.readUInt32LE(4);
}

/** Parse one message from the front of `buf`; null if it is not complete yet. Returns its length too. */
export function unmarshalMessage(buf: Buffer): { message: IncomingMessage; length: number } | null {
  if (buf.length < 16) return null;
  if (buf[0] !== 0x6c) throw new Error('big-endian D-Bus messages are not supported');
  const bodyLength = buf.readUInt32LE(4);
  const total = messageLength(buf);
  const headerEnd = total - bodyLength;
  if (total > MAX_MESSAGE) throw new Error('D-Bus message too large');
  if (buf.length < total) return null;
  const fields = new Reader(buf, 12).read('a(yv)') as Array<[number, unknown]>;
  const field = (code: number) => fields.find(([c]) => c === code)?.[1];
  const signature = (field(FIELD.signature) as string | undefined) ?? '';
  const bodyReader = new Reader(buf.subarray(0, total), headerEnd, headerEnd);
  const body = splitSignature(signature).map((t) => bodyReader.read(t));
  const replySerial = field(FIELD.replySerial);
  return {
    message: {
      type: buf[1]!,
      serial: buf.readUInt32LE(8),
      replySerial: typeof replySerial === 'number' ? replySerial : null,
      errorName: (field(FIELD.errorName) as string | undefined) ?? null,
      signature,
      body,
    },
    length: total,
  };
}

/** The socket path of a bus address ("unix:path=..." or "unix:abstract=..."; the first unix one). */
export function socketPathOf(address: string): string {
  for (const entry of address.split(';')) {
    if (!entry.startsWith('unix:')) continue;
    const params = new Map(entry.slice(5).split(',').map((kv) => {
      const eq = kv.indexOf('=');
      return [kv.slice(0, eq), decodeURIComponent(kv.slice(eq + 1))] as const;
    }));
    const path = params.get('path');
    if (path) return path;
    const abstract = params.get('abstract');
    if (abstract) return `\0${abstract}`;
  }
  throw new LeanBusUnavailable(`no unix socket in bus address ${JSON.stringify(address)}`);
}

interface Waiter { resolve(body: unknown[]): void; reject(err: Error): void }

export class LeanBus {
  private serial = 0;
  private inbox: Buffer = Buffer.alloc(0);
  private parts: Buffer[] = [];
  private partsLength = 0;
  private needed = 0;
  private readonly waiters = new Map<number, Waiter>();
  private closedError: Error | null = null;
  /** The bus's answer to AUTH while it is still being read; null once it said OK. */
  private greeting: string | null = '';

  private constructor(private readonly socket: Socket, address: string) {
    let connected = false;
    socket.once('connect', () => (connected = true));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(new LeanBusUnavailable(connected
      ? `bus connection failed: ${err.message}`
      : `cannot connect to the bus at ${address}: ${err.message}`)));
    socket.on('close', () => this.fail(new LeanBusUnavailable('the bus connection closed before the reply')));
  }

  /**
   * Open the connection without waiting for it: authenticate as our own UID and say Hello. AUTH and
   * BEGIN go out in one write, as sd-bus sends them, with Hello and the caller's first calls right
   * behind; until the socket is connected node queues them. The bus reads them in order, so nothing
   * waits a round trip for its "OK". If the socket cannot be reached, or the bus refuses us (its
   * first line is not OK), every call fails with that reason.
   */
  static open(address: string): LeanBus {
    const path = socketPathOf(address);
    const bus = new LeanBus(connect({ path }), address);
    const uid = String(process.getuid?.() ?? 0);
    bus.socket.write(`\0AUTH EXTERNAL ${Buffer.from(uid, 'latin1').toString('hex')}\r\nBEGIN\r\n`);
    // Hello's reply is not waited for: the bus handles our messages in order.
    bus.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'Hello' }).catch(() => undefined);
    return bus;
  }

  /** open(), resolved once the socket is connected (or rejected if it cannot be). */
  static connect(address: string): Promise<LeanBus> {
    const bus = LeanBus.open(address);
    return new Promise((resolve, reject) => {
      bus.socket.once('connect', () => resolve(bus));
      bus.socket.once('close', () => reject(bus.closedError ?? new LeanBusUnavailable(`cannot connect to the bus at ${address}`)));
    });
  }

  call(call: LeanCall): Promise<unknown[]> {
    if (this.closedError) return Promise.reject(this.closedError);
    const serial = ++this.serial;
    const message = marshalCall(serial, call);
    return new Promise((resolve, reject) => {
      this.waiters.set(serial, { resolve, reject });
      this.socket.write(message);
    });
  }

  /** Closing the connection is how a pending request is cancelled: the daemon sees our name go. */
  close(): void {
    this.socket.destroy();
    this.fail(new LeanBusUnavailable('closed'));
  }

  private refuse(line: string): void {
    this.fail(new LeanBusUnavailable(`the bus refused authentication: ${line.trim().slice(0, 100)}`));
    this.socket.destroy();
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
  }

  private onData(chunk: Buffer): void {
    if (this.greeting !== null) {
      // Latin-1 keeps every byte, so what follows the OK line is the start of the message stream.
      this.greeting += chunk.toString('latin1');
      const end = this.greeting.indexOf('\r\n');
      if (end < 0) {
        if (this.greeting.length > 512) this.refuse(this.greeting);
        return;
      }
      const line = this.greeting.slice(0, end);
      const rest = Buffer.from(this.greeting.slice(end + 2), 'latin1');
      this.greeting = null;
      if (!line.startsWith('OK ')) return this.refuse(line);
      if (rest.length === 0) return;
      chunk = rest;
    }
    // Gather chunks until the message the front header announces is complete (no quadratic copying).
    this.parts.push(chunk);
    this.partsLength += chunk.length;
    if (this.partsLength < this.needed) return;
    this.inbox = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partsLength);
    this.parts = [];
    this.partsLength = 0;
    this.needed = 0;
    for (;;) {
      let parsed: ReturnType<typeof unmarshalMessage>;
      try {
        parsed = unmarshalMessage(this.inbox);
      } catch (err) {
        this.fail(new LeanBusUnavailable(`unreadable message from the bus: ${(err as Error).message}`));
        this.socket.destroy();
        return;
      }
      if (!parsed) {
        this.needed = messageLength(this.inbox);
        this.parts = [this.inbox];
        this.partsLength = this.inbox.length;
        return;
      }
      this.inbox = this.inbox.subarray(parsed.length);
      const { message } = parsed;
      if (message.replySerial === null) continue;
      const waiter = this.waiters.get(message.replySerial);
      if (!waiter) continue;
      this.waiters.delete(message.replySerial);
      if (message.type === MSG_METHOD_RETURN) waiter.resolve(message.body);
      else if (message.type === MSG_ERROR) waiter.reject(new LeanBusError(message.errorName ?? 'org.freedesktop.DBus.Error.Failed', typeof message.body[0] === 'string' ? message.body[0] : ''));
    }
  }
}
