// Three distinct UIDs on a private system bus: the companion (runs the daemon and console), the
// desktop user (may use the request interface), and another user (may use nothing). First with our
// real rendered policy, then with an allow-all policy to prove the daemon checks UIDs itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DBUS_INTERFACE, DBUS_NAME, DBUS_PATH, DISPATCHER_BUS_NAME, CONSOLE_INTERFACE } from '../../core/names.js';
import { connectInProcess } from '../helpers/bus-client.js';
import { startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';
import { createThrowawayUser, isRoot, type ThrowawayUser } from '../helpers/root.js';

const ERR = 'net.mowaka.SecretsDispatcher1.Error.';
const ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied';

describe.skipIf(!isRoot)('caller UIDs (needs root to create users; skipped otherwise)', () => {
  let companion: ThrowawayUser;
  let desktop: ThrowawayUser;
  let other: ThrowawayUser;

  beforeAll(() => {
    companion = createThrowawayUser('sdc');
    desktop = createThrowawayUser('sdd');
    other = createThrowawayUser('sdo');
  });
  afterAll(() => {
    for (const u of [companion, desktop, other]) u?.remove();
  });

  describe('with the real policy', () => {
    let h: DaemonHarness;
    beforeAll(async () => {
      h = await startDaemonHarness({ companion, desktop });
    });
    afterAll(async () => {
      await h?.stop();
    });

    it('the companion owns the name', async () => {
      const me = await connectInProcess(h.busAddress);
      try {
        const [owner] = await me.call({ destination: DBUS_NAME, path: DBUS_PATH, interface: DBUS_INTERFACE, member: 'GetNameOwner', signature: 's', body: [DISPATCHER_BUS_NAME] });
        const [uid] = await me.call({ destination: DBUS_NAME, path: DBUS_PATH, interface: DBUS_INTERFACE, member: 'GetConnectionUnixUser', signature: 's', body: [owner] });
        expect(uid).toBe(companion.uid);
      } finally {
        await me.close();
      }
    });

    it('the desktop user can call the request interface', async () => {
      const c = await h.client(desktop);
      expect(await c.call({ member: 'Ping' })).toEqual(['pong']);
      const [id] = await c.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', 'x', { a: 'b' }, Buffer.from('v'), '', false, {}] });
      expect(await c.call({ member: 'SearchItems', signature: 'sa{ss}', body: ['', { a: 'b' }] })).toEqual([[id]]);
      const reading = c.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [[id], {}] });
      const pending = await h.console.waitForPending();
      expect(pending.requester.uid).toBe(desktop.uid);
      expect(pending.requester.userName).toBe(desktop.name);
      await h.console.decide(pending.id, 'once');
      expect(Buffer.from((await reading)[0][0][1]).toString()).toBe('v');
    });

    it('another UID is refused by the bus', async () => {
      const c = await h.client(other);
      await expect(c.call({ member: 'Ping' })).rejects.toMatchObject({ dbusName: ACCESS_DENIED });
      await expect(c.call({ member: 'ListPending', interface: CONSOLE_INTERFACE })).rejects.toMatchObject({ dbusName: ACCESS_DENIED });
    });

    it('the desktop user cannot call the console interface', async () => {
      const c = await h.client(desktop);
      await expect(c.call({ member: 'ListPending', interface: CONSOLE_INTERFACE })).rejects.toMatchObject({ dbusName: ACCESS_DENIED });
      await expect(c.call({ member: 'Decide', interface: CONSOLE_INTERFACE, signature: 'ssu', body: ['r1', 'once', 0] })).rejects.toMatchObject({ dbusName: ACCESS_DENIED });
    });
  });

  describe('with an allow-all policy in place of ours', () => {
    let h: DaemonHarness;
    beforeAll(async () => {
      h = await startDaemonHarness({ companion, desktop, allowAllPolicy: true });
    });
    afterAll(async () => {
      await h?.stop();
    });

    it('another UID is still refused, by the daemon', async () => {
      const c = await h.client(other);
      await expect(c.call({ member: 'Ping' })).rejects.toMatchObject({ dbusName: `${ERR}NotAuthorized` });
      await expect(c.call({ member: 'SearchItems', signature: 'sa{ss}', body: ['', {}] })).rejects.toMatchObject({ dbusName: `${ERR}NotAuthorized` });
      await expect(c.call({ member: 'ListPending', interface: CONSOLE_INTERFACE })).rejects.toMatchObject({ dbusName: `${ERR}NotAuthorized` });
    });

    it('the desktop user is refused on the console interface, by the daemon, and still served on the request interface', async () => {
      const c = await h.client(desktop);
      await expect(c.call({ member: 'ListPending', interface: CONSOLE_INTERFACE })).rejects.toMatchObject({ dbusName: `${ERR}NotAuthorized` });
      await expect(c.call({ member: 'RegisterConsole', interface: CONSOLE_INTERFACE })).rejects.toMatchObject({ dbusName: `${ERR}NotAuthorized` });
      await expect(c.call({ member: 'Unlock', interface: CONSOLE_INTERFACE, signature: 'ay', body: [Buffer.from('x')] })).rejects.toMatchObject({ dbusName: `${ERR}NotAuthorized` });
      expect(await c.call({ member: 'Ping' })).toEqual(['pong']);
    });
  });
});
