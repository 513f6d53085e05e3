// What will be signed, read from the exact bytes git hands to gpg (what you see is what you sign).
// The console shows these fields, never the client's description of them. Header values and the
// message are decoded with the object's own `encoding` header, as git itself does when it shows a
// commit; nothing here interprets control characters or escape sequences: they stay data, and the
// console renders them inert.
import { SdError } from '../../core/errors.js';
import { LIMITS } from '../../core/limits.js';
import type { SignDetails } from '../../core/wire.js';

export type PayloadKind = SignDetails['payloadKind'];

export interface ParsedPayload {
  kind: Exclude<PayloadKind, 'unknown'>;
  /** Header fields in payload order; continuation lines (mergetag, multi-line values) joined with \n. */
  headers: Array<[string, string]>;
  message: string;
  /** The encoding the text was decoded with (the `encoding` header, else UTF-8). */
  encoding: string;
  /** Things about the bytes themselves the human should know (bad encoding, NUL bytes). */
  anomalies: string[];
}

// The first header line decides the kind; git writes these in a fixed order.
const FIRST_HEADER: Record<string, ParsedPayload['kind']> = {
  tree: 'commit',
  object: 'tag',
  certificate: 'push-cert',
};

function isNonAsciiUtf8(bytes: Buffer): boolean {
  if (!bytes.some((b) => b >= 0x80)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

const HEADER_NAME = /^[a-z][a-z0-9-]*$/;
const LF = 0x0a;

interface RawHeader { name: string; value: Buffer }

/** Split the header block into name/value pairs; null when it is not git's header syntax. */
function splitHeaders(block: Buffer): RawHeader[] | null {
  const headers: RawHeader[] = [];
  let start = 0;
  while (start < block.length) {
    let end = block.indexOf(LF, start);
    if (end < 0) end = block.length;
    const line = block.subarray(start, end);
    start = end + 1;
    if (line[0] === 0x20) {
      // A continuation line (mergetag, gpgsig of a merged tag): part of the previous value.
      const prev = headers.at(-1);
      if (!prev) return null;
      prev.value = Buffer.concat([prev.value, Buffer.from('\n'), line.subarray(1)]);
      continue;
    }
    const space = line.indexOf(0x20);
    const name = line.subarray(0, space < 0 ? line.length : space).toString('latin1');
    if (!HEADER_NAME.test(name)) return null;
    headers.push({ name, value: space < 0 ? Buffer.alloc(0) : line.subarray(space + 1) });
  }
  return headers;
}

const UTF8 = 'UTF-8';
// Encodings WHATWG folds into windows-1252 are decoded as true ISO-8859-1 by Node instead, so
// C1 control bytes stay controls (and are shown inert) rather than turning into printable glyphs.
const LATIN1_LABELS = new Set(['iso-8859-1', 'iso8859-1', 'latin1', 'latin-1', 'l1', 'iso_8859-1', 'cp819', 'ibm819']);

interface Decoder { name: string; decode(bytes: Buffer): string; strict(bytes: Buffer): boolean }

function decoderFor(untrustedLabel: string | null, anomalies: string[]): Decoder {
  const utf8: Decoder = {
    name: UTF8,
    decode: (b) => new TextDecoder('utf-8').decode(b),
    strict: (b) => {
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(b);
        return true;
      } catch {
        return false;
      }
    },
  };
  if (untrustedLabel === null) return utf8;
  const label = untrustedLabel.trim().toLowerCase();
  if (LATIN1_LABELS.has(label)) return { name: 'ISO-8859-1', decode: (b) => b.toString('latin1'), strict: () => true };
  try {
    const probe = new TextDecoder(label);
    return {
      name: probe.encoding,
      decode: (b) => new TextDecoder(label).decode(b),
      strict: (b) => {
        try {
          new TextDecoder(label, { fatal: true }).decode(b);
          return true;
        } catch {
          return false;
        }
      },
    };
  } catch {
    anomalies.push(`unknown encoding ${JSON.stringify(untrustedLabel.slice(0, 64))}; shown as UTF-8`);
    return utf8;
  }
}

/**
 * Parse a commit, tag or push certificate. Anything else is refused with BadPayload: a signature
 * over bytes the human cannot be shown meaningfully is exactly what this project exists to stop.
 */
export function parsePayload(untrustedPayload: Buffer): ParsedPayload {
  if (untrustedPayload.length > LIMITS.signPayloadBytes) {
    throw new SdError('TooLarge', `payload is ${untrustedPayload.length} bytes (limit ${LIMITS.signPayloadBytes}).`);
  }
  if (untrustedPayload.length === 0) throw new SdError('BadPayload', 'The payload is empty.');
  // Headers end at the first empty line; a tag or commit may have an empty message (no blank line).
  const blank = untrustedPayload.indexOf('\n\n');
  const headerEnd = blank < 0 ? untrustedPayload.length : blank;
  let headerBlock = untrustedPayload.subarray(0, headerEnd);
  if (blank < 0 && headerBlock.at(-1) === LF) headerBlock = headerBlock.subarray(0, headerBlock.length - 1);
  const messageBytes = blank < 0 ? Buffer.alloc(0) : untrustedPayload.subarray(blank + 2);
  const raw = splitHeaders(headerBlock);
  const first = raw?.[0]?.name;
  const kind = first === undefined ? undefined : FIRST_HEADER[first];
  if (!raw || !kind) throw new SdError('BadPayload', 'The first line is not "tree", "object" or "certificate".');
  checkRequired(kind, raw);

  const anomalies: string[] = [];
  const encodingHeader = kind === 'commit' ? raw.find((h) => h.name === 'encoding') : undefined;
  const decoder = decoderFor(encodingHeader ? encodingHeader.value.toString('latin1') : null, anomalies);
  if (!decoder.strict(untrustedPayload)) {
    anomalies.push(`the payload is not valid ${decoder.name}; undecodable bytes are shown as U+FFFD`);
  }
  else if (decoder.name !== UTF8 && isNonAsciiUtf8(untrustedPayload)) {
    // git does not transcode on commit: i18n.commitEncoding only labels the bytes, so UTF-8 text
    // labelled Latin-1 is common, and `git log` will show it garbled exactly as decoded here.
    anomalies.push(`the text is labelled ${decoder.name} but its bytes are UTF-8; git log shows it as ${decoder.name} (as here)`);
  }
  if (untrustedPayload.includes(0)) anomalies.push('the payload contains NUL bytes, which git would not show');
  return {
    kind,
    headers: raw.map((h) => [h.name, decoder.decode(h.value)]),
    message: decoder.decode(messageBytes),
    encoding: decoder.name,
    anomalies,
  };
}

const REQUIRED: Record<ParsedPayload['kind'], string[]> = {
  commit: ['tree', 'author', 'committer'],
  tag: ['object', 'type', 'tag'],
  'push-cert': ['certificate', 'pusher'],
};

function checkRequired(kind: ParsedPayload['kind'], raw: RawHeader[]): void {
  for (const name of REQUIRED[kind]) {
    if (!raw.some((h) => h.name === name)) throw new SdError('BadPayload', `A ${kind} payload needs a "${name}" header.`);
  }
  const once = kind === 'commit' ? ['tree', 'author', 'committer', 'encoding'] : kind === 'tag' ? ['object', 'type', 'tag', 'tagger'] : ['certificate', 'pusher'];
  for (const name of once) {
    if (raw.filter((h) => h.name === name).length > 1) throw new SdError('BadPayload', `The "${name}" header appears more than once.`);
  }
}

/** The first value of a header, if present. */
export function headerValue(parsed: Pick<ParsedPayload, 'headers'>, name: string): string | undefined {
  return parsed.headers.find(([n]) => n === name)?.[1];
}

/** A one-line description for the console summary and the audit target (no message text). */
export function describePayload(parsed: ParsedPayload): string {
  if (parsed.kind === 'commit') {
    const subject = parsed.message.split('\n', 1)[0] ?? '';
    return `commit "${subject.slice(0, 80)}"`;
  }
  if (parsed.kind === 'tag') return `tag ${headerValue(parsed, 'tag')?.slice(0, 80) ?? ''}`;
  return 'push certificate';
}
