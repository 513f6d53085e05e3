// What a newcomer reads from `--help` and from a command typed without its arguments: every
// command's own usage, once, with every option it takes. No bus is touched: help and usage errors
// are answered before any connection.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main as gpgMain } from '../../gpg-client/key-cli.js';

async function capture(run: () => Promise<number>): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => { stdout += String(chunk); return true; });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => { stderr += String(chunk); return true; });
  try {
    const code = await run();
    return { code, stdout, stderr };
  } finally {
    vi.restoreAllMocks();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('secrets-dispatcher gpg SUBCOMMAND --help', () => {
  for (const sub of ['import', 'list', 'export-public', 'generate', 'rm']) {
    it(`${sub}: names the subcommand once in its usage line`, async () => {
      const { code, stdout } = await capture(() => gpgMain([sub, '--help']));
      expect(code).toBe(0);
      const usage = stdout.split('\n')[0]!;
      expect(usage.startsWith(`secrets-dispatcher gpg ${sub}`)).toBe(true);
      expect(usage.split(' ').filter((w) => w === sub)).toHaveLength(1);
    });
  }
});
