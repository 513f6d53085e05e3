// What a signing client says about the payload, checked against the payload. sd-gpg reports
// facts the bytes cannot carry (repository path, branch, changed files); any client may also
// describe the payload itself (author, message, ...). The console shows the payload's fields and
// the reported facts marked as reported; every place the two disagree becomes a contradiction the
// human sees. Claimed values stay `untrusted*`: they are shown, never believed.
import type { ChangedFile, SignDetails } from '../../core/wire.js';
import { headerValue, type ParsedPayload } from './payload.js';

/** Context keys sd-gpg sends (all strings, see gpg-client/context.cts). */
export const CLAIM_KEYS = {
  repository: 'repository',
  branch: 'branch',
  /** JSON: [[added|null, removed|null, path], ...] */
  files: 'files',
  /** The tree the file list was computed for; must be the payload's tree. */
  filesTree: 'filesTree',
  /** Files left out of `files` to stay under the context size limit. */
  filesOmitted: 'filesOmitted',
  /** "1": sign only under a remembered decision, else fail with NotRemembered (sd-gpg's first try). */
  rememberedOnly: 'rememberedOnly',
} as const;

const MAX_FILES = 2000;
const IDENTITY_HEADERS = ['author', 'committer', 'tagger', 'pusher'] as const;

/** "Name <email>" without git's trailing "<seconds> <tz>". */
export function identityOf(headerValueText: string): string {
  return headerValueText.replace(/ -?\d+ [+-]\d{4}$/, '');
}

function quote(text: string, max = 120): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

function parseFiles(untrustedFiles: string, contradictions: string[]): ChangedFile[] | undefined {
  let decoded: unknown;
  try {
    decoded = JSON.parse(untrustedFiles);
  } catch {
    contradictions.push('the reported file list is not valid JSON; not shown');
    return undefined;
  }
  if (!Array.isArray(decoded)) {
    contradictions.push('the reported file list is not a list; not shown');
    return undefined;
  }
  const files: ChangedFile[] = [];
  const count = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : null);
  for (const entry of decoded.slice(0, MAX_FILES)) {
    if (!Array.isArray(entry) || typeof entry[2] !== 'string') {
      contradictions.push('the reported file list has malformed entries; not shown');
      return undefined;
    }
    files.push({ added: count(entry[0]), removed: count(entry[1]), path: entry[2] });
  }
  return files;
}

export interface CheckedClaims {
  reported: SignDetails['reported'];
  contradictions: string[];
}

/**
 * Compare the claimed context with the payload. The parser's own findings about the bytes
 * (encoding, NUL) are listed first, since they change what the human is looking at.
 */
export function checkClaims(parsed: ParsedPayload, untrustedClaims: Record<string, string>): CheckedClaims {
  const contradictions = parsed.anomalies.map((a) => `payload: ${a}`);
  const reported: SignDetails['reported'] = {};
  const untrustedRepository = untrustedClaims[CLAIM_KEYS.repository];
  const untrustedBranch = untrustedClaims[CLAIM_KEYS.branch];
  if (untrustedRepository) reported.repository = untrustedRepository;
  if (untrustedBranch) reported.branch = untrustedBranch;

  const untrustedFiles = untrustedClaims[CLAIM_KEYS.files];
  if (untrustedFiles !== undefined) {
    const files = parseFiles(untrustedFiles, contradictions);
    if (files) {
      reported.files = files;
      const untrustedTree = untrustedClaims[CLAIM_KEYS.filesTree];
      const tree = headerValue(parsed, 'tree');
      if (parsed.kind !== 'commit') contradictions.push(`changed files were reported, but the payload is a ${parsed.kind}, not a commit`);
      else if (!untrustedTree) contradictions.push('the reported changed files do not say which tree they describe');
      else if (untrustedTree !== tree) contradictions.push(`the reported changed files describe tree ${quote(untrustedTree, 40)}, the payload has tree ${tree}`);
      const untrustedOmitted = untrustedClaims[CLAIM_KEYS.filesOmitted];
      if (untrustedOmitted) contradictions.push(`the reported file list is incomplete: ${quote(untrustedOmitted, 12)} more files were left out`);
    }
  }

  const untrustedKind = untrustedClaims.kind;
  if (untrustedKind !== undefined && untrustedKind !== parsed.kind) contradictions.push(`claimed to be a ${quote(untrustedKind, 20)}, the payload is a ${parsed.kind}`);
  for (const name of IDENTITY_HEADERS) {
    const untrustedIdentity = untrustedClaims[name];
    if (untrustedIdentity === undefined) continue;
    const actual = headerValue(parsed, name);
    if (actual === undefined) contradictions.push(`claimed ${name} ${quote(untrustedIdentity)}, the payload has no ${name}`);
    else if (untrustedIdentity !== actual && untrustedIdentity !== identityOf(actual)) {
      contradictions.push(`claimed ${name} ${quote(untrustedIdentity)}, the payload says ${quote(identityOf(actual))}`);
    }
  }
  const untrustedMessage = untrustedClaims.message;
  if (untrustedMessage !== undefined && untrustedMessage.trimEnd() !== parsed.message.trimEnd()) {
    contradictions.push(`claimed message ${quote(untrustedMessage.split('\n', 1)[0] ?? '')} differs from the payload's message`);
  }
  const untrustedTag = untrustedClaims.tag;
  if (untrustedTag !== undefined && untrustedTag !== headerValue(parsed, 'tag')) {
    contradictions.push(`claimed tag ${quote(untrustedTag, 60)}, the payload says ${quote(headerValue(parsed, 'tag') ?? '(none)', 60)}`);
  }
  return { reported, contradictions };
}
