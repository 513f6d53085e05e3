// The clock integration tests move (daemon/test-clock.ts): it only ever moves forward by the file's
// offset, and a file someone else could write, a symlink or junk stops the daemon from starting.
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clockFromEnvironment, TEST_CLOCK_ENV } from '../../daemon/test-clock.js';

const dir = mkdtempSync(join(tmpdir(), 'sd-clock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const base = { wall: () => 1_000_000, boot: () => 5_000 };
const file = (name: string, text: string, mode = 0o600) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
};

describe('the test clock', () => {
  it('is the system clock without the variable', () => {
    expect(clockFromEnvironment({}, base)).toBe(base);
  });

  it('moves both clocks by the offset in the file, re-read on every call', () => {
    const path = file('ok', '0');
    const clock = clockFromEnvironment({ [TEST_CLOCK_ENV]: path }, base);
    expect([clock.wall(), clock.boot()]).toEqual([1_000_000, 5_000]);
    writeFileSync(path, '600000\n');
    expect([clock.wall(), clock.boot()]).toEqual([1_600_000, 605_000]);
  });

  it('refuses a file others may write, a symlink, and anything but a whole number', () => {
    expect(() => clockFromEnvironment({ [TEST_CLOCK_ENV]: file('shared', '0', 0o622) }, base)).toThrow(expect.objectContaining({ code: 'Config', message: expect.stringContaining('writable by it alone') }));
    const link = join(dir, 'link');
    symlinkSync(file('target', '0'), link);
    expect(() => clockFromEnvironment({ [TEST_CLOCK_ENV]: link }, base)).toThrow(expect.objectContaining({ code: 'Config', message: expect.stringContaining('symlink') }));
    for (const junk of ['-5', '1e9', '', '12 34', '9'.repeat(20), '\x1b[2J']) {
      expect(() => clockFromEnvironment({ [TEST_CLOCK_ENV]: file(`junk${junk.length}`, junk) }, base)).toThrow(expect.objectContaining({ code: 'Config' }));
    }
    expect(() => clockFromEnvironment({ [TEST_CLOCK_ENV]: join(dir, 'missing') }, base)).toThrow(expect.objectContaining({ code: 'Config' }));
  });
});
