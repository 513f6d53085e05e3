import { describe, expect, it } from 'vitest';
import { parseConfig, parseConfigText } from '../../core/config.js';
import { SdError } from '../../core/errors.js';

const minimal = { desktopUser: 'nb', companionUser: 'secrets-nb', stateDir: '/var/lib/secrets-dispatcher/secrets-nb' };

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SdError);
    expect((err as SdError).code).toBe('Config');
    return (err as Error).message;
  }
  throw new Error('expected a Config error');
}

describe('config', () => {
  it('fills the documented defaults', () => {
    const config = parseConfig(minimal);
    expect(config.requestTimeoutSeconds).toBe(300);
    expect(config.rememberMinutes).toBe(10);
    expect(config.maxPendingPerRequester).toBe(50);
    expect(config.console).toEqual({ vt: 8, guardMs: 300, switchToVt: false });
    expect(config.store).toEqual({ argon2MemoryKiB: 65536, argon2Iterations: 3 });
  });

  it('names the key and the bad value', () => {
    const msg = messageOf(() => parseConfig({ ...minimal, requestTimeoutSeconds: -5 }, '/etc/x.json'));
    expect(msg).toContain('/etc/x.json');
    expect(msg).toContain('"requestTimeoutSeconds"');
    expect(msg).toContain('-5');
  });

  it('names a nested key', () => {
    const msg = messageOf(() => parseConfig({ ...minimal, console: { vt: 99 } }));
    expect(msg).toContain('"console.vt"');
    expect(msg).toContain('99');
  });

  it('rejects unknown keys, naming them and the allowed ones', () => {
    const msg = messageOf(() => parseConfig({ ...minimal, requestTimeout: 5 }));
    expect(msg).toContain('unknown key "requestTimeout"');
    expect(msg).toContain('requestTimeoutSeconds');
    const nested = messageOf(() => parseConfig({ ...minimal, console: { tty: 8 } }));
    expect(nested).toContain('unknown key "console.tty"');
    expect(nested).toContain('guardMs');
  });

  it('reports a missing required key', () => {
    const msg = messageOf(() => parseConfig({ desktopUser: 'nb', stateDir: '/x' }));
    expect(msg).toContain('"companionUser"');
    expect(msg).toContain('missing');
  });

  it('reports invalid JSON with the file name', () => {
    expect(messageOf(() => parseConfigText('{ "desktopUser": ', 'cfg.json'))).toMatch(/cfg\.json: not valid JSON/);
  });
});
