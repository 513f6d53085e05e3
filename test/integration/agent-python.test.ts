// /usr/bin/python3 with python3-secretstorage and python3-keyring (Debian's, unmodified) against
// the agent and the real daemon. The human is the scripted console; where a test is about the
// API surface rather than the decision, an auto-approver plays a human who says yes to everything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runClient, startAgentHarness, startClient, type AgentHarness } from '../helpers/agent-harness.js';

const PYTHON = '/usr/bin/python3';
let h: AgentHarness;

beforeAll(async () => {
  h = await startAgentHarness();
});

afterAll(async () => {
  await h?.stop();
});

/** Approve every request until the returned function is called. */
function autoApprove(verb: 'once' | 'deny' = 'once'): () => Promise<number> {
  let running = true;
  let decided = 0;
  const loop = (async () => {
    while (running) {
      const req = await h.daemon.console.waitForPending(() => true, 500).catch(() => null);
      if (req && running) {
        await h.daemon.console.decide(req.id, verb).catch(() => undefined);
        decided++;
      }
    }
  })();
  return async () => {
    running = false;
    await loop;
    return decided;
  };
}

const py = (code: string, input?: string) => runClient(PYTHON, ['-c', code], h.env, input);

const PRELUDE = `
import json, sys, secretstorage
from secretstorage.util import open_session, DBusAddressWrapper
bus = secretstorage.dbus_init()
service = DBusAddressWrapper('/org/freedesktop/secrets', 'org.freedesktop.Secret.Service', bus)
out = {}
`;

describe('python3-secretstorage', () => {
  it('DH session; create, search, get, replace, relabel and delete items with labels, attributes and content types', async () => {
    const stop = autoApprove();
    const r = await py(`${PRELUDE}
session = open_session(bus)
out['encrypted'] = session.encrypted
col = secretstorage.get_default_collection(bus)
item = col.create_item('Mail password', {'app': 'pytest', 'user': 'ann'}, b'first\\x00secret', content_type='application/x-test')
out['label'] = item.get_label()
out['attrs'] = item.get_attributes()
out['locked_before'] = item.is_locked()
out['found'] = [i.get_label() for i in col.search_items({'app': 'pytest'})]
out['found_service'] = [i.get_label() for i in secretstorage.search_items(bus, {'user': 'ann'})]
out['unlock_dismissed'] = item.unlock()
out['locked_after'] = item.is_locked()
out['secret'] = item.get_secret().hex()
out['ctype'] = item.get_secret_content_type()
again = col.create_item('Mail password v2', {'app': 'pytest', 'user': 'ann'}, b'second', replace=True)
out['same_item'] = again.item_path == item.item_path
out['after_replace'] = again.get_secret().decode()
again.set_label('Renamed')
out['renamed'] = again.get_label()
again.set_attributes({'app': 'pytest', 'user': 'bob'})
out['new_attrs'] = again.get_attributes()
again.delete()
out['left'] = len(list(col.search_items({'app': 'pytest'})))
print(json.dumps(out))
`);
    await stop();
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout.toString());
    expect(out).toEqual({
      encrypted: true,
      label: 'Mail password',
      attrs: { app: 'pytest', user: 'ann' },
      locked_before: false,
      found: ['Mail password'],
      found_service: ['Mail password'],
      unlock_dismissed: false,
      locked_after: false,
      secret: Buffer.from('first\0secret').toString('hex'),
      ctype: 'application/x-test',
      same_item: true,
      after_replace: 'second',
      renamed: 'Renamed',
      new_attrs: { app: 'pytest', user: 'bob' },
      left: 0,
    });
  });

  it('a raw get_secret without unlocking waits for the decision instead of failing', async () => {
    const setup = await py(`${PRELUDE}
col = secretstorage.get_default_collection(bus)
col.create_item('raw', {'app': 'raw'}, b'raw-secret')
`);
    expect(setup.stderr).toBe('');
    const client = startClient(PYTHON, ['-c', `${PRELUDE}
item = next(secretstorage.search_items(bus, {'app': 'raw'}))
print(item.get_secret().decode())
`], h.env);
    const req = await h.daemon.console.waitForPending((p) => p.items.some((i) => i.label === 'raw'), 20_000);
    await new Promise((r) => setTimeout(r, 1000));
    await h.daemon.console.decide(req.id, 'once');
    const done = await client.done;
    expect(done.stderr).toBe('');
    expect(done.stdout.toString().trim()).toBe('raw-secret');
  });

  it('aliases: read, set and clear; create and delete collections', async () => {
    const stop = autoApprove();
    const r = await py(`${PRELUDE}
out['default'] = service.call('ReadAlias', 's', 'default')[0]
work = secretstorage.create_collection(bus, 'Work keys', alias='work')
out['work_label'] = secretstorage.Collection(bus, '/org/freedesktop/secrets/aliases/work').get_label()
out['work_path_listed'] = work.collection_path in [c.collection_path for c in secretstorage.get_all_collections(bus)]
service.call('SetAlias', 'so', 'spare', work.collection_path)
out['spare'] = service.call('ReadAlias', 's', 'spare')[0] == work.collection_path
service.call('SetAlias', 'so', 'spare', '/')
out['spare_cleared'] = service.call('ReadAlias', 's', 'spare')[0]
work.create_item('in work', {'app': 'work'}, b'w')
work.set_label('Work (renamed)')
out['renamed'] = work.get_label()
work.delete()
out['work_after'] = service.call('ReadAlias', 's', 'work')[0]
out['still_listed'] = work.collection_path in [c.collection_path for c in secretstorage.get_all_collections(bus)]
session_col = secretstorage.Collection(bus, '/org/freedesktop/secrets/aliases/session')
it = session_col.create_item('temp', {'app': 'tmp'}, b'in-memory')
out['session_secret'] = it.get_secret().decode()
print(json.dumps(out))
`);
    await stop();
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout.toString());
    expect(out.default).toMatch(/^\/org\/freedesktop\/secrets\/collection\//);
    expect(out).toMatchObject({
      work_label: 'Work keys', work_path_listed: true, spare: true, spare_cleared: '/', renamed: 'Work (renamed)',
      work_after: '/', still_listed: false, session_secret: 'in-memory',
    });
  });

  it('deny: the read after unlock fails with Denied; a raw read fails with Denied', async () => {
    await py(`${PRELUDE}
secretstorage.get_default_collection(bus).create_item('deny-me', {'app': 'deny'}, b'never')
`);
    const stop = autoApprove('deny');
    const r = await py(`${PRELUDE}
item = next(secretstorage.search_items(bus, {'app': 'deny'}))
out['dismissed'] = item.unlock()
try:
    out['secret'] = item.get_secret().decode()
except Exception as e:
    out['error'] = getattr(e, 'name', type(e).__name__)
print(json.dumps(out))
`);
    const raw = await py(`${PRELUDE}
item = next(secretstorage.search_items(bus, {'app': 'deny'}))
try:
    out['secret'] = item.get_secret().decode()
except Exception as e:
    out['error'] = getattr(e, 'name', type(e).__name__)
print(json.dumps(out))
`);
    await stop();
    expect(JSON.parse(r.stdout.toString())).toEqual({ dismissed: false, error: 'net.mowaka.SecretsDispatcher1.Error.Denied' });
    expect(JSON.parse(raw.stdout.toString())).toEqual({ error: 'net.mowaka.SecretsDispatcher1.Error.Denied' });
  });

  it('a requester that exits while its request is pending takes the request off the console', async () => {
    await py(`${PRELUDE}
secretstorage.get_default_collection(bus).create_item('abandoned', {'app': 'gone'}, b'x')
`);
    const client = startClient(PYTHON, ['-c', `${PRELUDE}
item = next(secretstorage.search_items(bus, {'app': 'gone'}))
item.get_secret()
`], h.env);
    const req = await h.daemon.console.waitForPending((p) => p.items.some((i) => i.label === 'abandoned'), 20_000);
    client.child.kill('SIGKILL');
    await client.done;
    const until = Date.now() + 10_000;
    while ((await h.daemon.console.listPending()).some((p) => p.id === req.id)) {
      if (Date.now() > until) throw new Error('the request stayed pending after its requester exited');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});

describe('python3-keyring with the SecretService backend', () => {
  const KEYRING = `
import keyring, keyring.backends.SecretService, sys
keyring.set_keyring(keyring.backends.SecretService.Keyring())
`;

  it('sets, gets and deletes a password', async () => {
    const stop = autoApprove();
    const r = await py(`${KEYRING}
keyring.set_password('svc.example', 'ann', 'pw-1')
keyring.set_password('svc.example', 'ann', 'pw-2')
print(keyring.get_password('svc.example', 'ann'))
keyring.delete_password('svc.example', 'ann')
print(keyring.get_password('svc.example', 'ann'))
`);
    await stop();
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toBe('pw-2\nNone\n');
  });

  it('deny: get_password raises instead of returning an empty secret', async () => {
    expect((await py(`${KEYRING}
keyring.set_password('svc.deny', 'ann', 'secret')
`)).stderr).toBe('');
    const stop = autoApprove('deny');
    const r = await py(`${KEYRING}
try:
    print('GOT', repr(keyring.get_password('svc.deny', 'ann')))
except Exception as e:
    print('ERROR', type(e).__name__)
`);
    await stop();
    expect(r.stdout.toString().trim()).toMatch(/^ERROR /);
  });
});
