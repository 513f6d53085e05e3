// The agent's object model and per-client state, without a bus.
import { describe, expect, it } from 'vitest';
import { collectionPath, decodePathElement, encodePathElement, itemPath, parseObjectPath } from '../../agent/object-paths.js';
import { ClientGrants, GRANT_TTL_MS } from '../../agent/grants.js';
import { SessionRegistry, MAX_SESSIONS_PER_CLIENT } from '../../agent/sessions.js';
import { openSessionCrypto } from '../../agent/session-crypto.js';
import { SECRET_SERVICE_ERRORS } from '../../core/errors.js';

describe('object paths', () => {
  it('daemon ids with - and _ round-trip through valid D-Bus path elements', () => {
    for (const id of ['login', 'a-b_c', 'x9', '-', 'é', 'default']) {
      const el = encodePathElement(id);
      expect(el).toMatch(/^[A-Za-z0-9_]+$/);
      expect(decodePathElement(el)).toBe(id);
    }
  });

  it('parses collections, aliases and items, and rejects anything else', () => {
    expect(parseObjectPath(collectionPath('a-b'))).toEqual({ kind: 'collection', ref: { id: 'a-b' } });
    expect(parseObjectPath('/org/freedesktop/secrets/aliases/default')).toEqual({ kind: 'collection', ref: { alias: 'default' } });
    expect(parseObjectPath(itemPath('login', 'i-1'))).toEqual({ kind: 'item', ref: { id: 'login' }, itemId: 'i-1' });
    for (const bad of ['/', '/org/freedesktop/secrets', '/org/freedesktop/secrets/collection/a/b/c', '/org/freedesktop/secrets/collection/_zz', '/org/freedesktop/secrets/session/1', '/org/freedesktop/secrets/collection/']) {
      expect(parseObjectPath(bad)).toBeNull();
    }
  });
});

describe('grants belong to one client and expire', () => {
  it('another client never sees a grant; expiry, revoke and forget wipe the secret', () => {
    let now = 1_000_000;
    const grants = new ClientGrants(() => now);
    const secret = Buffer.from('s3cret');
    grants.grant(':1.5', 'item', secret, 'text/plain');
    expect(grants.isUnlocked(':1.5', 'item')).toBe(true);
    expect(grants.isUnlocked(':1.6', 'item')).toBe(false);
    expect(grants.read(':1.6', 'item')).toBeNull();
    expect(grants.read(':1.5', 'item')?.secret.toString()).toBe('s3cret');
    now += GRANT_TTL_MS + 1;
    expect(grants.read(':1.5', 'item')).toBeNull();
    grants.grant(':1.5', 'item', secret, 'text/plain');
    grants.revoke(':1.5', ['item']);
    expect(grants.isUnlocked(':1.5', 'item')).toBe(false);
    grants.grant(':1.5', 'item', secret, 'text/plain');
    grants.forget(':1.5');
    expect(grants.isUnlocked(':1.5', 'item')).toBe(false);
    grants.deny(':1.7', ['item']);
    expect(grants.isDenied(':1.7', 'item')).toBe(true);
    expect(grants.isDenied(':1.5', 'item')).toBe(false);
    grants.close();
  });
});

describe('sessions', () => {
  it('are usable only by the client that opened them, and bounded per client', () => {
    const reg = new SessionRegistry();
    const path = reg.open(':1.5', openSessionCrypto('plain', ''));
    expect(() => reg.get(path, ':1.6')).toThrow(expect.objectContaining({ dbusName: SECRET_SERVICE_ERRORS.NoSession }));
    expect(reg.close(path, ':1.6')).toBe(false);
    expect(reg.get(path, ':1.5').algorithm).toBe('plain');
    expect(reg.close(path, ':1.5')).toBe(true);
    expect(() => reg.get(path, ':1.5')).toThrow(expect.objectContaining({ dbusName: SECRET_SERVICE_ERRORS.NoSession }));
    for (let i = 0; i < MAX_SESSIONS_PER_CLIENT; i++) reg.open(':1.9', openSessionCrypto('plain', ''));
    expect(() => reg.open(':1.9', openSessionCrypto('plain', ''))).toThrow(/open sessions/);
    expect(reg.forget(':1.9')).toHaveLength(MAX_SESSIONS_PER_CLIENT);
  });
});

describe('checked-in Secret Service XML (spec 0.2)', () => {
  it('has the spec\'s signatures', async () => {
    const { loadSecretInterface } = await import('../../agent/spec.js');
    const sig = (i: ReturnType<typeof loadSecretInterface>, m: string) => `${i.methods.get(m)?.inSignature}->${i.methods.get(m)?.outSignature}`;
    const service = loadSecretInterface('Service');
    expect(sig(service, 'OpenSession')).toBe('sv->vo');
    expect(sig(service, 'CreateCollection')).toBe('a{sv}s->oo');
    expect(sig(service, 'SearchItems')).toBe('a{ss}->aoao');
    expect(sig(service, 'Unlock')).toBe('ao->aoo');
    expect(sig(service, 'Lock')).toBe('ao->aoo');
    expect(sig(service, 'GetSecrets')).toBe('aoo->a{o(oayays)}');
    expect(sig(service, 'ReadAlias')).toBe('s->o');
    expect(sig(service, 'SetAlias')).toBe('so->');
    const collection = loadSecretInterface('Collection');
    expect(sig(collection, 'CreateItem')).toBe('a{sv}(oayays)b->oo');
    expect([...collection.properties.keys()].sort()).toEqual(['Created', 'Items', 'Label', 'Locked', 'Modified']);
    const item = loadSecretInterface('Item');
    expect(sig(item, 'GetSecret')).toBe('o->(oayays)');
    expect(sig(item, 'SetSecret')).toBe('(oayays)->');
    expect([...item.properties.keys()].sort()).toEqual(['Attributes', 'Created', 'Label', 'Locked', 'Modified', 'Type']);
    expect(loadSecretInterface('Prompt').signals.get('Completed')?.signature).toBe('bv');
    expect(sig(loadSecretInterface('Session'), 'Close')).toBe('->');
  });
});
