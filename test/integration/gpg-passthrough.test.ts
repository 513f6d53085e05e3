// Everything that is not a sign request is the real gpg's business: sd-gpg must be
// indistinguishable from it (same stdout, same exit code) for git's verify paths and for people.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGpgHome, type GpgHome } from '../helpers/gpg-home.js';
import { SD_GPG, start } from '../helpers/gpg-flow.js';

describe('sd-gpg hands non-signing commands to gpg', () => {
  let home: GpgHome;
  let env: NodeJS.ProcessEnv;
  let fpr: string;

  beforeAll(() => {
    home = createGpgHome();
    fpr = home.generate('Pass Through <pt@example.org>', 'ed25519');
    writeFileSync(join(home.dir, 'data'), 'signed data\n');
    writeFileSync(join(home.dir, 'other'), 'other data\n');
    home.gpg(['-u', fpr, '--detach-sign', '-a', '-o', join(home.dir, 'data.asc'), join(home.dir, 'data')]);
    env = { ...home.env, LC_ALL: 'C', TZ: 'UTC' };
  });
  afterAll(() => home?.cleanup());

  async function both(args: string[], input?: string): Promise<void> {
    const viaGpg = await start('gpg', args, { env, cwd: home.dir, input }).done;
    const viaSd = await start(SD_GPG, args, { env, cwd: home.dir, input }).done;
    expect(viaSd.code, `sd-gpg ${args.join(' ')}: ${viaSd.stderr}`).toBe(viaGpg.code);
    expect(viaSd.stdout).toBe(viaGpg.stdout);
    expect(viaSd.stderr).toBe(viaGpg.stderr);
  }

  it('version', () => both(['--version']));
  it('list_keys', () => both(['--list-keys', '--with-colons']));
  it('list_keys_plain', () => both(['--list-keys']));
  it('verify_good_signature_as_git_asks', () => both(['--status-fd=1', '--verify', 'data.asc', '-'], 'signed data\n'));
  it('verify_bad_signature_exits_like_gpg', async () => {
    await both(['--status-fd=1', '--verify', 'data.asc', 'other']);
    const bad = await start(SD_GPG, ['--verify', 'data.asc', 'other'], { env, cwd: home.dir }).done;
    expect(bad.code).toBe(1);
  });
  it('unknown_option_exits_like_gpg', () => both(['--no-such-option']));
});
