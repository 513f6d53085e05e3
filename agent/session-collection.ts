// The `session` collection: items that live in the agent's memory until it exits (spec 0.2,
// alias "session"). They never reach the companion's store, so they are not gated by the console;
// a client that chooses this collection chooses desktop-session protection only.
import { randomBytes } from 'node:crypto';

export interface SessionItem {
  id: string;
  label: string;
  attributes: Record<string, string>;
  secret: Buffer;
  contentType: string;
  created: bigint;
  modified: bigint;
}

const nowSeconds = (): bigint => BigInt(Math.floor(Date.now() / 1000));

export class SessionCollection {
  readonly label = 'Session';
  readonly created = nowSeconds();
  modified = this.created;
  private readonly items = new Map<string, SessionItem>();

  list(): SessionItem[] {
    return [...this.items.values()];
  }

  get(id: string): SessionItem | undefined {
    return this.items.get(id);
  }

  search(attributes: Record<string, string>): SessionItem[] {
    return this.list().filter((item) => Object.entries(attributes).every(([k, v]) => item.attributes[k] === v));
  }

  findExact(attributes: Record<string, string>): SessionItem | undefined {
    const keys = Object.keys(attributes);
    return this.list().find((i) => Object.keys(i.attributes).length === keys.length && keys.every((k) => i.attributes[k] === attributes[k]));
  }

  /** Takes ownership of `secret`. Returns the item and whether it replaced an existing one. */
  create(label: string, attributes: Record<string, string>, secret: Buffer, contentType: string, replace: boolean): { item: SessionItem; replaced: boolean } {
    const existing = replace ? this.findExact(attributes) : undefined;
    const now = nowSeconds();
    this.modified = now;
    if (existing) {
      existing.secret.fill(0);
      Object.assign(existing, { label, secret, contentType, modified: now });
      return { item: existing, replaced: true };
    }
    const item: SessionItem = { id: randomBytes(8).toString('hex'), label, attributes, secret, contentType, created: now, modified: now };
    this.items.set(item.id, item);
    return { item, replaced: false };
  }

  update(id: string, changes: { label?: string; attributes?: Record<string, string>; secret?: Buffer; contentType?: string }): void {
    const item = this.items.get(id);
    if (!item) return;
    if (changes.secret) item.secret.fill(0);
    Object.assign(item, Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)), { modified: nowSeconds() });
  }

  delete(id: string): boolean {
    const item = this.items.get(id);
    if (!item) return false;
    item.secret.fill(0);
    this.items.delete(id);
    this.modified = nowSeconds();
    return true;
  }

  wipe(): void {
    for (const id of [...this.items.keys()]) this.delete(id);
  }
}
