// The node:crypto signature path against its two judges: openpgp, whose bytes it must reproduce
// exactly (ed25519 signatures are deterministic), and real gpg, which must verify it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as openpgp from 'openpgp';
import { generateKey, prepareSigningKey, readSecretKey, unlockForStore } from '../../daemon/signing/openpgp-keys.js';
import { armorSignature, crc24, mpi } from '../../daemon/signing/v4-signature.js';
import { isSdError } from '../../core/errors.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg-home.js';

async function openpgpArmor(key: openpgp.PrivateKey, payload: Buffer, date: Date): Promise<string> {
  const message = await openpgp.createMessage({ binary: new Uint8Array(payload) });
  return openpgp.sign({ message, signingKeys: key, detached: true, date, config: { nonDeterministicSignaturesViaNotation: false } }) as Promise<string>;
}

describe('v4 signatures made with node:crypto', () => {
  let home: GpgHome;
  beforeAll(() => {
    home = createGpgHome();
  });
  afterAll(() => home?.cleanup());

  it('are byte for byte what openpgp makes, including R or S with a leading zero byte', async () => {
    const date = new Date();
    const made = await generateKey('Fast', 'fast@example.org', 'ed25519', date);
    const parsed = await readSecretKey(made.armored);
    const key = await prepareSigningKey(parsed, date);
    expect(key.fastPath).toBe(true);

    // A leading zero byte in R or S shortens its MPI (and the packet) by one byte: about one
    // signature in 128. Compare those, and a spread of ordinary payloads, with openpgp's bytes.
    const payloads = [Buffer.alloc(0), Buffer.alloc(1024 * 1024, 0xa5), Buffer.from('tree x\nencoding ISO-8859-1\n\ncaf\xe9 \x1b[31m\n', 'latin1')];
    const bodyLength = (armored: string) => Buffer.from(armored.split('\n\n')[1]!.split('\n=')[0]!, 'base64')[1]!;
    // The full length is the longest of a few probes: one probe alone is short one time in 128.
    let fullLength = 0;
    for (let i = 0; i < 8; i++) fullLength = Math.max(fullLength, bodyLength((await key.sign(Buffer.from(`probe ${i}`), date)).armored));
    let shortened = 0;
    for (let i = 0; i < 5000 && shortened < 4; i++) {
      const payload = Buffer.from(`tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\ncommit ${i}\n`);
      const length = bodyLength((await key.sign(payload, date)).armored);
      expect(length).toBeLessThanOrEqual(fullLength);
      if (i < 40) payloads.push(payload);
      if (length < fullLength) {
        payloads.push(payload);
        shortened++;
      }
    }
    expect(shortened).toBeGreaterThan(0);
    for (const payload of payloads) {
      expect((await key.sign(payload, date)).armored).toBe(await openpgpArmor(parsed, payload, date));
    }
  });

  it('signs with a gpg-made ed25519 key, or its newest signing subkey, and gpg verifies', async () => {
    const primary = home.generate('Fast Gpg <fastgpg@example.org>', 'ed25519');
    for (const withSubkey of [false, true]) {
      if (withSubkey) home.gpg(['--pinentry-mode', 'loopback', '--passphrase', '', '--quick-add-key', primary, 'ed25519', 'sign', '0']);
      const colons = home.gpg(['--with-colons', '--list-secret-keys', primary]).toString();
      const signingFpr = [...colons.matchAll(/^fpr:+([0-9A-F]{40}):/gm)].map((m) => m[1]).pop()!;
      const { armored } = await unlockForStore(home.exportSecret(primary), null);
      const now = new Date();
      const key = await prepareSigningKey(await readSecretKey(armored), now);
      expect(key.fastPath).toBe(true);
      const payload = Buffer.from(`tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nsubkey ${withSubkey}\n`);
      const { armored: signature, info } = await key.sign(payload, now);
      expect(info.fingerprint).toBe(signingFpr);
      const verified = home.verify(signature, payload);
      expect(verified.status).toBe(0);
      expect(verified.out).toMatch(new RegExp(`VALIDSIG ${signingFpr} \\S+ ${info.created} 0 4 0 22 ${info.hashAlgorithm} 00 ${primary}`));
      expect(home.verify(signature, Buffer.concat([payload, Buffer.from('x')])).out).toMatch(/BADSIG/);
    }
  });

  it('leaves RSA keys on openpgp', async () => {
    const made = await generateKey('Rsa', 'rsa@example.org', 'rsa3072', new Date());
    const key = await prepareSigningKey(await readSecretKey(made.armored), new Date());
    expect(key.fastPath).toBe(false);
    expect((await key.sign(Buffer.from('x'), new Date())).info.pubkeyAlgorithm).toBe(1);
  });

  it('refuses to sign once the key has expired, as openpgp does', async () => {
    const created = new Date(Date.now() - 3600_000);
    const { privateKey } = await openpgp.generateKey({
      userIDs: [{ name: 'Short', email: 'short@example.org' }], type: 'ecc', curve: 'ed25519Legacy', format: 'object',
      date: created, keyExpirationTime: 600, config: { v6Keys: false },
    });
    const withinLife = new Date(created.getTime() + 60_000);
    const key = await prepareSigningKey(privateKey, withinLife);
    expect(key.fastPath).toBe(true);
    expect((await key.sign(Buffer.from('x'), withinLife)).armored).toMatch(/^-----BEGIN PGP SIGNATURE-----/);
    const err = await key.sign(Buffer.from('x'), new Date()).then(() => null, (e: unknown) => e);
    expect(isSdError(err, 'NoSuchKey'), String(err)).toBe(true);
  });

  it('wipe drops the node:crypto key with openpgp\'s copy', async () => {
    const made = await generateKey('Wipe', 'wipe@example.org', 'ed25519', new Date());
    const key = await prepareSigningKey(await readSecretKey(made.armored), new Date());
    expect(key.fastPath).toBe(true);
    key.wipe();
    expect(key.fastPath).toBe(false);
    const err = await key.sign(Buffer.from('x'), new Date()).then(() => null, (e: unknown) => e);
    expect(isSdError(err, 'Internal'), String(err)).toBe(true);
  });

  it('encodes MPIs and the armor checksum as RFC 4880 says', () => {
    expect(mpi(Buffer.from([0x00, 0x01, 0xff])).toString('hex')).toBe('000901ff');
    expect(mpi(Buffer.from([0x80])).toString('hex')).toBe('000880');
    expect(mpi(Buffer.alloc(2)).toString('hex')).toBe('0000');
    expect(crc24(Buffer.alloc(0))).toBe(0xb704ce);
    // Three bytes: one base64 quad, and the checksum line of their CRC.
    const armored = armorSignature(Buffer.from('abc'));
    const crc = Buffer.alloc(3);
    crc.writeUIntBE(crc24(Buffer.from('abc')), 0, 3);
    expect(armored).toBe(`-----BEGIN PGP SIGNATURE-----\n\nYWJj\n=${crc.toString('base64')}\n-----END PGP SIGNATURE-----\n`);
  });
});
