// The checked-in introspection XML is read at start from daemon/introspection/ (it is not
// compiled into dist/), both when running from dist/ and from the sources under vitest.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseIntrospection, type InterfaceSpec } from '../core/dbus/introspection.js';

function introspectionDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, 'introspection'), join(here, '..', '..', 'daemon', 'introspection')]) {
    if (existsSync(join(candidate, 'net.mowaka.SecretsDispatcher1.xml'))) return candidate;
  }
  throw new Error(`introspection XML not found near ${here}`);
}

export function loadInterfaceSpec(file: string, name: string): InterfaceSpec {
  const spec = parseIntrospection(readFileSync(join(introspectionDir(), file), 'utf8')).get(name);
  if (!spec) throw new Error(`${file} does not describe ${name}`);
  return spec;
}
