// The console unit's promise after a crash, without systemd: a holder of the VT in VT_PROCESS mode
// is killed with SIGKILL, the mode stays stale (the kernel resets it only at the next switch), and
// the unit's own ExecStopPost= line, taken from the rendered unit and run as systemd would (`+`:
// as root), puts the VT back in VT_AUTO. Uses a VT no other test uses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { isRoot } from '../helpers/root.js';
import { findPackageRoot, renderSystemFiles, type Inputs } from '../../provision/render.js';
import { PATHS } from '../../provision/layout.js';
import { getMode, setMode, VT_AUTO, VT_PROCESS } from '../../tui/vt.js';

const VT = 14;
const device = `/dev/tty${VT}`;
const packageRoot = findPackageRoot();

describe.skipIf(!isRoot || !existsSync(device))(`console unit: ExecStopPost resets ${device} after kill -9 (root)`, () => {
  let holder: ChildProcess | undefined;
  beforeAll(() => {
    if (!existsSync(join(packageRoot, 'dist/tui/main.js'))) execFileSync('npm', ['run', 'build', '--silent'], { cwd: packageRoot, stdio: 'ignore' });
  });
  afterAll(() => {
    if (holder && holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
    const fd = openSync(device, 'r+');
    try { setMode(fd, VT_AUTO); } finally { closeSync(fd); }
  });

  it('the rendered ExecStopPost= line brings back VT_AUTO', async () => {
    const inputs = { desktopUser: 'alice', desktopUid: 1000, desktopHome: '/home/alice', companionUser: 'secrets-alice', stateDir: '/var/lib/secrets-dispatcher/secrets-alice', vt: VT, packageRoot, node: process.execPath, git: false, apparmor: false, systemctl: '/usr/bin/systemctl' } satisfies Inputs;
    const unit = renderSystemFiles(inputs, null).find((f) => f.path === `${PATHS.systemUnitDir}/secrets-dispatcher-console@.service`)!.content;
    const line = /^ExecStopPost=\+(.*)$/m.exec(unit)![1]!.replaceAll('%I', String(VT));

    // A console holding the VT the way tui/ does, then killed without a chance to restore it.
    const script = `import { openSync } from 'node:fs';
import { setMode, VT_PROCESS } from ${JSON.stringify(join(packageRoot, 'dist/tui/vt.js'))};
const fd = openSync(${JSON.stringify(device)}, 'r+');
setMode(fd, VT_PROCESS, 12, 30);
process.stdout.write('held\\n');
setInterval(() => {}, 1000);`;
    holder = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      holder!.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('held')) resolve(); });
      holder!.once('exit', (code) => reject(new Error(`holder exited ${code}`)));
    });
    holder.kill('SIGKILL');
    await new Promise((r) => holder!.once('exit', r));

    const fd = openSync(device, 'r+');
    try {
      expect(getMode(fd).mode).toBe(VT_PROCESS);
      const [file, ...args] = line.split(' ');
      execFileSync(file!, args, { stdio: 'pipe', timeout: 30_000 });
      expect(getMode(fd).mode).toBe(VT_AUTO);
    } finally {
      closeSync(fd);
    }
  });
});
