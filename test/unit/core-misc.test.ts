import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.js';
import { ERROR_CODES, SdError, codeFromDbusErrorName, dbusErrorName } from '../../core/errors.js';
import { counted } from '../../core/counted.js';
import { CONSOLE_IN_TERMINAL, CONSOLE_PLACE_VAR, consolePlace } from '../../core/console-place.js';
import { parseIntrospection } from '../../core/dbus/introspection.js';
import { VERSION } from '../../core/version.js';
import { CONSOLE_INTERFACE, REQUEST_INTERFACE } from '../../core/names.js';

describe('logger', () => {
  it('prefixes the syslog level and keeps one event on one line', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', write: (l) => lines.push(l) }).child('store');
    log.debug('hidden');
    log.warning('two\nlines', { path: '/x y' });
    log.error('failed', { error: new Error('boom') });
    expect(lines).toEqual(['<4>store: two\\nlines path="/x y"\n', '<3>store: failed error=boom\n']);
  });
});

describe('errors', () => {
  it('maps codes to D-Bus names and back', () => {
    expect(dbusErrorName('Denied')).toBe('net.mowaka.SecretsDispatcher1.Error.Denied');
    expect(codeFromDbusErrorName('net.mowaka.SecretsDispatcher1.Error.QueueFull')).toBe('QueueFull');
    expect(codeFromDbusErrorName('net.mowaka.SecretsDispatcher1.Error.Nope')).toBeUndefined();
    expect(codeFromDbusErrorName('org.freedesktop.DBus.Error.Failed')).toBeUndefined();
  });

  it('starts the detail as a sentence after the catalogue\'s full stop, leaving paths and names alone', () => {
    expect(new SdError('TooLarge', 'the secret on stdin is larger than 65536 bytes.').message).toBe('A value is larger than the limit. The secret on stdin is larger than 65536 bytes.');
    expect(new SdError('Config', 'policy.d/x.json: key "a" has bad value 1.').message).toBe('The configuration is not valid. policy.d/x.json: key "a" has bad value 1.');
    expect(new SdError('InvalidArgs', 'userIds must be a list.').message).toBe('The arguments are not valid. userIds must be a list.');
    expect(new SdError('InvalidArgs', '--label needs a value.').message).toBe('The arguments are not valid. --label needs a value.');
    for (const [code, sentence] of Object.entries(ERROR_CODES)) {
      expect(sentence, code).toMatch(/^[A-Z]/);
      expect(sentence, code).not.toMatch(/\. [a-z]/);
    }
  });

  it('names the console\'s place: a VT when installed, the sandbox\'s terminal under the dev sandbox', () => {
    expect(consolePlace({})).toBe('on the console (Ctrl+Alt+F8)');
    expect(consolePlace({}, 3)).toBe('on the console (Ctrl+Alt+F3)');
    expect(consolePlace({ [CONSOLE_PLACE_VAR]: CONSOLE_IN_TERMINAL })).toBe('on the console in the sandbox\'s terminal');
  });

  it('counts with the noun in the number that fits', () => {
    expect(counted(1, 'item')).toBe('1 item');
    expect(counted(0, 'item')).toBe('0 items');
    expect(counted(2, 'signing key')).toBe('2 signing keys');
  });

  it('keeps the catalogue sentence first and lets a spec name override', () => {
    const err = new SdError('StoreLocked', 'Item x.', { dbusName: 'org.freedesktop.Secret.Error.IsLocked' });
    expect(err.message).toBe('The store is locked. Unlock it on the console. Item x.');
    expect(err.dbusName).toBe('org.freedesktop.Secret.Error.IsLocked');
  });
});

describe('introspection contract', () => {
  it('parses the checked-in daemon interfaces', () => {
    const req = parseIntrospection(readFileSync('daemon/introspection/net.mowaka.SecretsDispatcher1.xml', 'utf8')).get(REQUEST_INTERFACE)!;
    expect(req.methods.get('GetSecrets')).toMatchObject({ inSignature: 'asa{sv}', outSignature: 'a(says)' });
    expect(req.methods.get('Sign')).toMatchObject({ inSignature: 'aysa{sv}', outSignature: 'sa{sv}' });
    expect(req.methods.get('Lock')).toMatchObject({ inSignature: '', outSignature: '' });
    const con = parseIntrospection(readFileSync('daemon/introspection/net.mowaka.SecretsDispatcher1.Console.xml', 'utf8')).get(CONSOLE_INTERFACE)!;
    expect(con.signals.get('Changed')?.signature).toBe('t');
    expect(con.methods.get('Decide')?.inSignature).toBe('ssu');
  });
});

describe('version', () => {
  it('agrees with package.json', () => {
    expect(VERSION).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });
});

describe('help text wrapping', () => {
  it('breaks long lines between words and keeps the given line breaks', async () => {
    const { wrapText } = await import('../../core/command-line.js');
    const text = `usage line\n\n${'word '.repeat(30).trim()}`;
    const lines = wrapText(text, 40).split('\n');
    expect(lines.slice(0, 2)).toEqual(['usage line', '']);
    expect(lines.slice(2).every((l) => l.length <= 40 && !l.startsWith(' ') && /^(word ?)+$/.test(l))).toBe(true);
    expect(lines.slice(2).join(' ')).toBe('word '.repeat(30).trim());
  });
});
