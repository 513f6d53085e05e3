// The object server learns each caller's UID and PID from the bus (GetConnectionCredentials). A new
// connection's are asked for as soon as it says Hello, so its first call does not wait for them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { connectBus, disconnectBus, requestName, watchConnections, type Message, type MessageBus } from '../../core/dbus/bus.js';
import { ObjectServer } from '../../core/dbus/service.js';
import { parseIntrospection } from '../../core/dbus/introspection.js';
import { createLogger } from '../../core/logger.js';
import { DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH, REQUEST_INTERFACE } from '../../core/names.js';
import { connectInProcess } from '../helpers/bus-client.js';
import { eventually } from '../helpers/gpg-flow.js';
import { startPrivateBus, type PrivateBus } from '../helpers/private-bus.js';

describe('peer credentials', () => {
  let bus: PrivateBus;
  let service: MessageBus;
  let server: ObjectServer;
  /** The unique names the service asked the bus about, in order. */
  const asked: string[] = [];

  beforeAll(async () => {
    bus = await startPrivateBus();
    service = await connectBus('session', bus.address);
    const call = service.call.bind(service);
    service.call = (msg: Message) => {
      if (msg.member === 'GetConnectionCredentials') asked.push(String(msg.body[0]));
      return call(msg);
    };
    server = new ObjectServer(service, { logger: createLogger({ level: 'error' }) });
    const spec = parseIntrospection(readFileSync('daemon/introspection/net.mowaka.SecretsDispatcher1.xml', 'utf8')).get(REQUEST_INTERFACE)!;
    server.export(DISPATCHER_OBJECT_PATH, [{
      spec,
      methods: { Lock: async (_args, ctx) => void (await ctx.credentials()) },
    }]);
    await watchConnections(service, { arrived: (name) => server.prefetchPeer(name), gone: (name) => server.forgetPeer(name) });
    await requestName(service, DISPATCHER_BUS_NAME, 4);
  });

  afterAll(async () => {
    server?.close();
    if (service) disconnectBus(service);
    await bus?.stop();
  });

  it('are asked for when a connection arrives, once, before its first call', async () => {
    const client = await connectInProcess(bus.address);
    try {
      await eventually('the credentials asked for', () => asked.includes(client.uniqueName));
      await client.call({ member: 'Lock' });
      await client.call({ member: 'Lock' });
      expect(asked.filter((n) => n === client.uniqueName)).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  it('are held only while the connection lasts, however many come and go', async () => {
    const before = server.knownPeers;
    const names: string[] = [];
    for (let i = 0; i < 20; i++) {
      const brief = await connectInProcess(bus.address);
      names.push(brief.uniqueName);
      // Half leave at once, before the bus can answer for them; half make a call first.
      if (i % 2) await brief.call({ member: 'Lock' });
      await brief.close();
    }
    await eventually('every newcomer asked for', () => names.every((n) => asked.includes(n)));
    await eventually('the departed forgotten', () => server.knownPeers === before);
    expect(server.knownPeers).toBe(before);
  });
});
