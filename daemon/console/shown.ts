// What the console is sent of a pending request: the list carries display-sized rows, the detail
// of one request is cut to what a person can read on a screen. Every text a requester chose goes
// through capForConsole (core/untrusted-text.ts), every list is cut to its core/limits.ts `shown*`
// count with the number left out recorded, so no request, however hostile, makes a reply that the
// bus would refuse (and disconnect the daemon for).
import { LIMITS } from '../../core/limits.js';
import { capForConsole } from '../../core/untrusted-text.js';
import type { PendingList, PendingRequest, PendingSummary, ProcessInfo, RequestDetail, RequesterFacts, RequesterInfo } from '../../core/wire.js';

/** The claims a list row shows: how a forwarder says it asks on behalf of another program. */
const ROW_CLAIMS = ['via', 'requester.exe', 'requester.pid'] as const;

const cap = capForConsole;
const capOrNull = (text: string | null): string | null => (text === null ? null : cap(text));

/** The first `max` entries; how many were dropped is recorded under `key`. */
function firstOf<T>(list: readonly T[], max: number, omitted: Record<string, number>, key: string): T[] {
  if (list.length > max) omitted[key] = list.length - max;
  return list.slice(0, max);
}

function capRecord(record: Record<string, string>, max: number, omitted: Record<string, number>, key: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of firstOf(Object.entries(record), max, omitted, key)) out[cap(k)] = cap(v);
  return out;
}

export function requesterFacts(requester: RequesterInfo): RequesterFacts {
  const claimed: Record<string, string> = {};
  for (const key of ROW_CLAIMS) {
    const value = requester.claimed[key];
    if (value !== undefined) claimed[key] = cap(value);
  }
  const p = requester.process;
  return {
    busName: cap(requester.busName), uid: requester.uid, userName: capOrNull(requester.userName),
    process: p ? { pid: p.pid, exe: capOrNull(p.exe) } : null, claimed,
  };
}

export function summaryOf(request: PendingRequest): PendingSummary {
  return {
    id: request.id, kind: request.kind, createdAt: request.createdAt, deadline: request.deadline,
    summary: cap(request.summary), requester: requesterFacts(request.requester),
    ...(request.tier ? { tier: request.tier } : {}),
  };
}

/**
 * The pending list, oldest first, as many rows as fit in LIMITS.shownListRows and
 * LIMITS.shownListBytes; `total` says how many wait in all, so the console can say how many more.
 * Rows are chosen a connection at a time (each one's oldest, then each one's second, ...), so a
 * caller that floods the queue cannot push another caller's request off the list.
 */
export function pendingListForConsole(requests: readonly PendingRequest[]): PendingList {
  const byOwner = new Map<string, PendingRequest[]>();
  for (const request of requests) {
    const mine = byOwner.get(request.requester.busName);
    if (mine) mine.push(request);
    else byOwner.set(request.requester.busName, [request]);
  }
  const chosen = new Set<PendingRequest>();
  let bytes = 64;
  let full = false;
  for (let round = 0; !full && chosen.size < requests.length; round++) {
    for (const mine of byOwner.values()) {
      const request = mine[round];
      if (!request) continue;
      const size = Buffer.byteLength(JSON.stringify(summaryOf(request))) + 1;
      if (chosen.size >= LIMITS.shownListRows || bytes + size > LIMITS.shownListBytes) {
        full = true;
        break;
      }
      chosen.add(request);
      bytes += size;
    }
  }
  return { requests: requests.filter((r) => chosen.has(r)).map(summaryOf), total: requests.length };
}

function processForConsole(p: ProcessInfo, omitted: Record<string, number> | null): ProcessInfo {
  const cmdline = omitted ? firstOf(p.cmdline, LIMITS.shownCmdlineArgs, omitted, 'requester.cmdline') : p.cmdline.slice(0, LIMITS.shownCmdlineArgs);
  return { ...p, comm: capOrNull(p.comm), exe: capOrNull(p.exe), cwd: capOrNull(p.cwd), cmdline: cmdline.map(cap) };
}

/**
 * One request for the full-detail view: every text capped, every list cut with its count left out.
 * A reply still over LIMITS.shownDetailBytes (text that JSON spells six bytes a character) keeps
 * halving the two long lists, the message and the file list, until it fits.
 */
export function detailForConsole(request: PendingRequest): RequestDetail {
  let lists: { messageLines: number; files: number } = { messageLines: LIMITS.shownMessageLines, files: LIMITS.shownFiles };
  for (;;) {
    const detail = detailWithin(request, lists);
    if (lists.messageLines <= 1 || Buffer.byteLength(JSON.stringify(detail)) <= LIMITS.shownDetailBytes) return detail;
    lists = { messageLines: Math.floor(lists.messageLines / 2), files: Math.floor(lists.files / 2) };
  }
}

function detailWithin(request: PendingRequest, lists: { messageLines: number; files: number }): RequestDetail {
  const omitted: Record<string, number> = {};
  const q = request.requester;
  const requester: RequesterInfo = {
    ...q,
    busName: cap(q.busName),
    userName: capOrNull(q.userName),
    process: q.process ? processForConsole(q.process, omitted) : null,
    chain: q.chain.slice(0, LIMITS.parentChainDepth).map((c) => processForConsole(c, null)),
    systemdUnit: capOrNull(q.systemdUnit),
    claimed: capRecord(q.claimed, LIMITS.shownClaims, omitted, 'requester.claimed'),
  };
  const items = firstOf(request.items, LIMITS.shownItems, omitted, 'items').map((item, i) => ({
    itemId: cap(item.itemId), collectionId: cap(item.collectionId), collectionLabel: cap(item.collectionLabel), label: cap(item.label),
    attributes: capRecord(item.attributes, LIMITS.shownAttributes, omitted, `items.${i}.attributes`),
  }));
  let sign = request.sign;
  if (sign) {
    const lines = sign.message.split('\n');
    const finalNewline = sign.message.endsWith('\n') ? 1 : 0;
    const kept = lines.length - finalNewline > lists.messageLines ? lines.slice(0, lists.messageLines) : lines;
    if (kept !== lines) omitted['sign.message'] = lines.length - finalNewline - kept.length;
    const reported = sign.reported;
    sign = {
      ...sign,
      headers: firstOf(sign.headers, LIMITS.shownHeaders, omitted, 'sign.headers').map(([k, v]) => [cap(k), cap(v)] as [string, string]),
      message: kept.map(cap).join('\n'),
      key: sign.key ? { ...sign.key, userIds: firstOf(sign.key.userIds, LIMITS.shownUserIds, omitted, 'sign.key.userIds').map(cap) } : null,
      reported: {
        ...(reported.repository !== undefined ? { repository: cap(reported.repository) } : {}),
        ...(reported.branch !== undefined ? { branch: cap(reported.branch) } : {}),
        ...(reported.files ? { files: firstOf(reported.files, lists.files, omitted, 'sign.files').map((f) => ({ ...f, path: cap(f.path) })) } : {}),
      },
      contradictions: firstOf(sign.contradictions, LIMITS.shownContradictions, omitted, 'sign.contradictions').map(cap),
    };
  }
  const key = request.key
    ? { ...request.key, algorithm: capOrNull(request.key.algorithm), userIds: firstOf(request.key.userIds, LIMITS.shownUserIds, omitted, 'key.userIds').map(cap) }
    : null;
  // The daemon lists at most LIMITS.bundleEntriesShown entries already; their labels are the bundle's.
  const bundle = request.bundle
    ? { ...request.bundle, entries: request.bundle.entries.map((e) => ({ ...e, label: cap(e.label), was: capOrNull(e.was) })) }
    : undefined;
  return {
    ...request,
    ...(bundle ? { bundle } : {}),
    summary: cap(request.summary),
    requester, items, sign, key,
    rememberScope: request.rememberScope ? { ...request.rememberScope, description: cap(request.rememberScope.description) } : null,
    omitted,
  };
}
