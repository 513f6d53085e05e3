// sd-gpg's argument allowlist: what git passes is a sign request; anything else signing-related is
// refused; everything else goes to the real gpg.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGpgArgs } from '../../gpg-client/args.cjs';
import { dearmor, findRealGpg, SIGN_PAYLOAD_LIMIT } from '../../gpg-client/main.cjs';
import { commitTreeAndParent } from '../../gpg-client/context.cjs';
import { LIMITS } from '../../core/limits.js';

describe('parseGpgArgs', () => {
  it('what_git_passes_for_commits_tags_and_push_certs', () => {
    expect(parseGpgArgs(['--status-fd=2', '-bsau', 'ABCDEF0123456789'])).toEqual({ kind: 'sign', keySpec: 'ABCDEF0123456789', statusFd: 2, armor: true });
    expect(parseGpgArgs(['-bsau', 'Ada <ada@example.org>'])).toEqual({ kind: 'sign', keySpec: 'Ada <ada@example.org>', statusFd: null, armor: true });
    expect(parseGpgArgs(['--status-fd', '1', '--detach-sign', '--armor', '--local-user', 'K'])).toEqual({ kind: 'sign', keySpec: 'K', statusFd: 1, armor: true });
    expect(parseGpgArgs(['--local-user=K', '-b', '-s', '-a'])).toMatchObject({ kind: 'sign', keySpec: 'K' });
    expect(parseGpgArgs(['-bsuKEY'])).toMatchObject({ kind: 'sign', keySpec: 'KEY', armor: false });
    expect(parseGpgArgs(['-bs', '-u', 'K', '-'])).toMatchObject({ kind: 'sign', keySpec: 'K' });
    expect(parseGpgArgs(['--batch', '--no-tty', '-bsa'])).toMatchObject({ kind: 'sign', keySpec: '' });
  });

  it('non_signing_command_lines_go_to_gpg', () => {
    for (const args of [['--verify', 'sig', '-'], ['--list-keys'], ['--version'], ['--status-fd=1', '--verify', 'x', '-'], ['-k'], [], ['--keyid-format=long', '--verify', 'f', '-']]) {
      expect(parseGpgArgs(args)).toEqual({ kind: 'passthrough' });
    }
  });

  it('signing_with_anything_outside_the_allowlist_is_refused', () => {
    const cases: string[][] = [
      ['-bsau', 'K', 'file.txt'],
      ['-sau', 'K'],
      ['--clearsign', '-u', 'K'],
      ['-bsau', 'K', '-o', 'out.sig'],
      ['-bsa', '--output', 'x'],
      ['-bsa', '-r', 'someone'],
      ['-bsa', '--homedir', '/tmp/x'],
      ['-bsa', '--status-fd=two'],
      ['-bsa', '--', 'file'],
    ];
    for (const args of cases) {
      const parsed = parseGpgArgs(args);
      expect(parsed.kind, args.join(' ')).toBe('refuse');
    }
    const refused = parseGpgArgs(['-bsau', 'K', '--output', 'x']);
    expect(refused.kind === 'refuse' && refused.reason).toMatch(/--output/);
  });
});

describe('sd-gpg helpers', () => {
  it('payload_cap_matches_core_limits', () => {
    expect(SIGN_PAYLOAD_LIMIT).toBe(LIMITS.signPayloadBytes);
  });

  it('dearmor_gives_the_binary_packet', () => {
    const bin = Buffer.from([0x88, 0x75, 1, 2, 3, 4, 5]);
    const armored = `-----BEGIN PGP SIGNATURE-----\n\n${bin.toString('base64')}\n=abcd\n-----END PGP SIGNATURE-----\n`;
    expect(dearmor(armored)).toEqual(bin);
  });

  it('tree_and_parent_from_a_commit_payload', () => {
    const t = 'a'.repeat(40);
    const p = 'b'.repeat(40);
    expect(commitTreeAndParent(Buffer.from(`tree ${t}\nparent ${p}\nparent ${'c'.repeat(40)}\nauthor x\n\nm`))).toEqual({ tree: t, parent: p });
    expect(commitTreeAndParent(Buffer.from(`tree ${t}\nauthor x\n\nm`))).toEqual({ tree: t, parent: null });
    expect(commitTreeAndParent(Buffer.from(`object ${t}\ntype commit\n`))).toBeNull();
  });

  it('finds_the_real_gpg_skipping_itself', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-path-'));
    try {
      const self = join(dir, 'sd-gpg');
      writeFileSync(self, '#!/bin/sh\n');
      chmodSync(self, 0o755);
      mkdirSync(join(dir, 'a'));
      mkdirSync(join(dir, 'b'));
      symlinkSync(self, join(dir, 'a', 'gpg'));
      writeFileSync(join(dir, 'b', 'gpg'), '#!/bin/sh\n');
      chmodSync(join(dir, 'b', 'gpg'), 0o755);
      expect(findRealGpg([self], `${join(dir, 'a')}:${join(dir, 'b')}`)).toBe(join(dir, 'b', 'gpg'));
      expect(findRealGpg([self], join(dir, 'a'))).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
