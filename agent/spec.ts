// The Secret Service interfaces are read from the checked-in XML in agent/introspection/ (not
// compiled into dist/), both when running from dist/ and from the sources under vitest.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseIntrospection, type InterfaceSpec } from '../core/dbus/introspection.js';

function introspectionDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, 'introspection'), join(here, '..', '..', 'agent', 'introspection')]) {
    if (existsSync(join(candidate, 'org.freedesktop.Secret.Service.xml'))) return candidate;
  }
  throw new Error(`introspection XML not found near ${here}`);
}

/** Load `org.freedesktop.Secret.<short>` from its file. */
export function loadSecretInterface(short: 'Service' | 'Collection' | 'Item' | 'Session' | 'Prompt'): InterfaceSpec {
  return loadInterface(`org.freedesktop.Secret.${short}`);
}

export function loadInterface(name: string): InterfaceSpec {
  const spec = parseIntrospection(readFileSync(join(introspectionDir(), `${name}.xml`), 'utf8')).get(name);
  if (!spec) throw new Error(`${name}.xml does not describe ${name}`);
  return spec;
}
