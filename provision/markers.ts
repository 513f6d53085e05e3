// Edits of files we do not own (PAM stack, a user's .gitconfig) go between two marker lines, and
// only whole lines are inserted, so removing the block gives back the exact original bytes.
// A file that did not exist is created with a marker that says so, and is deleted on removal.

const BEGIN_ADDED = '# >>> secrets-dispatcher: added by sd-provision, removed by sd-provision --uninstall >>>';
const BEGIN_CREATED = '# >>> secrets-dispatcher: file created by sd-provision, removed by sd-provision --uninstall >>>';
const BEGIN_PREFIX = '# >>> secrets-dispatcher:';
const END = '# <<< secrets-dispatcher <<<';

export interface Block {
  /** Index of the first byte that belongs to the block (a leading newline we added included). */
  start: number;
  /** Index after the last byte that belongs to the block. */
  end: number;
  body: string;
  created: boolean;
}

function lineStart(text: string, index: number): boolean {
  return index === 0 || text[index - 1] === '\n';
}

export function findBlock(text: string): Block | null {
  let begin = text.indexOf(BEGIN_PREFIX);
  while (begin !== -1 && !lineStart(text, begin)) begin = text.indexOf(BEGIN_PREFIX, begin + 1);
  if (begin === -1) return null;
  const beginLineEnd = text.indexOf('\n', begin);
  if (beginLineEnd === -1) return null;
  const beginLine = text.slice(begin, beginLineEnd);
  let endAt = text.indexOf(END, beginLineEnd + 1);
  while (endAt !== -1 && !lineStart(text, endAt)) endAt = text.indexOf(END, endAt + 1);
  if (endAt === -1) return null;
  const body = text.slice(beginLineEnd + 1, endAt);
  let start = begin;
  let end = endAt + END.length;
  if (text[end] === '\n') end += 1;
  // A block at the end of a file that had no final newline was joined with one newline of ours.
  else if (start > 0) start -= 1;
  return { start, end, body, created: beginLine === BEGIN_CREATED };
}

function block(body: string, created: boolean): string {
  const text = body.endsWith('\n') || body === '' ? body : `${body}\n`;
  return `${created ? BEGIN_CREATED : BEGIN_ADDED}\n${text}${END}`;
}

/**
 * The file's text with our block holding `body`. `original` null means the file does not exist.
 * The block goes right after the first line equal to `anchorLine` when there is one, else at the
 * end; an existing block is replaced in place.
 */
export function withBlock(original: string | null, body: string, anchorLine?: string): string {
  if (original === null) return `${block(body, true)}\n`;
  const existing = findBlock(original);
  if (existing) {
    const atEofWithoutNewline = !original.slice(existing.start, existing.end).endsWith('\n');
    const replacement = block(body, existing.created);
    return atEofWithoutNewline
      ? `${original.slice(0, existing.start)}\n${replacement}${original.slice(existing.end)}`
      : `${original.slice(0, existing.start)}${replacement}\n${original.slice(existing.end)}`;
  }
  if (anchorLine !== undefined) {
    const lines = original.split('\n');
    let offset = 0;
    for (let i = 0; i < lines.length - 1; i += 1) {
      const line = lines[i]!;
      offset += line.length + 1;
      if (line === anchorLine) return `${original.slice(0, offset)}${block(body, false)}\n${original.slice(offset)}`;
    }
  }
  if (original === '' || original.endsWith('\n')) return `${original}${block(body, false)}\n`;
  return `${original}\n${block(body, false)}`;
}

/** The file's text without our block; `delete` when the file was ours alone. */
export function withoutBlock(text: string): { text: string; delete: boolean } | null {
  const found = findBlock(text);
  if (!found) return null;
  const rest = text.slice(0, found.start) + text.slice(found.end);
  return { text: rest, delete: found.created && rest === '' };
}
