// Child process for the crash test: unlocks the store and writes items as fast as it can,
// printing "<n> <id>" on stdout only after createItem has returned (the write is acknowledged).
// The parent kills it with SIGKILL at an arbitrary moment. The passphrase comes on stdin.
import { readFileSync, writeSync } from 'node:fs';
import { openSecretStore } from '../../daemon/store/secret-store.js';

const [dbPath, firstArg, countArg] = process.argv.slice(2);
const passphrase = readFileSync(0);
const store = openSecretStore(dbPath!, { argon2MemoryKiB: 1024, argon2Iterations: 1 });
await store.unlock(passphrase);
passphrase.fill(0);
writeSync(1, 'ready\n');
const first = Number(firstArg);
for (let n = first; n < first + Number(countArg); n++) {
  const item = store.createItem({
    collectionId: 'login',
    label: `burst item ${n}`,
    attributes: { burst: String(n), parity: String(n % 2) },
    secret: Buffer.from(`secret of item ${n} `.repeat(1 + (n % 40))),
    contentType: 'text/plain',
  });
  writeSync(1, `${n} ${item.id}\n`);
}
store.close();
writeSync(1, 'done\n');
