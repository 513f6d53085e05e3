// sd-gpg's own D-Bus client against a real dbus-daemon with our real policy, talking to a service
// built on dbus-next (core/dbus/service.ts) from the checked-in XML: both ends must agree on bytes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBus, disconnectBus, requestName, Variant, type MessageBus } from '../../core/dbus/bus.js';
import { ObjectServer } from '../../core/dbus/service.js';
import { parseIntrospection } from '../../core/dbus/introspection.js';
import { createLogger } from '../../core/logger.js';
import { DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH, REQUEST_INTERFACE } from '../../core/names.js';
import { SdError } from '../../core/errors.js';
import { LeanBus, LeanBusError, LeanBusUnavailable } from '../../gpg-client/lean-bus.cjs';
import { startPrivateBus, type PrivateBus } from '../helpers/private-bus.js';

const target = { destination: DISPATCHER_BUS_NAME, path: DISPATCHER_OBJECT_PATH, interface: REQUEST_INTERFACE };

describe('lean D-Bus client', () => {
  let bus: PrivateBus;
  let service: MessageBus;
  let server: ObjectServer;
  const seen: unknown[][] = [];
  const pending = new Map<string, () => void>();

  beforeAll(async () => {
    bus = await startPrivateBus();
    service = await connectBus('session', bus.address); // 'session' takes an explicit address
    server = new ObjectServer(service, { logger: createLogger({ level: 'error' }) });
    const spec = parseIntrospection(readFileSync('daemon/introspection/net.mowaka.SecretsDispatcher1.xml', 'utf8')).get(REQUEST_INTERFACE)!;
    server.export(DISPATCHER_OBJECT_PATH, [{
      spec,
      methods: {
        Status: () => ({ RequestTimeoutSeconds: new Variant('u', 42), Locked: new Variant('b', false), Version: new Variant('s', 'x') }),
        Sign: async (args, ctx) => {
          seen.push(args);
          const [payload, key] = args as [Buffer, string];
          if (key === 'deny') throw new SdError('Denied', 'by test');
          if (key === 'wait') await new Promise<void>((resolve) => pending.set(ctx.sender, resolve));
          return [`sig:${payload.toString('hex')}`, {
            Fingerprint: new Variant('s', 'ABCDEF'), PubkeyAlgorithm: new Variant('u', 22), HashAlgorithm: new Variant('u', 10), Created: new Variant('t', 1700000000n),
          }];
        },
      },
    }]);
    await requestName(service, DISPATCHER_BUS_NAME, 4);
  });

  afterAll(async () => {
    server?.close();
    if (service) disconnectBus(service);
    await bus?.stop();
  });

  it('sign_round_trip_with_bytes_strings_and_variants', async () => {
    const client = await LeanBus.connect(bus.address);
    try {
      const [status] = await client.call({ ...target, member: 'Status' });
      expect(status).toEqual({ RequestTimeoutSeconds: 42, Locked: false, Version: 'x' });
      const payload = Buffer.from([0, 1, 2, 0xff, 0x1b, 0x5b]);
      const [sig, info] = await client.call({
        ...target, member: 'Sign', signature: 'aysa{sv}',
        body: [payload, 'ABC <a@b>', { repository: { sig: 's', value: '/tmp/r\x1b[2J' }, files: { sig: 's', value: 'ü'.repeat(3) } }],
      });
      expect(sig).toBe('sig:000102ff1b5b');
      expect(info).toEqual({ Fingerprint: 'ABCDEF', PubkeyAlgorithm: 22, HashAlgorithm: 10, Created: 1700000000n });
      const args = seen.at(-1)!;
      expect(Buffer.from(args[0] as Buffer)).toEqual(payload);
      expect(args[1]).toBe('ABC <a@b>');
      const context = args[2] as Record<string, InstanceType<typeof Variant>>;
      expect(context.repository!.value).toBe('/tmp/r\x1b[2J');
      expect(context.files!.value).toBe('üüü');
    } finally {
      client.close();
    }
  });

  it('large_payload_crosses_intact', async () => {
    const client = await LeanBus.connect(bus.address);
    try {
      const payload = Buffer.alloc(1024 * 1024 + 7, 0x61);
      const [sig] = await client.call({ ...target, member: 'Sign', signature: 'aysa{sv}', body: [payload, '', {}] });
      expect((sig as string).length).toBe(4 + payload.length * 2);
    } finally {
      client.close();
    }
  });

  it('error_replies_keep_their_name_and_text', async () => {
    const client = await LeanBus.connect(bus.address);
    try {
      const err = await client.call({ ...target, member: 'Sign', signature: 'aysa{sv}', body: [Buffer.from('x'), 'deny', {}] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LeanBusError);
      expect((err as LeanBusError).errorName).toBe('net.mowaka.SecretsDispatcher1.Error.Denied');
      expect((err as LeanBusError).message).toMatch(/denied.*by test/i);
      const unknown = await client.call({ destination: 'net.example.Nobody', path: '/', interface: 'x.y', member: 'Z' }).catch((e: unknown) => e);
      expect((unknown as LeanBusError).errorName).toBe('org.freedesktop.DBus.Error.ServiceUnknown');
    } finally {
      client.close();
    }
  });

  it('closing_the_connection_is_seen_by_the_service_as_the_name_going_away', async () => {
    const client = await LeanBus.connect(bus.address);
    const call = client.call({ ...target, member: 'Sign', signature: 'aysa{sv}', body: [Buffer.from('x'), 'wait', {}] }).catch((e: unknown) => e);
    await vi_waitFor(() => pending.size === 1);
    const [sender] = [...pending.keys()];
    const gone = new Promise<void>((resolve) => {
      service.on('message', (msg) => {
        if (msg.member === 'NameOwnerChanged' && msg.body?.[0] === sender && msg.body?.[2] === '') resolve();
      });
    });
    await service.call(new (await import('../../core/dbus/bus.js')).Message({
      destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch', signature: 's',
      body: [`type='signal',member='NameOwnerChanged',arg0='${sender}'`],
    }));
    client.close();
    await gone;
    expect(await call).toBeInstanceOf(LeanBusUnavailable);
    pending.get(sender!)?.();
  });

  it('a_bus_that_refuses_authentication_fails_the_first_call_with_its_answer', async () => {
    // AUTH, BEGIN and the first calls go out together; a refusal must still surface, not hang.
    const dir = mkdtempSync(join(tmpdir(), 'sd-lean-'));
    const received: Buffer[] = [];
    const refusing = createServer((sock) => {
      sock.on('data', (d: Buffer) => {
        received.push(d);
        if (Buffer.concat(received).includes('\r\n')) sock.end('REJECTED EXTERNAL\r\n');
      });
    });
    await new Promise<void>((r) => refusing.listen(join(dir, 'bus.sock'), r));
    try {
      const client = await LeanBus.connect(`unix:path=${join(dir, 'bus.sock')}`);
      const err = await client.call({ ...target, member: 'Ping' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LeanBusUnavailable);
      expect((err as Error).message).toContain('the bus refused authentication: REJECTED EXTERNAL');
      expect(Buffer.concat(received).toString('latin1')).toMatch(/^\0AUTH EXTERNAL [0-9a-f]+\r\nBEGIN\r\n/);
    } finally {
      refusing.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('unreachable_bus_is_reported_as_unavailable', async () => {
    const err = await LeanBus.connect('unix:path=/nonexistent/bus.sock').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LeanBusUnavailable);
  });
});

async function vi_waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 20));
  }
}
