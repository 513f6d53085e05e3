// The signing core against real gpg: keys made by gpg are imported, and what we sign gpg verifies.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey, keyFacts, ParsedKeyCache, publicKeyArmored, signDetached, unlockForStore } from '../../daemon/signing/openpgp-keys.js';
import { isSdError } from '../../core/errors.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg-home.js';

const PAYLOAD = Buffer.from('tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n\nmsg \x1b[31m\n');

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(isSdError(err, code as never), String(err)).toBe(true);
}

describe('openpgp signing core', () => {
  let signer: GpgHome;
  let verifier: GpgHome;
  beforeAll(() => {
    signer = createGpgHome();
    verifier = createGpgHome();
  });
  afterAll(() => {
    signer?.cleanup();
    verifier?.cleanup();
  });

  for (const algo of ['ed25519', 'rsa3072'] as const) {
    it(`signs_with_a_gpg_generated_${algo}_key_and_gpg_verifies`, async () => {
      const fpr = signer.generate(`Signer ${algo} <${algo}@example.org>`, algo);
      const facts = await keyFacts(signer.exportSecret(fpr));
      expect(facts.fingerprint).toBe(fpr);
      expect(facts.algorithm).toBe(algo);
      expect(facts.userIds).toEqual([`Signer ${algo} <${algo}@example.org>`]);
      const { armored } = await unlockForStore(signer.exportSecret(fpr), null);
      const { armored: sig, info } = await signDetached(armored, PAYLOAD, new Date());
      expect(sig).toMatch(/^-----BEGIN PGP SIGNATURE-----/);
      expect(info.fingerprint).toBe(fpr);
      expect(info.pubkeyAlgorithm).toBe(algo === 'ed25519' ? 22 : 1);
      verifier.importKey(signer.exportPublic(fpr));
      const verified = verifier.verify(sig, PAYLOAD);
      expect(verified.status).toBe(0);
      expect(verified.out).toMatch(new RegExp(`VALIDSIG ${fpr} \\S+ ${info.created} 0 4 0 ${info.pubkeyAlgorithm} ${info.hashAlgorithm} 00 ${fpr}`));
      expect(verified.out).not.toContain('NOTATION');
      const tampered = verifier.verify(sig, Buffer.concat([PAYLOAD, Buffer.from('x')]));
      expect(tampered.status).not.toBe(0);
      expect(tampered.out).toMatch(/BADSIG/);
    });
  }

  it('passphrase_protected_key_needs_its_passphrase', async () => {
    const fpr = signer.generate('Locked <locked@example.org>', 'ed25519', 'correct horse');
    const exported = signer.exportSecret(fpr, 'correct horse');
    expect((await keyFacts(exported)).encrypted).toBe(true);
    await expectCode(unlockForStore(exported, null), 'WrongPassphrase');
    await expectCode(unlockForStore(exported, Buffer.from('wrong')), 'WrongPassphrase');
    const { armored, facts } = await unlockForStore(exported, Buffer.from('correct horse'));
    expect(facts.encrypted).toBe(false);
    const { armored: sig } = await signDetached(armored, PAYLOAD, new Date());
    verifier.importKey(signer.exportPublic(fpr));
    expect(verifier.verify(sig, PAYLOAD).status).toBe(0);
  });

  it('refuses_public_keys_and_garbage', async () => {
    const fpr = signer.generate('Pub <pub@example.org>', 'ed25519');
    await expectCode(keyFacts(signer.exportPublic(fpr)), 'InvalidArgs');
    await expectCode(keyFacts(Buffer.from('not a key')), 'InvalidArgs');
  });

  for (const algo of ['ed25519', 'rsa3072'] as const) {
    it(`generated_${algo}_keys_are_v4_and_gpg_reads_them`, async () => {
      const { facts, armored } = await generateKey('Gen', `gen-${algo}@example.org`, algo, new Date());
      expect(facts.algorithm).toBe(algo);
      const pub = await publicKeyArmored(armored);
      expect(pub).not.toContain('PRIVATE');
      verifier.importKey(pub);
      const listed = verifier.gpg(['--with-colons', '--list-keys', facts.fingerprint]).toString();
      expect(listed).toContain(`fpr:::::::::${facts.fingerprint}:`);
      const { armored: sig } = await signDetached(armored, PAYLOAD, new Date());
      expect(verifier.verify(sig, PAYLOAD).status).toBe(0);
    });
  }

  it('a parsed key is reused for the same stored bytes, parsed anew for new bytes, and wiped on lock', async () => {
    const now = new Date();
    const first = await generateKey('Cache', 'cache@example.org', 'ed25519', now);
    const cache = new ParsedKeyCache();
    const fpr = first.facts.fingerprint;
    const a = await cache.get(fpr, first.armored);
    expect(await cache.get(fpr, Buffer.from(first.armored))).toBe(a);
    const { armored: sig, info } = await signDetached(a, PAYLOAD, now);
    expect(info.fingerprint).toBe(fpr);
    verifier.importKey(Buffer.from(await publicKeyArmored(first.armored)));
    expect(verifier.verify(sig, PAYLOAD).status).toBe(0);

    // Another key stored under the same fingerprint slot (removed and imported again): parsed anew.
    const second = await generateKey('Cache', 'cache@example.org', 'ed25519', now);
    const b = await cache.get(fpr, second.armored);
    expect(b).not.toBe(a);
    expect(a.key.isDecrypted()).toBe(false);

    cache.wipe();
    expect(b.key.isDecrypted()).toBe(false);
    expect(b.fastPath).toBe(false);
    await expectCode(signDetached(b, PAYLOAD, now), 'Internal');
    // After the wipe the same bytes are parsed again and sign.
    const c = await cache.get(fpr, second.armored);
    expect(c).not.toBe(b);
    expect((await signDetached(c, PAYLOAD, now)).info.fingerprint).toBe(second.facts.fingerprint);
  });
});
