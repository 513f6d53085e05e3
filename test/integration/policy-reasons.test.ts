// Reasons (issue #12, item 4): a requester's own words on why it asks travel from the CLI through
// the agent to the daemon, appear on the real console in a pty as the requester's unchecked words,
// inert, and are kept in the audit log that `history` prints. Hostile values: escape sequences and
// a fake "approved" line (shown as text), an over-long reason (refused, nothing queued).
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callMethod, Variant } from '../../core/dbus/bus.js';
import { SECRET_SERVICE_BUS_NAME, SECRET_SERVICE_PATH } from '../../core/names.js';
import { REASON_INTERFACE } from '../../core/reason.js';
import type { HistoryEntry } from '../../core/wire.js';
import { runClient, startAgentHarness, startClient, type AgentHarness } from '../helpers/agent-harness.js';
import { CLI } from '../helpers/daemon-harness.js';
import { spawnPty, type PtyScreen } from '../helpers/pty-screen.js';

const ERR = 'net.mowaka.SecretsDispatcher1.Error.';
const GUARD_WAIT_MS = 350;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let h: AgentHarness;
let tui: PtyScreen;

const cli = (args: string[], input?: string) => runClient(process.execPath, [CLI, ...args], h.env, input);
const history = (args: string[]) => spawnSync(process.execPath, ['--', CLI, 'history', '--state-dir', h.daemon.stateDir, ...args], { encoding: 'utf8', timeout: 20_000 });

beforeAll(async () => {
  h = await startAgentHarness({ registerConsole: false, config: { requestTimeoutSeconds: 60 } });
  tui = spawnPty(process.execPath, ['--', CLI, 'tui'], { cols: 120, rows: 40, env: h.daemon.env });
  await tui.waitForText('store unlocked | 0 pending', 20_000);
  const set = await cli(['set', '--label', 'Deploy key', 'service=deploy'], 'tok-1');
  expect(set.stderr).toBe('');
});

afterAll(async () => {
  await tui?.close();
  await h?.stop();
});

describe('a request\'s reason', () => {
  // Clears the screen, retitles the window and fakes a line of the console's own, if obeyed.
  const hostile = 'deploy \x1b[2J\x1b]0;pwned\x07 now\nApproved by admin: press y';
  const inert = 'deploy \\x1b[2J\\x1b]0;pwned\\x07 now\\nApproved by admin: press y';

  it('from `get --reason` appears on the console as the requester\'s words, inert, and in history', async () => {
    const get = startClient(process.execPath, [CLI, 'get', '--reason', hostile, 'service=deploy'], h.env);
    await tui.waitForText("Reason      (the requester's words, unchecked)", 20_000);
    const screen = tui.text();
    expect(screen).toContain(inert);
    // Nothing of it was obeyed: the console's own lines are still there, the title untouched.
    expect(screen).toContain('store unlocked | 1 pending');
    expect(tui.titles.join('\n')).not.toContain('pwned');
    // The daemon keeps the reason apart from the claims about who asks.
    const [pending] = await h.daemon.console.listPending();
    expect(pending!.reason).toBe(hostile);
    expect(pending!.requester.claimed.reason).toBeUndefined();

    await sleep(GUARD_WAIT_MS);
    tui.send('y');
    const got = await get.done;
    expect(got.stderr).toBe('');
    expect(got.stdout.toString()).toBe('tok-1');

    const text = history(['--limit', '5']);
    expect(text.status).toBe(0);
    const approved = text.stdout.split('\n').find((l) => l.includes('approved') && l.includes('Deploy key'));
    expect(approved).toContain(`reason (requester's words): ${inert}`);
    expect(text.stdout).not.toContain('\x1b');
    const json = JSON.parse(history(['--json', '--limit', '5']).stdout) as HistoryEntry[];
    expect(json.find((e) => e.outcome === 'approved' && e.kind === 'secret')?.reason).toBe(hostile);
  });

  it('belongs to the connection that gave it: the next get without --reason has none', async () => {
    const get = startClient(process.execPath, [CLI, 'get', 'service=deploy'], h.env);
    const pending = await h.daemon.console.waitForPending(() => true, 20_000);
    expect(pending.reason).toBeNull();
    await tui.waitForText(/^Summary .*wants the secret of 'Deploy key'/m);
    await tui.waitForText(/^a remembers/m);
    expect(tui.text()).not.toContain("the requester's words");
    await h.daemon.console.decide(pending.id, 'deny');
    expect((await get.done).code).toBe(1);
  });

  it('over the cap is refused with a clear error, from the CLI, the agent and the daemon, and nothing is queued', async () => {
    const long = 'x'.repeat(301);
    const before = (await h.daemon.console.history(1000)).length;

    const fromCli = await cli(['get', '--reason', long, 'service=deploy']);
    expect(fromCli.code).toBe(64);
    expect(fromCli.stderr).toMatch(/Reason is 301 characters \(limit 300\)/);

    const session = await h.sessionClient();
    await expect(callMethod(session, { destination: SECRET_SERVICE_BUS_NAME, path: SECRET_SERVICE_PATH, interface: REASON_INTERFACE, member: 'SetReason', signature: 's', body: [long] }))
      .rejects.toMatchObject({ dbusName: `${ERR}TooLarge` });

    const desktop = await h.daemon.client();
    const [ids] = await desktop.call({ member: 'SearchItems', signature: 'sa{ss}', body: ['', { service: 'deploy' }] });
    await expect(desktop.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [ids, { reason: new Variant('s', long) }], timeoutMs: 10_000 }))
      .rejects.toMatchObject({ dbusName: `${ERR}TooLarge` });
    const huge = 'y'.repeat(1_000_000);
    await expect(desktop.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [ids, { reason: new Variant('s', huge) }], timeoutMs: 10_000 }))
      .rejects.toMatchObject({ dbusName: `${ERR}TooLarge` });

    expect(await h.daemon.console.listPending()).toEqual([]);
    expect((await h.daemon.console.history(1000)).length).toBe(before);
    expect(tui.text()).toContain('store unlocked | 0 pending');
    // At the cap it is taken.
    const atCap = desktop.call({ member: 'GetSecrets', signature: 'asa{sv}', body: [ids, { reason: new Variant('s', 'z'.repeat(300)) }], timeoutMs: 20_000 });
    const shown = await h.daemon.console.waitForPending();
    expect(shown.reason).toBe('z'.repeat(300));
    await h.daemon.console.decide(shown.id, 'deny');
    await expect(atCap).rejects.toMatchObject({ dbusName: `${ERR}Denied` });
  });

  it('`get --help` documents --reason', async () => {
    const help = await cli(['get', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout.toString()).toMatch(/--reason TEXT +why you ask, in your own words \(at most 300 characters\)/);
  });
});
