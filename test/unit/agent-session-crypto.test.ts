// Known-answer tests for the Secret Service session crypto, against python3-cryptography (an
// independent implementation that the script below drives with the RFC 2409 prime written out,
// not taken from Node).
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { aesDecrypt, aesEncrypt, deriveAesKey, DH_ALGORITHM, openSessionCrypto } from '../../agent/session-crypto.js';
import { STANDARD_DBUS_ERRORS } from '../../core/errors.js';

const PYTHON = '/usr/bin/python3';

const PY_SCRIPT = String.raw`
import json, sys
from cryptography.hazmat.primitives.asymmetric import dh
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
P = int("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
        "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF", 16)
args = json.loads(sys.stdin.read())
pn = dh.DHParameterNumbers(P, 2)
def key(x):
    return dh.DHPrivateNumbers(x, dh.DHPublicNumbers(pow(2, x, P), pn)).private_key()
client = key(int(args["client_private"], 16))
server = key(int(args["server_private"], 16))
client_pub = client.public_key().public_numbers().y
server_pub = server.public_key().public_numbers().y
shared = client.exchange(server.public_key())
aes_key = HKDF(algorithm=hashes.SHA256(), length=16, salt=None, info=None).derive(shared)
iv = bytes.fromhex(args["iv"])
padder = padding.PKCS7(128).padder()
plain = bytes.fromhex(args["plaintext"])
padded = padder.update(plain) + padder.finalize()
enc = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
ct = enc.update(padded) + enc.finalize()
print(json.dumps({
  "client_public": client_pub.to_bytes(128, "big").hex(),
  "server_public": server_pub.to_bytes(128, "big").hex(),
  "shared": shared.hex(), "aes_key": aes_key.hex(), "ciphertext": ct.hex(),
}))
`;

interface PyAnswer { client_public: string; server_public: string; shared: string; aes_key: string; ciphertext: string }

function python(input: Record<string, string>): PyAnswer {
  return JSON.parse(execFileSync(PYTHON, ['-c', PY_SCRIPT], { input: JSON.stringify(input) }).toString());
}

const haveCryptography = existsSync(PYTHON) && (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import cryptography'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!haveCryptography)('DH session known answers (python3-cryptography)', () => {
  const cases = [
    { name: 'short secret', client_private: 'a1b2c3d4e5f60718293a4b5c6d7e8f90', server_private: '0badc0ffee0123456789abcdef', iv: '000102030405060708090a0b0c0d0e0f', plaintext: Buffer.from('hunter2').toString('hex') },
    { name: 'block-sized binary secret', client_private: 'ffeeddccbbaa99887766554433221100ffeeddccbbaa9988', server_private: '13579bdf2468ace013579bdf2468ace0', iv: 'f0e0d0c0b0a090807060504030201000', plaintext: '00ff00ff00ff00ff00ff00ff00ff00ff' },
    { name: 'empty secret', client_private: '7', server_private: '3fffffffffffffffffffffffffffffffffffffff', iv: '11111111111111111111111111111111', plaintext: '' },
  ];

  for (const c of cases) {
    it(`derives the same key and ciphertext: ${c.name}`, () => {
      const answer = python(c);
      const session = openSessionCrypto(DH_ALGORITHM, Buffer.from(answer.client_public, 'hex'), Buffer.from(c.server_private.padStart(c.server_private.length + (c.server_private.length % 2), '0'), 'hex'));
      expect(session.output.toString('hex')).toBe(answer.server_public);
      const key = deriveAesKey(Buffer.from(answer.shared, 'hex'));
      expect(key.toString('hex')).toBe(answer.aes_key);
      const iv = Buffer.from(c.iv, 'hex');
      expect(aesEncrypt(key, iv, Buffer.from(c.plaintext, 'hex')).toString('hex')).toBe(answer.ciphertext);
      // The session decrypts what the independent implementation encrypted with the shared key.
      expect(session.decrypt(iv, Buffer.from(answer.ciphertext, 'hex')).toString('hex')).toBe(c.plaintext);
      session.wipe();
    });
  }

  it('round-trips a 1 MiB secret with a fresh IV each time', () => {
    const answer = python(cases[0]!);
    const session = openSessionCrypto(DH_ALGORITHM, Buffer.from(answer.client_public, 'hex'));
    const secret = Buffer.alloc(1024 * 1024, 0xab);
    const a = session.encrypt(secret);
    const b = session.encrypt(secret);
    expect(a.parameters.equals(b.parameters)).toBe(false);
    expect(session.decrypt(a.parameters, a.value).equals(secret)).toBe(true);
  });
});

describe('session crypto refuses bad input', () => {
  it('an unknown algorithm is NotSupported', () => {
    expect(() => openSessionCrypto('dh-ietf2048-sha512-aes256', Buffer.alloc(0))).toThrow(expect.objectContaining({ dbusName: STANDARD_DBUS_ERRORS.NotSupported }));
  });

  it('a DH public key outside the group or of the wrong type is InvalidArgs', () => {
    for (const bad of [Buffer.from([1]), Buffer.alloc(129, 1), Buffer.alloc(0), 'text']) {
      expect(() => openSessionCrypto(DH_ALGORITHM, bad)).toThrow(expect.objectContaining({ dbusName: STANDARD_DBUS_ERRORS.InvalidArgs }));
    }
  });

  it('a tampered ciphertext or wrong IV length is InvalidArgs, never a crash', () => {
    const client = openSessionCrypto(DH_ALGORITHM, Buffer.from([5]));
    const server = openSessionCrypto(DH_ALGORITHM, client.output);
    expect(() => server.decrypt(Buffer.alloc(8), Buffer.alloc(16))).toThrow(expect.objectContaining({ dbusName: STANDARD_DBUS_ERRORS.InvalidArgs }));
    expect(() => server.decrypt(Buffer.alloc(16), Buffer.alloc(15))).toThrow(expect.objectContaining({ dbusName: STANDARD_DBUS_ERRORS.InvalidArgs }));
  });

  it('plain sessions pass secrets unchanged and take no parameters', () => {
    const plain = openSessionCrypto('plain', 'ignored');
    expect(plain.encrypt(Buffer.from('x')).value.toString()).toBe('x');
    expect(() => plain.decrypt(Buffer.alloc(1), Buffer.from('x'))).toThrow();
    expect(aesDecrypt(Buffer.alloc(16), Buffer.alloc(16), aesEncrypt(Buffer.alloc(16), Buffer.alloc(16), Buffer.from('ok'))).toString()).toBe('ok');
  });
});
