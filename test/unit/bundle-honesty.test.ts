// Export and import say what they really do: the bundle's keys are checked against their own
// material, an import lists what it overwrites first, and the console states who chose the
// passphrase of an export.
import { describe, expect, it } from 'vitest';
import { isSdError } from '../../core/errors.js';
import { importDetails, exportDetails } from '../../daemon/request/bundle-details.js';
import { verifiedBundleKeys } from '../../daemon/signing/bundle-keys.js';
import { generateKey } from '../../daemon/signing/openpgp-keys.js';
import { openBundle, sealBundle } from '../../daemon/store/bundle.js';
import { lineText, renderView } from '../../tui/view-model.js';
import { applyStatus, initialState } from '../../tui/state.js';
import { arrive, NOW, secretRequest } from './tui-fixtures.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return isSdError(err) ? err.code : String(err);
  }
}

describe('keys in a bundle', () => {
  it('are stored with the facts of their own key material, not the bundle\'s description', async () => {
    const { facts, armored } = await generateKey('Real', 'real@example.org', 'ed25519', new Date());
    const [record] = await verifiedBundleKeys([{ fingerprint: facts.fingerprint }], [armored]);
    expect(record).toEqual({ fingerprint: facts.fingerprint, keyId: facts.keyId, userIds: ['Real <real@example.org>'], algorithm: facts.algorithm, created: facts.created, subkeys: facts.subkeys });
  });

  it('a secret that is not the key the bundle names is refused', async () => {
    const a = await generateKey('A', 'a@example.org', 'ed25519', new Date());
    const b = await generateKey('B', 'b@example.org', 'ed25519', new Date());
    expect(await codeOf(verifiedBundleKeys([{ fingerprint: a.facts.fingerprint }], [b.armored]))).toBe('BadBundle');
    expect(await codeOf(verifiedBundleKeys([{ fingerprint: a.facts.fingerprint }], [Buffer.from('not a key')]))).toBe('BadBundle');
  });
});

describe('a bundle opened before approval', () => {
  it('may not ask for more Argon2 memory than the cap', async () => {
    const contents = { format: 1 as const, collections: [], items: [], keys: [] };
    const bundle = await sealBundle(contents, [], Buffer.from('pw'), { memoryKiB: 2048, iterations: 1, parallelism: 1 });
    expect(await codeOf(openBundle(bundle, Buffer.from('pw'), 1024))).toBe('BadBundle');
    const opened = await openBundle(bundle, Buffer.from('pw'), 4096);
    expect(opened.contents.items).toEqual([]);
    opened.plain.fill(0);
  });
});

describe('what the console is told', () => {
  const plan = {
    collections: [{ id: 'login', label: 'Login', replaces: 'Login' }, { id: 'work', label: 'Work', replaces: 'Old work' }],
    items: [
      { id: 'i1', collectionId: 'login', label: 'new one', attributes: {}, replaces: null },
      { id: 'i2', collectionId: 'login', label: 'GitHub token', attributes: {}, replaces: { label: 'GitHub token (prod)', attributes: {} } },
    ],
    keys: [],
  };

  it('an import lists what it overwrites first, with what it replaces; an unchanged collection is not an overwrite', () => {
    const d = importDetails(plan, []);
    expect(d.counts).toEqual({ collections: 2, items: 2, keys: 0, overwrites: 2 });
    expect(d.entries).toEqual([
      { what: 'collection', action: 'overwrite', label: 'Work', was: 'Old work' },
      { what: 'item', action: 'overwrite', label: 'GitHub token', was: 'GitHub token (prod)' },
      { what: 'item', action: 'add', label: 'new one', was: null },
    ]);
  });

  it('the screen says an export holds the private keys and that the requester chose its passphrase', () => {
    const keys = [{ fingerprint: 'A'.repeat(40), keyId: 'A'.repeat(16), userIds: ['Me <me@example.org>'], algorithm: 'ed25519', created: 1 }];
    const request = secretRequest({ kind: 'export', items: [], rememberScope: null, bundle: exportDetails(1, ['GitHub token'], keys) });
    const status = { initialized: true, locked: false, pending: 1, consoleConnected: true, version: '0', requestTimeoutSeconds: 300, throttled: null };
    const screen = renderView(arrive(applyStatus(initialState(300), status), [request], NOW), { width: 120, height: 40 }, NOW).lines.map(lineText).join('\n');
    expect(screen).toContain('every secret (1 item) and 1 PRIVATE signing key');
    expect(screen).not.toMatch(/\b1 (items|PRIVATE signing keys)\b/);
    expect(screen).toContain('chosen by the requester: to the requester it is plaintext');
    expect(screen).toContain('Me <me@example.org>');
  });

  it('the screen lists an import\'s overwrites', () => {
    const request = secretRequest({ kind: 'import', items: [], rememberScope: null, bundle: importDetails(plan, []) });
    const status = { initialized: true, locked: false, pending: 1, consoleConnected: true, version: '0', requestTimeoutSeconds: 300, throttled: null };
    const screen = renderView(arrive(applyStatus(initialState(300), status), [request], NOW), { width: 120, height: 40 }, NOW).lines.map(lineText);
    expect(screen.find((l) => l.includes('OVERWRITES') && l.includes('GitHub token'))).toContain('(now GitHub token (prod))');
    expect(screen.some((l) => l.includes('overwrites 2 here'))).toBe(true);
  });
});
