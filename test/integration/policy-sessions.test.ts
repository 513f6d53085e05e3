// Scopes for automated sessions, end to end: a real daemon on a private system bus with our
// policy, real Python clients (jeepney, as Debian ships it) each run as a new process, each loop in
// a session of its own made with setsid(1); the human is a scripted console.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusClient } from '../helpers/bus-client.js';
import { runCli } from '../helpers/gpg-flow.js';
import { startDaemonHarness, TEST_PASSPHRASE, type DaemonHarness } from '../helpers/daemon-harness.js';

const PYTHON = '/usr/bin/python3';
// Reads the items named on its command line in one GetSecrets call; prints how many came back.
const CLIENT = `import sys
from jeepney import DBusAddress, HeaderFields, new_method_call
from jeepney.io.blocking import open_dbus_connection
conn = open_dbus_connection(bus='SYSTEM')
addr = DBusAddress('/net/mowaka/SecretsDispatcher1', bus_name='net.mowaka.SecretsDispatcher1', interface='net.mowaka.SecretsDispatcher1')
reply = conn.send_and_get_reply(new_method_call(addr, 'GetSecrets', 'asa{sv}', (sys.argv[1:], {})), timeout=60)
if reply.header.message_type.name == 'error':
    print('error', reply.header.fields.get(HeaderFields.error_name), reply.body)
    sys.exit(3)
print(len(reply.body[0]))
`;

let h: DaemonHarness;
let desktop: BusClient;
let dir: string;
let ids: string[];

function run(script: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('setsid', ['-w', 'bash', '-c', script], { env: { ...h.env, SD_DIR: dir }, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code, out }));
  });
}

beforeAll(async () => {
  h = await startDaemonHarness({ config: { requestTimeoutSeconds: 20 } });
  desktop = await h.client();
  ids = [];
  for (const label of ['db password', 'api token', 'ssh passphrase']) {
    ids.push((await desktop.call({ member: 'CreateItem', signature: 'ssa{ss}aysba{sv}', body: ['login', label, { app: label }, Buffer.from(`v-${label}`), 'text/plain', false, {}] }))[0] as string);
  }
  dir = mkdtempSync(join(tmpdir(), 'sd-agent-'));
  writeFileSync(join(dir, 't.py'), CLIENT);
  writeFileSync(join(dir, 'other.py'), `${CLIENT}# another program\n`);
});
afterAll(async () => {
  await h?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** How many requests the console was asked, over a run: each is answered with `verb`, or denied. */
async function answering<T>(work: Promise<T>, answer: (id: string, n: number, req: Awaited<ReturnType<DaemonHarness['console']['getRequest']>>) => Promise<void>): Promise<{ result: T; asked: number }> {
  let asked = 0;
  let done = false;
  const seen = new Set<string>();
  const loop = (async () => {
    while (!done) {
      for (const req of await h.console.listPending()) {
        if (seen.has(req.id)) continue;
        seen.add(req.id);
        asked++;
        await answer(req.id, asked, req);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const result = await work;
  done = true;
  await loop;
  return { result, asked };
}

describe('an agent-like loop of new processes', () => {
  it('50 runs of python3 t.py reading 3 items in one session ask once; other.py in the session and t.py in another session ask again', async () => {
    const args = ids.join(' ');
    const lines: string[] = [];
    const { result, asked } = await answering(
      run(`for i in $(seq 50); do ${PYTHON} t.py ${args} || exit 1; done; ${PYTHON} other.py ${args}; echo "other=$?"`),
      async (id, n, req) => {
        lines.push(req.rememberScope?.description ?? '(none)');
        // The first prompt is t.py's: remember it for the program in this session; other.py is denied.
        await h.console.call({ member: 'Decide', signature: 'ssu', body: [id, n === 1 ? 'remember' : 'deny', 10] });
      },
    );
    expect(result.code, result.out).toBe(0);
    expect(result.out.split('\n').filter((l) => l === '3')).toHaveLength(50);
    expect(result.out).toContain('other=3');
    expect(asked).toBe(2);
    expect(lines[0]).toMatch(new RegExp(`running the script ${dir}/t\\.py \\(as its command line reports\\) with contents sha256 [0-9a-f]{16} in session \\d+ may read`));
    expect(lines[1]).toContain(`${dir}/other.py`);

    const elsewhere = await answering(run(`${PYTHON} t.py ${args}; echo "code=$?"`), async (id) => {
      await h.console.call({ member: 'Decide', signature: 'ssu', body: [id, 'deny', 0] });
    });
    expect(elsewhere.asked).toBe(1);
    expect(elsewhere.result.out).toContain('code=3');
    for (const g of await h.console.listRemembered()) await h.console.revoke(g.id);
  });

  it('a script that reads the same secret 100 times, each run a new process, asks once (session scope)', async () => {
    const { result, asked } = await answering(
      run(`for i in $(seq 100); do ${PYTHON} t.py ${ids[0]} || exit 1; done`),
      async (id) => {
        await h.console.call({ member: 'Decide', signature: 'ssu', body: [id, 'session', 0] });
      },
    );
    expect(result.code, result.out).toBe(0);
    expect(asked).toBe(1);
    const rows = (await h.console.history(500)).filter((r) => r.kind === 'secret' && r.outcome === 'remembered' && /\(session\)/.test(r.scope ?? ''));
    expect(rows.length).toBeGreaterThanOrEqual(99);
    for (const g of await h.console.listRemembered()) await h.console.revoke(g.id);
  });

  it('"always" on a low-tier item survives a daemon restart with 0 prompts; it is not offered at tier normal', async () => {
    const normal = await answering(run(`${PYTHON} t.py ${ids[2]}`), async (id, _n, req) => {
      expect(req.scopes?.map((o) => o.verb)).not.toContain('always');
      await h.console.call({ member: 'Decide', signature: 'ssu', body: [id, 'deny', 0] });
    });
    expect(normal.asked).toBe(1);
    await h.console.call({ member: 'SetTier', signature: 'sss', body: ['item', ids[2], 'low'] });
    const first = await answering(run(`${PYTHON} t.py ${ids[2]}`), async (id) => {
      await h.console.call({ member: 'Decide', signature: 'ssu', body: [id, 'always', 0] });
    });
    expect(first.asked).toBe(1);
    await h.restartDaemon();
    const after = await answering(run(`${PYTHON} t.py ${ids[2]} && ${PYTHON} t.py ${ids[2]}`), async () => undefined);
    expect(after.result.code, after.result.out).toBe(0);
    expect(after.asked).toBe(0);
    const rules = await h.console.listRemembered();
    expect(rules.map((r) => [r.scope, r.persisted])).toEqual([['always', true]]);
    await h.console.revoke(rules[0]!.id);
    await h.console.call({ member: 'SetTier', signature: 'sss', body: ['item', ids[2], 'normal'] });
  });

  it('"until lock" covers the session\'s next run, and not once the store was locked', async () => {
    const go = join(dir, 'go');
    const second = join(dir, 'second');
    const twice = run(`${PYTHON} t.py ${ids[0]} && ${PYTHON} t.py ${ids[0]} && touch ${second}; while [ ! -e ${go} ]; do sleep 0.05; done; ${PYTHON} t.py ${ids[0]}; echo third=$?`);
    const first = await h.console.waitForPending(() => true, 20_000);
    await h.console.call({ member: 'Decide', signature: 'ssu', body: [first.id, 'until-lock', 0] });
    // The second read of the session is covered: it is answered without the console.
    const until = Date.now() + 20_000;
    while (!existsSync(second)) {
      expect((await h.console.listSummaries()).total).toBe(0);
      if (Date.now() > until) throw new Error('the second read did not finish');
      await new Promise((r) => setTimeout(r, 50));
    }
    await h.console.lock();
    await h.console.unlock(TEST_PASSPHRASE);
    writeFileSync(go, '');
    const third = await h.console.waitForPending(() => true, 20_000);
    await h.console.call({ member: 'Decide', signature: 'ssu', body: [third.id, 'deny', 0] });
    const { out } = await twice;
    unlinkSync(go);
    unlinkSync(second);
    expect(out).toContain('third=3');
  });

  it('deny always refuses at once without a prompt and says why, and survives a daemon restart', async () => {
    const first = await answering(run(`${PYTHON} other.py ${ids[1]}; echo "code=$?"`), async (id) => {
      await h.console.call({ member: 'Decide', signature: 'ssu', body: [id, 'deny-always', 0] });
    });
    expect(first.asked).toBe(1);
    await h.restartDaemon();
    const again = await answering(run(`${PYTHON} other.py ${ids[1]}; echo "code=$?"`), async () => undefined);
    expect(again.asked).toBe(0);
    expect(again.result.out).toContain('Denied');
    const refused = (await h.console.history(50)).find((r) => r.outcome === 'refused' && /deny-always/.test(r.scope ?? ''));
    expect(refused?.detail).toBe('Denied');
    const rules = await h.console.listRemembered();
    expect(rules.map((r) => [r.scope, r.verdict, r.persisted])).toEqual([['deny-always', 'deny', true]]);
    // The desktop sees the rule, read-only; while the store is locked it is told to unlock it.
    const listed = await runCli(h, ['rules', 'list', '--json']).done;
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ id: rules[0]!.id, scope: 'deny-always', verdict: 'deny', holder: expect.stringContaining(`${dir}/other.py`) }]);
    const text = await runCli(h, ['rules', 'list']).done;
    expect(text.stdout).toMatch(new RegExp(`^${rules[0]!.id}  DENY deny-always  secret  'api token'  \\(kept until revoked\\)$`, 'm'));
    expect((await runCli(h, ['rules', 'revoke', rules[0]!.id]).done).code).toBe(64);
    await h.console.lock();
    const locked = await runCli(h, ['rules', 'list']).done;
    expect(locked.code).toBe(1);
    expect(locked.stderr).toMatch(/locked.*unlock it on the console/i);
    await h.console.unlock(TEST_PASSPHRASE);
    await h.console.revoke(rules[0]!.id);
  });
});
