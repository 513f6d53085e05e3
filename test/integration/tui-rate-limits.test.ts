// Rate limits on the real console in a pty, against the real daemon on a private bus: a program
// whose executable path carries escape sequences asks too often, then has its requests denied; the
// line under the title names it inert, says why and until when, and `c` lifts the limit so it is
// asked again.
import { copyFileSync, linkSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAsUser, type BusClient } from '../helpers/bus-client.js';
import { CLI, startDaemonHarness, type DaemonHarness } from '../helpers/daemon-harness.js';
import { spawnPty, type PtyScreen } from '../helpers/pty-screen.js';

const ERR = 'net.mowaka.SecretsDispatcher1.Error.';
/** Clears the screen and sets the terminal's title if it ever reaches the terminal raw. */
const HOSTILE_NAME = 'evil\x1b[2J\x1b]0;owned\x07node';

let h: DaemonHarness;
let tui: PtyScreen;
let exeDir: string;
let hostile: BusClient;
let itemId: string;

const getSecrets = (c: BusClient, ids: string[]) => c.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [ids, {}], timeoutMs: 60_000 });

beforeAll(async () => {
  h = await startDaemonHarness({
    registerConsole: false,
    config: { console: { guardMs: 0 }, rateLimits: { promptsPerMinutePerSubject: 2, cooldownAfterUnanswered: 2, cooldownWindowMinutes: 10, cooldownMinutes: 10 } },
  });
  const desktop = await h.client();
  itemId = (await desktop.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', 'Deploy key', {}, Buffer.from('deploy-secret'), 'text/plain', false, {}] }))[0];
  // The same node binary under a hostile name is another executable to the daemon.
  exeDir = mkdtempSync(join(tmpdir(), 'sd-exe-'));
  const hostileNode = join(exeDir, HOSTILE_NAME);
  try {
    linkSync(process.execPath, hostileNode);
  } catch {
    copyFileSync(process.execPath, hostileNode);
  }
  hostile = await connectAsUser(h.busAddress, undefined, { execPath: hostileNode });
  tui = spawnPty(process.execPath, ['--', CLI, 'tui', '--config', h.configPath], { cols: 120, rows: 40, env: h.env });
  await tui.waitForText('store unlocked | 0 pending', 20_000);
}, 120_000);

afterAll(async () => {
  await hostile?.close();
  await tui?.close();
  await h?.stop();
  if (exeDir) rmSync(exeDir, { recursive: true, force: true });
});

describe('rate limits on the console', () => {
  it('shows who is limited, inert, and why; c lifts it and the program is asked again', async () => {
    const asks = [getSecrets(hostile, [itemId]).catch((e) => e), getSecrets(hostile, [itemId]).catch((e) => e)];
    await tui.waitForText('2 pending');
    const over = await getSecrets(hostile, [itemId]).catch((e) => e);
    expect(over.dbusName).toBe(`${ERR}RateLimited`);
    await tui.waitForText(/c lifts it: .*asks too often: 1 refused until \d\d:\d\d/);
    // The path is shown as text: the escape sequences never reach the terminal.
    expect(tui.text()).toContain('evil\\x1b[2J\\x1b]0;owned\\x07node');
    expect(tui.titles).not.toContain('owned');

    // The human denies both: that is a cooldown, said on the same line.
    for (let i = 0; i < 2; i++) {
      await tui.waitForText(/^> SECRET /m);
      // A decision key does nothing until the focused request's detail has arrived (tui/keys.ts):
      // under load the row can show first, so press again until the count drops.
      for (let tries = 0; ; tries++) {
        tui.send('n');
        try {
          await tui.waitForText(`${1 - i} pending`, 1500);
          break;
        } catch (err) {
          if (tries >= 10) throw err;
        }
      }
    }
    for (const a of asks) expect((await a).dbusName).toBe(`${ERR}Denied`);
    await tui.waitForText(/c lifts it: .*evil.* in cooldown until \d\d:\d\d:\d\d \(too many denied/);
    const refused = await getSecrets(hostile, [itemId]).catch((e) => e);
    expect(refused.dbusName).toBe(`${ERR}RateLimited`);
    expect(refused.message).toContain('is in cooldown until');

    // c lifts it: the line goes, and the program is asked again.
    tui.send('c');
    await tui.waitForText('Rate limit lifted');
    await tui.waitFor((l) => !l.some((x) => x.includes('c lifts it')), 'the rate-limit line to go');
    const again = getSecrets(hostile, [itemId]);
    await tui.waitForText(/^> SECRET /m);
    await tui.waitForText(/^Request +SECRET/m);
    tui.send('y');
    expect(Buffer.from((await again)[0][0][1]).toString()).toBe('deploy-secret');
  }, 120_000);
});
