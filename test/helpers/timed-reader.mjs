// A remembered read timed in its own process, so the test process's own work (sending a flood)
// does not land in the figures. argv: bus address, item id. stdin lines:
//   "run N"   N sequential GetSecrets, then prints {"ms":[...]} and waits for the next line
//   "loop"    GetSecrets back to back (5 ms apart) until "stop", then prints {"ms":[...],"errors":[...]}
// Plain JS: it runs with `node` without the TypeScript build.
import dbus from 'dbus-next';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';

const [address, itemId] = process.argv.slice(2);
const bus = dbus.sessionBus({ busAddress: address });
const call = () => bus.call(new dbus.Message({
  destination: 'net.mowaka.SecretsDispatcher1', path: '/net/mowaka/SecretsDispatcher1', interface: 'net.mowaka.SecretsDispatcher1',
  member: 'GetSecrets', signature: 'asa{sv}', body: [[itemId], {}],
}));
async function timed(ms, errors) {
  const t0 = performance.now();
  try {
    const reply = await call();
    if (!reply?.body?.[0]?.length) throw new Error('no secret in the reply');
    ms.push(performance.now() - t0);
  } catch (err) {
    errors.push(String(err?.type ?? err?.message ?? err));
  }
}
let looping = false;
let loopDone = Promise.resolve({ ms: [], errors: [] });
bus.on('connect', () => process.stdout.write(`${JSON.stringify({ ready: true })}\n`));
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.trim().split(' ');
  if (cmd === 'run') {
    const ms = [];
    const errors = [];
    for (let i = 0; i < Number(arg); i++) await timed(ms, errors);
    process.stdout.write(`${JSON.stringify({ ms, errors })}\n`);
  } else if (cmd === 'loop') {
    looping = true;
    loopDone = (async () => {
      const ms = [];
      const errors = [];
      while (looping) {
        await timed(ms, errors);
        await new Promise((r) => setTimeout(r, 5));
      }
      return { ms, errors };
    })();
  } else if (cmd === 'stop') {
    looping = false;
    process.stdout.write(`${JSON.stringify(await loopDone)}\n`);
  } else if (cmd === 'quit') {
    break;
  }
}
bus.disconnect();
