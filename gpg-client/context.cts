// What sd-gpg reports about the commit beyond its bytes: the repository path, the branch, and the
// changed files with line counts. The daemon shows these as "reported" (the payload is the only
// thing it believes) and flags them when they disagree with the payload. The file list is computed
// between the payload's own first parent and tree, so it describes exactly the commit being signed
// (not whatever the index holds), and its tree travels along so the daemon can check the match.
import type * as ChildProcess from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * node:child_process, loaded on first use: a signature under a remembered decision starts no child,
 * and loading the module costs about 1 ms of every commit's start-up.
 */
export function childProcess(): typeof ChildProcess {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('node:child_process') as typeof ChildProcess;
}

/** Context values are capped by the daemon at 16 KiB characters each (core/limits.ts). */
const MAX_FILES_JSON = 16 * 1024 - 64;
const EMPTY_TREE: Record<number, string> = {
  40: '4b825dc642cb6eb9a060e54bf8d69288fbee4904',
  64: '6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321',
};

function git(args: string[]): Promise<string | null> {
  return new Promise((done) => {
    childProcess().execFile('git', args, { encoding: 'latin1', maxBuffer: 16 * 1024 * 1024, timeout: 10_000 }, (err, stdout) => done(err ? null : stdout));
  });
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * The work tree and git dir, found the way git finds them: walk up from the current directory to
 * the first `.git` (a directory, or a file saying `gitdir: ...` for worktrees and submodules).
 * git runs gpg.program from the top of the work tree without exporting GIT_DIR, so this usually
 * stops at once and saves a `git rev-parse` (a process start) on every signature. When the user
 * set GIT_DIR or GIT_WORK_TREE themselves, git is asked instead.
 */
async function findRepository(): Promise<{ top: string; gitDir: string } | null> {
  if (process.env.GIT_DIR || process.env.GIT_WORK_TREE) {
    const out = await git(['rev-parse', '--show-toplevel', '--absolute-git-dir']);
    const [top, gitDir] = (out === null ? '' : Buffer.from(out, 'latin1').toString('utf8')).split('\n');
    return top && gitDir ? { top, gitDir } : null;
  }
  let dir = process.cwd();
  for (;;) {
    const dotGit = join(dir, '.git');
    try {
      if (statSync(dotGit).isDirectory()) return { top: dir, gitDir: dotGit };
      const pointer = /^gitdir: (.+)$/m.exec(readFileSync(dotGit, 'utf8'))?.[1];
      if (pointer) return { top: dir, gitDir: resolve(dir, pointer.trim()) };
    } catch {
      // no .git here: look further up
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/** The repository path and branch: file reads only, no process (unless GIT_DIR is set). */
export async function repositoryFacts(): Promise<Record<string, string>> {
  const found = await findRepository();
  if (!found) return {};
  const facts: Record<string, string> = { repository: found.top };
  const head = readText(join(found.gitDir, 'HEAD'));
  if (head?.startsWith('ref: ')) facts.branch = head.slice(5).replace(/^refs\/heads\//, '');
  else {
    // Detached: during a rebase git keeps the branch being rebuilt here.
    const rebasing = readText(join(found.gitDir, 'rebase-merge', 'head-name')) ?? readText(join(found.gitDir, 'rebase-apply', 'head-name'));
    facts.branch = rebasing ? `${rebasing.replace(/^refs\/heads\//, '')} (rebasing)` : '(detached HEAD)';
  }
  return facts;
}

/** The tree and first parent named in a commit payload, read only to compute the file list. */
export function commitTreeAndParent(payload: Buffer): { tree: string; parent: string | null } | null {
  const head = payload.subarray(0, Math.min(payload.length, 4096)).toString('latin1');
  const tree = /^tree ([0-9a-f]{40}|[0-9a-f]{64})\n/.exec(head)?.[1];
  if (!tree) return null;
  const parent = /\nparent ([0-9a-f]{40}|[0-9a-f]{64})\n/.exec(head)?.[1] ?? null;
  return { tree, parent };
}

async function changedFiles(tree: string, parent: string | null): Promise<Record<string, string>> {
  const base = parent ?? EMPTY_TREE[tree.length];
  if (!base) return {};
  const out = await git(['diff-tree', '-r', '--numstat', '-z', '--no-renames', base, tree]);
  if (out === null) return {};
  // -z numstat: "added\tremoved\tpath\0" per file; binary files have "-" counts.
  const entries: Array<[number | null, number | null, string]> = [];
  for (const record of out.split('\0')) {
    const m = /^(-|\d+)\t(-|\d+)\t([\s\S]*)$/.exec(record);
    if (!m) continue;
    const count = (v: string) => (v === '-' ? null : Number(v));
    entries.push([count(m[1]!), count(m[2]!), Buffer.from(m[3]!, 'latin1').toString('utf8')]);
  }
  let json = JSON.stringify(entries);
  let kept = entries.length;
  while (json.length > MAX_FILES_JSON && kept > 0) {
    kept = Math.floor(kept * 0.8);
    json = JSON.stringify(entries.slice(0, kept));
  }
  const facts: Record<string, string> = { files: json, filesTree: tree };
  if (kept < entries.length) facts.filesOmitted = String(entries.length - kept);
  return facts;
}

/** The changed files of a commit payload (one `git diff-tree`); empty for tags and push certificates. */
export function filesFacts(payload: Buffer): Promise<Record<string, string>> {
  const commit = commitTreeAndParent(payload);
  return commit ? changedFiles(commit.tree, commit.parent) : Promise.resolve({});
}

/** Everything sd-gpg claims about the payload; empty outside a repository. Never throws. */
export async function gatherContext(payload: Buffer): Promise<Record<string, string>> {
  // The git child starts first and runs while the repository is found.
  const files = filesFacts(payload);
  const [repo, fileFacts] = await Promise.all([repositoryFacts(), files]);
  return { ...repo, ...fileFacts };
}
