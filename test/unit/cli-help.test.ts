// What a newcomer reads from `--help` and from a command typed without its arguments: every
// command's own usage, once, with every option it takes. No bus is touched: help and usage errors
// are answered before any connection.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main as gpgMain } from '../../gpg-client/key-cli.js';
import { main as secretMain } from '../../cli/secret-cli.js';
import { main as gitMain } from '../../gpg-client/git-setup.js';
import { main as provisionMain } from '../../provision/main.js';
import { desktopUserForCheck } from '../../provision/inputs.js';

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

describe('secrets-dispatcher get|set|list|rm --help', () => {
  const takes: Record<string, string[]> = {
    get: ['--json', '--reason'],
    set: ['--label', '--tier', '--json', '--reason'],
    list: ['--json'],
    rm: ['--json', '--reason'],
  };
  for (const [command, options] of Object.entries(takes)) {
    it(`${command}: lists every option it takes, each on its own line under Options`, async () => {
      const { code, stdout } = await capture(() => secretMain(['--help'], command));
      expect(code).toBe(0);
      const section = stdout.split('\nOptions:\n')[1];
      expect(section).toBeDefined();
      const listed = section!.split('\n').map((l) => /^ {2}(?:-[a-z], )?(--[a-z]+)/.exec(l)?.[1]).filter(Boolean);
      expect(listed.sort()).toEqual([...options, '--help'].sort());
    });
  }

  it('an option a command does not take is refused, not ignored', async () => {
    const { code, stderr } = await capture(() => secretMain(['--label', 'x', 'service=github'], 'get'));
    expect(code).toBe(64);
    expect(stderr).toContain('secrets-dispatcher get: Unknown option "--label".');
  });
});

describe('secrets-dispatcher git', () => {
  it('alone: prints its usage with its subcommands to stderr and exits 64', async () => {
    const { code, stdout, stderr } = await capture(() => gitMain([]));
    expect(code).toBe(64);
    expect(stdout).toBe('');
    expect(stderr).not.toContain('missing setup');
    expect(stderr).toMatch(/^secrets-dispatcher git <command>/m);
    expect(stderr).toMatch(/^ {2}setup \[--global\|--local\] \[--signing-key KEY\]/m);
  });

  it('with an unknown subcommand: names it, then the same usage', async () => {
    const { code, stderr } = await capture(() => gitMain(['stup']));
    expect(code).toBe(64);
    expect(stderr).toContain('unknown command "stup"');
    expect(stderr).toMatch(/^ {2}setup /m);
  });

  it('--help: the same usage on stdout, exit 0', async () => {
    const { code, stdout } = await capture(() => gitMain(['--help']));
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ {2}setup /m);
    expect(stdout).toContain('--signing-key');
  });
});

describe('sd-provision --check: whose installation', () => {
  const me = { uid: 1000, name: 'alice' };
  it('--user wins, then the installed config, then $SUDO_USER', () => {
    expect(desktopUserForCheck({ user: 'bob', installed: 'carol', sudoUser: 'dave', runningAs: me })).toBe('bob');
    expect(desktopUserForCheck({ installed: 'carol', sudoUser: 'dave', runningAs: me })).toBe('carol');
    expect(desktopUserForCheck({ sudoUser: 'dave', runningAs: me })).toBe('dave');
  });

  it('without any of them, a desktop user checks their own setup: no --user needed', () => {
    expect(desktopUserForCheck({ runningAs: me })).toBe('alice');
    expect(desktopUserForCheck({ sudoUser: '', runningAs: me })).toBe('alice');
  });

  it('root with nothing to go on is asked for --user (root is never the desktop user)', () => {
    expect(desktopUserForCheck({ runningAs: { uid: 0, name: 'root' } })).toBeUndefined();
  });

  it('the help shows --user with --check', async () => {
    const { code, stdout } = await capture(() => provisionMain(['--help']));
    expect(code).toBe(0);
    expect(stdout).toMatch(/sd-provision --check \[--user NAME\] \[--json\]/);
  });
});
