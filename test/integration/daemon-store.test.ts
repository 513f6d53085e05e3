// The store's passphrase life cycle through the daemon's console interface: change, reset with the
// recovery code, refusals that change nothing, and what the request interface sees meanwhile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusClient } from '../helpers/bus-client.js';
import { startDaemonHarness, TEST_PASSPHRASE, type DaemonHarness } from '../helpers/daemon-harness.js';

const ERR = 'net.mowaka.SecretsDispatcher1.Error.';
let h: DaemonHarness;
let desktop: BusClient;
let itemId: string;

async function readSecret(id: string): Promise<string> {
  const reading = desktop.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [[id], {}] });
  await h.console.decide((await h.console.waitForPending()).id, 'once');
  return Buffer.from((await reading)[0][0][1]).toString();
}

beforeAll(async () => {
  h = await startDaemonHarness();
  desktop = await h.client();
  [itemId] = await desktop.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', 'kept', { k: 'v' }, Buffer.from('kept-secret'), '', false, {}] });
});
afterAll(async () => {
  await h?.stop();
});

describe('store through the daemon', () => {
  it('Status tells clients the store state with the documented keys and types', async () => {
    const [status] = await desktop.call({ member: 'Status' });
    const types = Object.fromEntries(Object.entries(status).map(([k, v]) => [k, (v as { signature: string }).signature]));
    expect(types).toEqual({ Initialized: 'b', Locked: 'b', Pending: 'u', ConsoleConnected: 'b', Version: 's', RequestTimeoutSeconds: 'u', ThrottledRefused: 'u', ThrottledSince: 't', ThrottledUid: 'i' });
    expect(await h.console.status()).toMatchObject({ initialized: true, locked: false, consoleConnected: true, pending: 0 });
  });

  it('a second CreateStore is refused and changes nothing', async () => {
    await expect(h.console.createStore('another')).rejects.toMatchObject({ dbusName: `${ERR}StoreAlreadyInitialized` });
    expect(await readSecret(itemId)).toBe('kept-secret');
  });

  it('ChangePassphrase needs the old passphrase; afterwards only the new one unlocks', async () => {
    await expect(h.console.changePassphrase('wrong', 'new one')).rejects.toMatchObject({ dbusName: `${ERR}WrongPassphrase` });
    await new Promise((r) => setTimeout(r, 1500));
    await h.console.changePassphrase(TEST_PASSPHRASE, 'new one');
    await h.console.lock();
    await new Promise((r) => setTimeout(r, 1500));
    await expect(h.console.unlock(TEST_PASSPHRASE)).rejects.toMatchObject({ dbusName: `${ERR}WrongPassphrase` });
    await new Promise((r) => setTimeout(r, 2500));
    await h.console.unlock('new one');
    expect(await readSecret(itemId)).toBe('kept-secret');
  });

  it('the recovery code resets a forgotten passphrase once, and a wrong code changes nothing', async () => {
    expect(h.recoveryCode).toBeTruthy();
    await h.console.lock();
    await expect(h.console.resetPassphrase('not-a-recovery-code', 'x')).rejects.toMatchObject({ dbusName: expect.stringMatching(/WrongRecoveryCode|InvalidArgs/) });
    await new Promise((r) => setTimeout(r, 1500));
    const fresh = await h.console.resetPassphrase(h.recoveryCode!, 'after reset');
    expect(fresh).toBeTruthy();
    expect(fresh).not.toBe(h.recoveryCode);
    await h.console.lock();
    await h.console.unlock('after reset');
    expect(await readSecret(itemId)).toBe('kept-secret');
    await h.console.lock();
    await new Promise((r) => setTimeout(r, 1000));
    await expect(h.console.resetPassphrase(h.recoveryCode!, 'again')).rejects.toMatchObject({ dbusName: `${ERR}WrongRecoveryCode` });
    const history = await h.console.history(50);
    expect(history.filter((r) => r.kind === 'store').map((r) => `${r.target}:${r.outcome}`)).toEqual(expect.arrayContaining([
      'change passphrase:done', 'reset passphrase with recovery code:done', 'reset passphrase with recovery code:failed', 'unlock:failed',
    ]));
  });
});
