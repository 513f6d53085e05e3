// A private dbus-daemon for tests: Debian's default system-bus policy plus the policy files we
// pass (normally our real rendered policy). Never a mock bus (DESIGN §6).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderPolicy, renderTestBusConfig, renderAllowAllPolicy } from '../../dbus-policy/render.js';

export interface PrivateBus {
  address: string;
  dir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface PrivateBusOptions {
  /** Our real policy rendered for these users (default: the current user as both). */
  users?: { companionUser: string; desktopUser: string };
  /** Replace our policy with one that allows anyone (to prove the daemon's own checks). */
  allowAll?: boolean;
  type?: 'system' | 'session';
}

export async function startPrivateBus(options: PrivateBusOptions = {}): Promise<PrivateBus> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-bus-'));
  chmodSync(dir, 0o755);
  const policyPath = join(dir, 'policy.conf');
  const users = options.users ?? { companionUser: currentUserName(), desktopUser: currentUserName() };
  writeFileSync(policyPath, options.allowAll ? renderAllowAllPolicy() : renderPolicy(users));
  const socketPath = join(dir, 'bus.sock');
  const configPath = join(dir, 'bus.conf');
  const includeFiles = options.type === 'session' ? [] : [policyPath];
  let config = renderTestBusConfig({ socketPath, includeFiles, type: options.type ?? 'system' });
  if (options.type === 'session') {
    // A session bus lets its user own and call anything, like Debian's session.conf.
    config = config.replace('<deny own="*"/>', '<allow own="*"/>').replace('<deny send_type="method_call"/>', '<allow send_type="method_call"/>');
  }
  writeFileSync(configPath, config);
  const child = spawn('dbus-daemon', [`--config-file=${configPath}`, '--nofork', '--nopidfile', '--print-address=1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`dbus-daemon did not start: ${err}`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        clearTimeout(timer);
        resolve(line.trim());
      }
    });
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dbus-daemon exited with ${code}: ${err}`));
    });
  });
  child.removeAllListeners('exit');
  if (existsSync(socketPath)) chmodSync(socketPath, 0o777);
  return {
    address,
    dir,
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function currentUserName(): string {
  return process.env.USER ?? (process.getuid?.() === 0 ? 'root' : 'nobody');
}
