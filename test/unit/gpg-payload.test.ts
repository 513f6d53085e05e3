// The payload parser: what the console shows must come from the bytes that get signed.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePayload, headerValue, describePayload } from '../../daemon/signing/payload.js';
import { isSdError } from '../../core/errors.js';

const TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
const PARENT = '1111111111111111111111111111111111111111';

function commitPayload(message: string, extra = ''): Buffer {
  return Buffer.from(`tree ${TREE}\nparent ${PARENT}\nauthor Ada <ada@example.org> 1700000000 +0100\ncommitter Bob <bob@example.org> 1700000001 +0000\n${extra}\n${message}`);
}

function expectBadPayload(fn: () => unknown, code = 'BadPayload'): void {
  try {
    fn();
  } catch (err) {
    expect(isSdError(err, code as never)).toBe(true);
    return;
  }
  throw new Error('expected a BadPayload error');
}

describe('parsePayload', () => {
  it('commit_fields_in_payload_order', () => {
    const parsed = parsePayload(commitPayload('Fix the frobnicator\n\nLonger body.\n'));
    expect(parsed.kind).toBe('commit');
    expect(parsed.headers.map(([n]) => n)).toEqual(['tree', 'parent', 'author', 'committer']);
    expect(headerValue(parsed, 'author')).toBe('Ada <ada@example.org> 1700000000 +0100');
    expect(parsed.message).toBe('Fix the frobnicator\n\nLonger body.\n');
    expect(parsed.encoding).toBe('UTF-8');
    expect(parsed.anomalies).toEqual([]);
    expect(describePayload(parsed)).toBe('commit "Fix the frobnicator"');
  });

  it('commit_with_latin1_encoding_header_decodes_the_message', () => {
    const head = Buffer.from(`tree ${TREE}\nauthor Ren\xe9 <r@example.org> 1 +0000\ncommitter Ren\xe9 <r@example.org> 1 +0000\nencoding ISO-8859-1\n\n`, 'latin1');
    const parsed = parsePayload(Buffer.concat([head, Buffer.from([0x43, 0x61, 0x66, 0xe9, 0x0a])]));
    expect(parsed.encoding).toBe('ISO-8859-1');
    expect(parsed.message).toBe('Café\n');
    expect(headerValue(parsed, 'author')).toBe('René <r@example.org> 1 +0000');
    expect(parsed.anomalies).toEqual([]);
  });

  it('commit_claiming_utf8_with_invalid_bytes_is_flagged', () => {
    const parsed = parsePayload(Buffer.concat([commitPayload(''), Buffer.from([0xff, 0xfe, 0x0a])]));
    expect(parsed.anomalies.join()).toMatch(/not valid UTF-8/);
    expect(parsed.message).toContain('\ufffd');
  });

  it('unknown_encoding_is_flagged_and_shown_as_utf8', () => {
    const parsed = parsePayload(commitPayload('hi\n', 'encoding x-made-up\n'));
    expect(parsed.anomalies.join()).toMatch(/unknown encoding "x-made-up"/);
    expect(parsed.message).toBe('hi\n');
  });

  it('escape_sequences_and_bidi_overrides_stay_data', () => {
    const hostile = 'Innocent\x1b[2K\r\x1b[1A\x1b]0;title\x07 \u202Eevil\u202C\n';
    const parsed = parsePayload(commitPayload(hostile));
    expect(parsed.message).toBe(hostile);
    expect(parsed.anomalies).toEqual([]);
  });

  it('merge_commit_with_mergetag_continuation_lines', () => {
    const extra = `parent ${'2'.repeat(40)}\nmergetag object ${'3'.repeat(40)}\n type commit\n tag v1\n tagger T <t@x> 1 +0000\n \n tag message\n`;
    const parsed = parsePayload(commitPayload('Merge tag v1\n', extra));
    const mergetag = headerValue(parsed, 'mergetag');
    expect(mergetag).toBe(`object ${'3'.repeat(40)}\ntype commit\ntag v1\ntagger T <t@x> 1 +0000\n\ntag message`);
    expect(parsed.headers.filter(([n]) => n === 'parent')).toHaveLength(2);
  });

  it('tag_fields', () => {
    const parsed = parsePayload(Buffer.from(`object ${PARENT}\ntype commit\ntag v1.0\ntagger Ada <ada@example.org> 1700000000 +0000\n\nRelease 1.0\n`));
    expect(parsed.kind).toBe('tag');
    expect(headerValue(parsed, 'tag')).toBe('v1.0');
    expect(parsed.message).toBe('Release 1.0\n');
    expect(describePayload(parsed)).toBe('tag v1.0');
  });

  it('push_certificate_fields', () => {
    const cert = `certificate version 0.1\npusher Ada <ada@example.org> 1700000000 +0000\npushee https://example.org/r.git\nnonce 1700000000-abc\n\n${'0'.repeat(40)} ${PARENT} refs/heads/main\n`;
    const parsed = parsePayload(Buffer.from(cert));
    expect(parsed.kind).toBe('push-cert');
    expect(headerValue(parsed, 'pushee')).toBe('https://example.org/r.git');
    expect(parsed.message).toContain('refs/heads/main');
  });

  it('commit_with_empty_message', () => {
    const parsed = parsePayload(commitPayload(''));
    expect(parsed.message).toBe('');
  });

  it('refuses_anything_else', () => {
    expectBadPayload(() => parsePayload(Buffer.from('hello world\n')));
    expectBadPayload(() => parsePayload(Buffer.from('')));
    expectBadPayload(() => parsePayload(Buffer.from(' tree x\n\nmsg')));
    expectBadPayload(() => parsePayload(Buffer.from(`tree ${TREE}\n\nno author`)));
    expectBadPayload(() => parsePayload(Buffer.from(`tree ${TREE}\nauthor a\nauthor b\ncommitter c\n\nx`)));
    expectBadPayload(() => parsePayload(Buffer.from(`tree ${TREE}\nAuthor: a\n\nx`)));
  });

  it('refuses_oversized_payloads_with_TooLarge', () => {
    expectBadPayload(() => parsePayload(Buffer.alloc(8 * 1024 * 1024 + 1, 0x61)), 'TooLarge');
  });

  it('nul_bytes_are_flagged', () => {
    const parsed = parsePayload(commitPayload('a\0b\n'));
    expect(parsed.anomalies.join()).toMatch(/NUL/);
  });

  it('parses_what_real_git_writes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-payload-'));
    try {
      const git = (...args: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.name=Zoë', '-c', 'user.email=z@example.org', ...args]);
      git('init', '-q');
      writeFileSync(join(dir, 'f.txt'), 'x\n');
      git('add', 'f.txt');
      git('-c', 'i18n.commitEncoding=ISO-8859-1', 'commit', '-q', '-m', 'Grüße aus Köln');
      const raw = git('cat-file', 'commit', 'HEAD');
      const parsed = parsePayload(raw);
      expect(parsed.kind).toBe('commit');
      expect(parsed.encoding).toBe('ISO-8859-1');
      // git labels without transcoding: the UTF-8 bytes are shown as Latin-1, as git log will, and flagged.
      expect(parsed.message).toBe(Buffer.from('Grüße aus Köln\n').toString('latin1'));
      expect(parsed.anomalies.join()).toMatch(/labelled ISO-8859-1 but its bytes are UTF-8/);
      git('tag', '-a', 'v1', '-m', 'first');
      const tag = parsePayload(git('cat-file', 'tag', 'v1'));
      expect(tag.kind).toBe('tag');
      expect(headerValue(tag, 'tag')).toBe('v1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
