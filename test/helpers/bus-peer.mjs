// A D-Bus client in its own process, driven by JSON lines on stdin, so tests can call the bus as
// another UID (spawned with uid/gid) — the bus learns a caller's UID from the socket, so this is
// the only honest way. Plain JS: it runs with `node` without the TypeScript build.
// Requests:  {"id":1,"op":"call","destination":..,"path":..,"interface":..,"member":..,"signature":..,"body":[..]}
// Replies:   {"id":1,"body":[..]} | {"id":1,"error":{"name":..,"text":..}}
// Events:    {"event":"signal","path":..,"interface":..,"member":..,"body":[..]} and {"event":"ready","name":..}
// Values:    Buffer {"$b":base64}, bigint {"$n":"123"}, Variant {"$v":[signature,value]}.
import dbus from 'dbus-next';
import { createInterface } from 'node:readline';

const { Message, Variant, MessageType } = dbus;

function encode(value) {
  if (Buffer.isBuffer(value)) return { $b: value.toString('base64') };
  if (typeof value === 'bigint') return { $n: value.toString() };
  if (value instanceof Variant) return { $v: [value.signature, encode(value.value)] };
  if (Array.isArray(value)) return value.map(encode);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v)]));
  return value;
}

function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value && typeof value === 'object') {
    if ('$b' in value) return Buffer.from(value.$b, 'base64');
    if ('$n' in value) return BigInt(value.$n);
    if ('$v' in value) return new Variant(value.$v[0], decode(value.$v[1]));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
  }
  return value;
}

const write = (obj) => process.stdout.write(`${JSON.stringify(encode(obj))}\n`);
const bus = dbus.sessionBus({ busAddress: process.argv[2] });
bus.on('error', (err) => {
  write({ event: 'error', text: String(err?.message ?? err) });
  process.exit(3);
});
bus.on('connect', () => write({ event: 'ready', name: bus.name }));
bus.on('message', (msg) => {
  if (msg.type === MessageType.SIGNAL && msg.sender !== 'org.freedesktop.DBus') {
    write({ event: 'signal', path: msg.path, interface: msg.interface, member: msg.member, body: msg.body });
  }
});

createInterface({ input: process.stdin }).on('line', async (line) => {
  const req = JSON.parse(line);
  if (req.op === 'exit') {
    bus.disconnect();
    process.exit(0);
  }
  try {
    const reply = await bus.call(new Message({
      destination: req.destination, path: req.path, interface: req.interface, member: req.member,
      signature: req.signature ?? '', body: decode(req.body ?? []),
    }));
    write({ id: req.id, body: reply?.body ?? [] });
  } catch (err) {
    write({ id: req.id, error: { name: err?.type ?? 'local', text: err?.text ?? String(err?.message ?? err) } });
  }
}).on('close', () => process.exit(0));
