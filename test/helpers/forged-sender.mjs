// The child half of fork-exec-forger.py: speaks D-Bus on a socket another process opened, and
// makes one call. dbus-next only connects by address, so a local relay hands it the inherited
// socket; the bus still sees the connection as the forger's (SO_PEERCRED of the socket itself).
// Prints JSON lines: {"event":"hello","name":..} then {"body":[..]} or {"error":{"name","text"}}.
import { closeSync, mkdtempSync, readSync, rmSync, writeSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dbus from 'dbus-next';

const [busFd, helloFd, execFd, mode, callJson] = process.argv.slice(2);
const call = JSON.parse(callJson);
const write = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

/** Blocks until the parent's exec closed the other end of the pipe. */
function waitForExec() {
  const buf = Buffer.alloc(1);
  while (readSync(Number(execFd), buf) > 0);
  closeSync(Number(execFd));
}

if (mode === 'exec-first') waitForExec();
const relayDir = mkdtempSync(join(tmpdir(), 'sd-forged-'));
const relayPath = join(relayDir, 'relay');
process.on('exit', () => rmSync(relayDir, { recursive: true, force: true }));
const inherited = new Socket({ fd: Number(busFd), readable: true, writable: true });
const relay = createServer((local) => {
  local.pipe(inherited);
  inherited.pipe(local);
}).listen(relayPath);
await new Promise((resolve) => relay.once('listening', resolve));

const bus = dbus.sessionBus({ busAddress: `unix:path=${relayPath}` });
bus.on('error', (err) => {
  write({ event: 'error', text: String(err?.message ?? err) });
  process.exit(3);
});
await new Promise((resolve) => bus.once('connect', resolve));
write({ event: 'hello', name: bus.name });
// hello-first: one answered request first (GetSecrets with no ids), so the daemon has certainly
// read the opener while it still ran python3 before the parent exec's.
if (mode === 'hello-first') {
  await bus.call(new dbus.Message({ ...call, body: [[], {}] }));
}
if (mode !== 'exec-first') writeSync(Number(helloFd), 'h');
closeSync(Number(helloFd));
if (mode === 'hello-first') waitForExec();

/** bus-peer.mjs's JSON encoding of D-Bus values: Buffer {"$b":base64}, Variant {"$v":[signature,value]}. */
function decode(v) {
  if (Array.isArray(v)) return v.map(decode);
  if (v && typeof v === 'object') {
    if ('$b' in v) return Buffer.from(v.$b, 'base64');
    if ('$v' in v) return new dbus.Variant(v.$v[0], decode(v.$v[1]));
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
  }
  return v;
}
const encode = (v) => (Buffer.isBuffer(v) ? { $b: v.toString('base64') } : Array.isArray(v) ? v.map(encode) : v);
try {
  const reply = await bus.call(new dbus.Message({ ...call, body: decode(call.body ?? []) }));
  write({ body: encode(reply?.body ?? []) });
} catch (err) {
  write({ error: { name: err?.type ?? 'local', text: err?.text ?? String(err?.message ?? err) } });
}
bus.disconnect();
process.exit(0);
