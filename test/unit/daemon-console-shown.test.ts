// What the console is sent of hostile requests: every reply stays small whatever the requester
// sent, and what was left out is counted, never silently dropped.
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../core/limits.js';
import type { PendingRequest } from '../../core/wire.js';
import { detailForConsole, pendingListForConsole } from '../../daemon/console/shown.js';
import { secretRequest, signRequest } from './tui-fixtures.js';

// The bus refuses (and disconnects the sender of) messages over 32 MiB; a reply must stay far below.
const SAFE_REPLY_BYTES = 8 * 1024 * 1024;
// JSON spells \x01 as \u0001: six bytes for each byte a requester sent.
const HOSTILE = '\x01'.repeat(LIMITS.contextValueChars);

function maximal(): PendingRequest {
  const attributes = Object.fromEntries(Array.from({ length: LIMITS.attributeCount }, (_, i) => [`k${i}${HOSTILE.slice(0, 200)}`, HOSTILE]));
  const claimed = Object.fromEntries(Array.from({ length: LIMITS.contextEntries }, (_, i) => [`claim.${i}`, HOSTILE]));
  const base = signRequest();
  return {
    ...base,
    summary: HOSTILE.repeat(4),
    requester: { ...base.requester, claimed, process: { ...base.requester.process!, cmdline: Array.from({ length: 2000 }, () => HOSTILE.slice(0, 2)), exe: HOSTILE, cwd: HOSTILE } },
    items: Array.from({ length: LIMITS.itemsPerCall }, (_, i) => ({ itemId: `i${i}`, collectionId: 'login', collectionLabel: HOSTILE, label: HOSTILE, attributes })),
    sign: {
      ...base.sign!,
      headers: Array.from({ length: 5000 }, () => ['x', HOSTILE] as [string, string]),
      // As large as a Sign payload may be (LIMITS.signPayloadBytes).
      message: `${HOSTILE.slice(0, 4095)}\n`.repeat(LIMITS.signPayloadBytes / 4096),
      reported: { repository: HOSTILE, branch: HOSTILE, files: Array.from({ length: 50_000 }, () => ({ path: HOSTILE, added: 1, removed: 1 })) },
      contradictions: Array.from({ length: 100 }, () => HOSTILE),
    },
  };
}

describe('the console protocol', () => {
  it('cuts one maximal request to a small detail and counts what it left out', () => {
    const detail = detailForConsole(maximal());
    const bytes = Buffer.byteLength(JSON.stringify(detail));
    console.log(`maximal request detail: ${(bytes / 1024 / 1024).toFixed(2)} MiB of JSON`);
    expect(bytes).toBeLessThan(LIMITS.shownDetailBytes);
    expect(bytes).toBeLessThan(SAFE_REPLY_BYTES);
    expect(detail.items).toHaveLength(LIMITS.shownItems);
    expect(detail.omitted).toMatchObject({
      items: LIMITS.itemsPerCall - LIMITS.shownItems,
      'items.0.attributes': LIMITS.attributeCount - LIMITS.shownAttributes,

      'sign.headers': 5000 - LIMITS.shownHeaders,
      'requester.claimed': LIMITS.contextEntries - LIMITS.shownClaims,
      'requester.cmdline': 2000 - LIMITS.shownCmdlineArgs,
    });
    expect(detail.summary).toHaveLength(LIMITS.shownTextChars);
    // Kept lines and counted lines add up to the whole: nothing vanishes without a count.
    expect(detail.sign!.message.split('\n').length + detail.omitted['sign.message']!).toBe(LIMITS.signPayloadBytes / 4096);
    expect(detail.sign!.reported.files!.length + detail.omitted['sign.files']!).toBe(50_000);
    expect(detail.sign!.message.split('\n').length).toBeGreaterThanOrEqual(100);
  });

  it('lists a flood of maximal requests in one small reply and says how many more wait', () => {
    const one = maximal();
    const flood = Array.from({ length: 5000 }, (_, i) => ({ ...one, id: `r${i}` }));
    const list = pendingListForConsole(flood);
    const bytes = Buffer.byteLength(JSON.stringify(list));
    console.log(`pending list of 5000 maximal requests: ${list.requests.length} rows, ${(bytes / 1024).toFixed(0)} KiB`);
    expect(bytes).toBeLessThanOrEqual(LIMITS.shownListBytes);
    expect(list.total).toBe(5000);
    expect(list.requests.length).toBeGreaterThan(0);
    expect(list.requests.length).toBeLessThanOrEqual(LIMITS.shownListRows);
    expect(list.requests[0]!.id).toBe('r0');
  });

  it('a flood from one connection cannot push another caller\'s request off the list', () => {
    const one = maximal();
    const flood = Array.from({ length: 3000 }, (_, i) => ({ ...one, id: `f${i}`, requester: { ...one.requester, busName: ':1.66' } }));
    const other = secretRequest({ id: 'late', requester: { ...secretRequest().requester, busName: ':1.99' } });
    const list = pendingListForConsole([...flood, other]);
    expect(list.total).toBe(3001);
    expect(list.requests.map((r) => r.id)).toContain('late');
    expect(list.requests[0]!.id).toBe('f0');
    // Shown oldest first, whichever rows were chosen.
    expect(list.requests.at(-1)!.id).toBe('late');
  });

  it('a row carries verified facts and the forwarder\'s claims, never comm', () => {
    const spoofed = secretRequest({ requester: { ...secretRequest().requester, process: { ...secretRequest().requester.process!, comm: 'git-credential' } } });
    const [row] = pendingListForConsole([spoofed]).requests;
    expect(row!.requester).toEqual({ busName: ':1.42', uid: 1000, userName: 'nb', process: { pid: 4242, exe: '/usr/bin/python3.11' }, claimed: {} });
    expect(JSON.stringify(row)).not.toContain('git-credential');
  });
});
