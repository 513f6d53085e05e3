#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node
/* global require, __dirname */
// git's gpg.program (see `sd-gpg --help`); bin/sd-gpg links here. CommonJS on purpose, like the
// client it loads (dist/gpg-client/*.cjs): Node starts an ES module graph measurably slower, and
// this start-up is paid on every signed commit. NODE_EXTRA_CA_CERTS is dropped because sd-gpg never
// speaks TLS and Node reads that file at every start (~45 ms here).
'use strict';
const entry = `${__dirname}/../dist/gpg-client/main.cjs`;
let mod;
try {
  // A plain require: this file is CommonJS precisely to avoid the ES module loader.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  mod = require(entry);
} catch (err) {
  process.stderr.write(`sd-gpg: ${entry} is not loadable; run \`npm run build\` (${err.message})\n`);
  process.exit(2);
}
mod.main(process.argv.slice(2), [process.argv[1]]).then((code) => process.exit(code));
