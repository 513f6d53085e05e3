// Claimed context versus the payload, and which stored key a -u argument names.
import { describe, expect, it } from 'vitest';
import { checkClaims } from '../../daemon/signing/claims.js';
import { parsePayload } from '../../daemon/signing/payload.js';
import { selectKey } from '../../daemon/signing/key-select.js';
import { isSdError } from '../../core/errors.js';
import type { KeyRecord } from '../../daemon/store/types.js';

const TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
const commit = parsePayload(Buffer.from(`tree ${TREE}\nauthor Ada <ada@example.org> 1700000000 +0100\ncommitter Ada <ada@example.org> 1700000000 +0100\n\nAdd parser\n`));
const tag = parsePayload(Buffer.from(`object ${TREE}\ntype commit\ntag v1\ntagger Ada <ada@example.org> 1 +0000\n\nv1\n`));

describe('checkClaims', () => {
  it('what_sd_gpg_reports_is_kept_apart_and_agrees', () => {
    const files = JSON.stringify([[3, 1, 'src/a.ts'], [null, null, 'logo.png']]);
    const { reported, contradictions } = checkClaims(commit, { repository: '/home/ada/p', branch: 'main', files, filesTree: TREE });
    expect(reported).toEqual({ repository: '/home/ada/p', branch: 'main', files: [{ added: 3, removed: 1, path: 'src/a.ts' }, { added: null, removed: null, path: 'logo.png' }] });
    expect(contradictions).toEqual([]);
  });

  it('claims_that_contradict_the_payload_are_flagged', () => {
    const { contradictions } = checkClaims(commit, {
      author: 'Mallory <m@example.org>',
      committer: 'Ada <ada@example.org>',
      message: 'Harmless typo fix',
      kind: 'tag',
      files: JSON.stringify([[1, 0, 'README']]),
      filesTree: '0'.repeat(40),
    });
    expect(contradictions).toHaveLength(4);
    expect(contradictions.join('\n')).toMatch(/claimed author "Mallory <m@example.org>", the payload says "Ada <ada@example.org>"/);
    expect(contradictions.join('\n')).toMatch(/claimed message "Harmless typo fix" differs/);
    expect(contradictions.join('\n')).toMatch(/claimed to be a "tag", the payload is a commit/);
    expect(contradictions.join('\n')).toMatch(/describe tree "0{40}", the payload has tree 4b825dc/);
  });

  it('files_reported_for_a_tag_or_without_a_tree_are_flagged', () => {
    expect(checkClaims(tag, { files: '[]' }).contradictions.join()).toMatch(/payload is a tag/);
    expect(checkClaims(commit, { files: '[]' }).contradictions.join()).toMatch(/do not say which tree/);
    expect(checkClaims(commit, { files: '{bad' }).contradictions.join()).toMatch(/not valid JSON/);
  });

  it('escape_sequences_in_file_names_are_data_not_contradictions', () => {
    const name = 'evil\x1b[2J\u202Efile.txt';
    const { reported, contradictions } = checkClaims(commit, { files: JSON.stringify([[1, 0, name]]), filesTree: TREE });
    expect(reported.files?.[0]?.path).toBe(name);
    expect(contradictions).toEqual([]);
  });
});

const keys: KeyRecord[] = [
  { fingerprint: 'AAAA0000BBBB1111CCCC2222DDDD3333EEEE4444', keyId: 'DDDD3333EEEE4444', userIds: ['Ada Lovelace <ada@example.org>'], algorithm: 'ed25519', created: 1 },
  { fingerprint: '1234567890ABCDEF1234567890ABCDEF12345678', keyId: '1234567890ABCDEF', userIds: ['Bob <bob@example.org>', 'Bob Work <bob@work.example>'], algorithm: 'rsa3072', created: 1,
    subkeys: ['5555666677778888999900001111222233334444', 'FFFF0000FFFF0000FFFF0000ABCDABCDABCDABCD'] },
];

function expectNoSuchKey(fn: () => unknown): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isSdError(err, 'NoSuchKey')).toBe(true);
}

describe('selectKey', () => {
  it('by_fingerprint_key_id_and_short_id', () => {
    expect(selectKey(keys, '1234567890ABCDEF1234567890ABCDEF12345678')).toEqual({ key: keys[1], exact: null });
    expect(selectKey(keys, '0xdddd3333eeee4444').key.keyId).toBe('DDDD3333EEEE4444');
    expect(selectKey(keys, 'EEEE4444!')).toEqual({ key: keys[0], exact: 'AAAA0000BBBB1111CCCC2222DDDD3333EEEE4444' });
  });

  it('by_subkey_id_the_key_that_holds_it_and_with_bang_exactly_that_subkey', () => {
    expect(selectKey(keys, '0x1111222233334444')).toEqual({ key: keys[1], exact: null });
    expect(selectKey(keys, 'abcdabcd!')).toEqual({ key: keys[1], exact: 'FFFF0000FFFF0000FFFF0000ABCDABCDABCDABCD' });
    // A record stored before subkeys were recorded simply does not match them.
    expectNoSuchKey(() => selectKey([keys[0]!], '1111222233334444'));
  });

  it('by_committer_ident_as_git_passes_it_without_signingkey', () => {
    expect(selectKey(keys, 'Robert <BOB@work.example>').key.keyId).toBe('1234567890ABCDEF');
    expect(selectKey(keys, 'ada@example.org').key.keyId).toBe('DDDD3333EEEE4444');
    expect(selectKey(keys, 'lovelace').key.keyId).toBe('DDDD3333EEEE4444');
  });

  it('empty_spec_means_the_only_key', () => {
    expect(selectKey([keys[0]!], '').key.keyId).toBe('DDDD3333EEEE4444');
    expectNoSuchKey(() => selectKey(keys, ''));
    expectNoSuchKey(() => selectKey([], ''));
    expectNoSuchKey(() => selectKey(keys, 'nobody@example.org'));
  });
});
