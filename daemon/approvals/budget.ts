// What may wait on the console at once. Every pending request holds memory (its payload, its
// claims, what the console is shown) until a human or its deadline ends it, so a desktop process
// that sends requests in a loop would otherwise grow the daemon until the service manager kills
// it — and a restart locks the store and drops everyone's requests. Counts are capped per bus
// connection (one misbehaving script cannot starve another), per UID (the desktop user cannot
// crowd out the companion's own tools) and in total; bytes per UID and in total. Over any cap a
// new request is refused at once (the gate answers QueueFull naming the cap); nothing already
// waiting is dropped.
import type { ApprovalInput } from '../services.js';

export interface BudgetLimits {
  perConnection: number;
  perUid: number;
  total: number;
  bytesPerUid: number;
  bytesTotal: number;
}

interface Use { count: number; bytes: number }

export interface Admission { owner: string; uid: number; bytes: number }

export class PendingBudget {
  private readonly byOwner = new Map<string, number>();
  private readonly byUid = new Map<number, Use>();
  private readonly total: Use = { count: 0, bytes: 0 };

  constructor(private readonly limits: BudgetLimits) {}

  /** Reserves room for one request, or says which cap it would pass; release() gives the room back. */
  admit(owner: string, uid: number, bytes: number): Admission | { over: string } {
    const mine = this.byOwner.get(owner) ?? 0;
    const uidUse = this.byUid.get(uid) ?? { count: 0, bytes: 0 };
    const { limits } = this;
    const over =
      mine >= limits.perConnection ? `${mine} waiting from this connection (limit ${limits.perConnection})`
      : uidUse.count >= limits.perUid ? `${uidUse.count} waiting from uid ${uid} (limit ${limits.perUid})`
      : this.total.count >= limits.total ? `${this.total.count} waiting in all (limit ${limits.total})`
      : uidUse.bytes + bytes > limits.bytesPerUid ? `${mib(uidUse.bytes + bytes)} waiting from uid ${uid} (limit ${mib(limits.bytesPerUid)})`
      : this.total.bytes + bytes > limits.bytesTotal ? `${mib(this.total.bytes + bytes)} waiting in all (limit ${mib(limits.bytesTotal)})`
      : null;
    if (over) return { over };
    this.byOwner.set(owner, mine + 1);
    this.byUid.set(uid, { count: uidUse.count + 1, bytes: uidUse.bytes + bytes });
    this.total.count++;
    this.total.bytes += bytes;
    return { owner, uid, bytes };
  }

  release(a: Admission): void {
    const mine = (this.byOwner.get(a.owner) ?? 1) - 1;
    if (mine > 0) this.byOwner.set(a.owner, mine);
    else this.byOwner.delete(a.owner);
    const use = this.byUid.get(a.uid);
    if (use) {
      use.count--;
      use.bytes -= a.bytes;
      if (use.count <= 0) this.byUid.delete(a.uid);
    }
    this.total.count--;
    this.total.bytes -= a.bytes;
  }

  get used(): Readonly<Use> {
    return { ...this.total };
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/**
 * What a pending request holds, roughly: the text it carries (claims, labels, attributes, the
 * parsed payload) counted at two bytes a character, as V8 may keep it, plus the payload bytes the
 * signing handler keeps until the decision.
 */
export function pendingBytes(input: ApprovalInput): number {
  return 256 + textBytes(input.summary) + textBytes(input.requester.claimed) + textBytes(input.items ?? null)
    + textBytes(input.sign ?? null) + textBytes(input.key ?? null) + textBytes(input.bundle ?? null) + textBytes(input.reason ?? null)
    + (input.sign?.payloadBytes ?? 0) + (input.heldBytes ?? 0);
}

function textBytes(value: unknown): number {
  if (typeof value === 'string') return 2 * value.length;
  if (value === null || typeof value !== 'object') return 8;
  let n = 16;
  if (Array.isArray(value)) {
    for (const v of value) n += textBytes(v);
  } else {
    for (const [k, v] of Object.entries(value)) n += 2 * k.length + textBytes(v);
  }
  return n;
}
