// One shape for "a peer on the private bus": in this process (as our own UID) or in a child
// process running as another UID (bus-peer.mjs). Either way calls reject with an error that
// carries the D-Bus error name, so tests assert names, not texts.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import dbus from 'dbus-next';
import { connectBus, disconnectBus, type MessageBus } from '../../core/dbus/bus.js';
import { DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH, REQUEST_INTERFACE } from '../../core/names.js';

export class BusCallError extends Error {
  constructor(readonly dbusName: string, text: string) {
    super(`${dbusName}: ${text}`);
    this.name = 'BusCallError';
  }
}

export interface CallSpec {
  member: string;
  signature?: string;
  body?: unknown[];
  interface?: string;
  destination?: string;
  path?: string;
  /** Reject with BusCallError('timeout') after this many ms (default 30 s). */
  timeoutMs?: number;
}

export interface SignalEvent { path: string; interface: string; member: string; body: any[] }

export interface BusClient {
  readonly uniqueName: string;
  /** PID of the process that owns the connection (ours, or the peer child's). */
  readonly pid: number;
  call(spec: CallSpec): Promise<any[]>;
  onSignal(listener: (signal: SignalEvent) => void): void;
  close(): Promise<void>;
}

const PEER_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'bus-peer.mjs');

function withDefaults(spec: CallSpec) {
  return {
    destination: spec.destination ?? DISPATCHER_BUS_NAME,
    path: spec.path ?? DISPATCHER_OBJECT_PATH,
    interface: spec.interface ?? REQUEST_INTERFACE,
    member: spec.member,
    signature: spec.signature ?? '',
    body: spec.body ?? [],
  };
}

function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BusCallError('timeout', `${what}: no reply within ${ms} ms`)), ms);
    }),
  ]);
}

/** A connection in this process, as the test's own UID. */
export async function connectInProcess(address: string): Promise<BusClient> {
  const bus: MessageBus = await connectBus('session', address);
  const listeners: ((s: SignalEvent) => void)[] = [];
  bus.on('message', (msg: dbus.Message) => {
    if (msg.type !== dbus.MessageType.SIGNAL || msg.sender === 'org.freedesktop.DBus') return;
    for (const l of listeners) l({ path: msg.path ?? '', interface: msg.interface ?? '', member: msg.member ?? '', body: msg.body });
  });
  return {
    uniqueName: (bus as unknown as { name: string }).name,
    pid: process.pid,
    async call(spec) {
      const m = withDefaults(spec);
      const call = bus.call(new dbus.Message(m)).then((reply) => reply?.body ?? [], (err: { type?: string; text?: string; message?: string }) => {
        throw new BusCallError(err?.type ?? 'local', err?.text ?? err?.message ?? String(err));
      });
      return timeout(call, spec.timeoutMs ?? 30_000, m.member);
    },
    onSignal(listener) {
      listeners.push(listener);
    },
    async close() {
      disconnectBus(bus);
    },
  };
}

/**
 * A connection from a child process, optionally as another user (root only). `execPath` runs the
 * peer under another node binary (e.g. a copy), so the daemon sees a different executable.
 */
export async function connectAsUser(address: string, user?: { uid: number; gid: number }, options: { execPath?: string } = {}): Promise<BusClient> {
  const child: ChildProcess = spawn(options.execPath ?? process.execPath, [PEER_SCRIPT, address], {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(user ? { uid: user.uid, gid: user.gid } : {}),
    cwd: '/',
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const waiting = new Map<number, { resolve(body: any[]): void; reject(err: Error): void }>();
  const listeners: ((s: SignalEvent) => void)[] = [];
  let nextId = 1;
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bus peer did not connect: ${stderr}`)), 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bus peer exited with ${code}: ${stderr}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const msg = decode(JSON.parse(line));
      if (msg.event === 'ready') {
        clearTimeout(timer);
        resolve(msg.name);
      } else if (msg.event === 'signal') {
        for (const l of listeners) l(msg);
      } else if (msg.id !== undefined) {
        const w = waiting.get(msg.id);
        waiting.delete(msg.id);
        if (msg.error) w?.reject(new BusCallError(msg.error.name, msg.error.text));
        else w?.resolve(msg.body);
      }
    });
  });
  const uniqueName = await ready;
  child.on('exit', () => {
    for (const w of waiting.values()) w.reject(new BusCallError('peer-exited', 'the bus peer process exited'));
    waiting.clear();
  });
  return {
    uniqueName,
    pid: child.pid!,
    call(spec) {
      const id = nextId++;
      const m = withDefaults(spec);
      const p = new Promise<any[]>((resolve, reject) => waiting.set(id, { resolve, reject }));
      child.stdin!.write(`${JSON.stringify(encode({ id, op: 'call', ...m }))}\n`);
      return timeout(p, spec.timeoutMs ?? 30_000, m.member);
    },
    onSignal(listener) {
      listeners.push(listener);
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function encode(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { $b: value.toString('base64') };
  if (typeof value === 'bigint') return { $n: value.toString() };
  if (value instanceof dbus.Variant) return { $v: [value.signature, encode(value.value)] };
  if (Array.isArray(value)) return value.map(encode);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v)]));
  return value;
}

function decode(value: any): any {
  if (Array.isArray(value)) return value.map(decode);
  if (value && typeof value === 'object') {
    if ('$b' in value) return Buffer.from(value.$b, 'base64');
    if ('$n' in value) return BigInt(value.$n);
    if ('$v' in value) return new dbus.Variant(value.$v[0], decode(value.$v[1]));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
  }
  return value;
}
