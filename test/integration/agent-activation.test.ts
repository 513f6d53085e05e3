// The checked-in D-Bus activation file, rendered as sd-provision would, on a session bus that
// reads it: a Secret Service client's first call starts the agent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBus, disconnectBus, type MessageBus } from '../../core/dbus/bus.js';
import { DBUS_INTERFACE, DBUS_NAME, DBUS_PATH } from '../../core/names.js';
import { renderTestBusConfig } from '../../dbus-policy/render.js';
import { CLI, REPO_ROOT, startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';
import { runClient, startClient } from '../helpers/agent-harness.js';

let h: DaemonHarness;
let dir: string;
let bus: ChildProcess;
let address: string;
let watcher: MessageBus;

beforeAll(async () => {
  h = await startDaemonHarness();
  dir = mkdtempSync(join(tmpdir(), 'sd-activation-'));
  chmodSync(dir, 0o755);
  const services = join(dir, 'services');
  mkdirSync(services);
  const template = readFileSync(join(REPO_ROOT, 'systemd', 'org.freedesktop.secrets.service'), 'utf8');
  writeFileSync(join(services, 'org.freedesktop.secrets.service'), template.replaceAll('@NODE@', process.execPath).replaceAll('@SECRETS_DISPATCHER@', CLI));
  const config = renderTestBusConfig({ socketPath: join(dir, 'bus.sock'), includeFiles: [], type: 'session' })
    .replace('<deny own="*"/>', '<allow own="*"/>').replace('<deny send_type="method_call"/>', '<allow send_type="method_call"/>')
    .replace('</busconfig>', `  <servicedir>${services}</servicedir>\n</busconfig>`);
  writeFileSync(join(dir, 'bus.conf'), config);
  // The bus passes its own environment to what it activates: that is how the agent finds the daemon.
  bus = spawn('dbus-daemon', [`--config-file=${join(dir, 'bus.conf')}`, '--nofork', '--nopidfile', '--print-address=1'], { env: h.env, stdio: ['ignore', 'pipe', 'ignore'] });
  address = await new Promise<string>((resolve) => {
    let out = '';
    bus.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!.trim());
    });
  });
  watcher = await connectBus('session', address);
});

afterAll(async () => {
  if (watcher) {
    // Stop the activated agent by its PID (asked of the bus), then the bus.
    try {
      const [owner] = await watcher.call(new (await import('dbus-next')).default.Message({ destination: DBUS_NAME, path: DBUS_PATH, interface: DBUS_INTERFACE, member: 'GetConnectionUnixProcessID', signature: 's', body: ['org.freedesktop.secrets'] })).then((r) => r?.body ?? []);
      if (typeof owner === 'number') process.kill(owner, 'SIGTERM');
    } catch {
      // not activated
    }
    disconnectBus(watcher);
  }
  if (bus && bus.exitCode === null) {
    bus.kill('SIGTERM');
    await new Promise((r) => bus.once('exit', r));
  }
  rmSync(dir, { recursive: true, force: true });
  await h?.stop();
});

describe('D-Bus activation', () => {
  it('the first secret-tool call starts the agent, which then serves the lookup', async () => {
    const env = { ...h.env, DBUS_SESSION_BUS_ADDRESS: address };
    const stored = await runClient('secret-tool', ['store', '--label=activated', 'via', 'activation'], env, 'woke-up');
    expect(stored.stderr).toBe('');
    expect(stored.code).toBe(0);
    const lookup = startClient('secret-tool', ['lookup', 'via', 'activation'], env);
    const req = await h.console.waitForPending(() => true, 20_000);
    await h.console.decide(req.id, 'once');
    expect((await lookup.done).stdout.toString()).toBe('woke-up');
  });
});
