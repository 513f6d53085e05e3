// Collections and their aliases while the store is unlocked.
import { randomBytes } from 'node:crypto';
import { SdError } from '../../core/errors.js';
import { LIMITS } from '../../core/limits.js';
import { removeItem } from './item-rows.js';
import { asAlias, asCollection } from './records.js';
import { SEALED } from './row-labels.js';
import { nowSeconds, type Session } from './session.js';
import type { Row } from './store-file.js';
import { CORRUPT_ADVICE } from './sqlite-errors.js';
import type { CollectionRecord } from './types.js';
import { checkText } from './validate.js';
import type { Writer } from './writer.js';

export const DEFAULT_COLLECTION_ID = 'login';
export const DEFAULT_COLLECTION_LABEL = 'Login';
export const DEFAULT_ALIAS = 'default';

/** A random row id (collections and items). */
export function newId(): string {
  return randomBytes(8).toString('hex');
}

interface StoredCollection {
  id: string;
  label: string;
  created: number;
  modified: number;
}

export class Collections {
  constructor(private readonly s: Session) {}

  /** Writes a collection row and its aliases (create, first run, import). */
  insert(w: Writer, id: string, label: string, aliases: string[], created?: number, modified?: number): CollectionRecord {
    const now = nowSeconds(this.s);
    const record = { label, created: created ?? now, modified: modified ?? now };
    w.insert('collections', [id, this.s.crypto.sealJson(record, SEALED.collection(id))]);
    for (const alias of aliases) this.putAlias(w, alias, id);
    return { id, aliases, ...record };
  }

  private putAlias(w: Writer, alias: string, collectionId: string | null): void {
    const aliasMac = this.s.crypto.aliasMac(alias);
    w.remove('aliases', [aliasMac]);
    if (collectionId !== null) w.insert('aliases', [aliasMac, collectionId, this.s.crypto.sealJson({ alias }, SEALED.alias(aliasMac, collectionId))]);
  }

  private read(id: string): StoredCollection | null {
    const row = this.s.file.getRow('collections', id);
    if (!row) return null;
    return { id, ...asCollection(this.s.crypto.openJson(row[1]!, SEALED.collection(id), `Collection ${id}`), `Collection ${id}`) };
  }

  require(id: string): StoredCollection {
    const c = typeof id === 'string' ? this.read(id) : null;
    if (!c) throw new SdError('NotFound', `No collection ${JSON.stringify(String(id).slice(0, 64))}.`);
    return c;
  }

  exists(id: string): boolean {
    return this.s.file.getRow('collections', id) !== undefined;
  }

  list(): CollectionRecord[] {
    const aliases = new Map<string, string[]>();
    for (const [aliasMac, collectionId, sealed] of this.s.file.statement('scan:aliases').raw(true).all() as Row[]) {
      const name = asAlias(this.s.crypto.openJson(sealed!, SEALED.alias(aliasMac!, collectionId!), 'An alias'), 'An alias');
      aliases.set(collectionId as string, [...(aliases.get(collectionId as string) ?? []), name]);
    }
    return (this.s.file.statement('scan:collections').raw(true).all() as Row[]).map(([id]) => {
      const c = this.read(id as string)!;
      return { ...c, aliases: (aliases.get(c.id) ?? []).sort() };
    });
  }

  create(label: string, alias?: string): CollectionRecord {
    checkText(label, LIMITS.labelChars, 'The label');
    if (alias !== undefined) checkText(alias, LIMITS.idChars, 'The alias');
    let id = newId();
    while (this.exists(id)) id = newId();
    return this.s.writes.write((w) => this.insert(w, id, label, alias === undefined ? [] : [alias]));
  }

  /** The first run's collection, "login" with the alias "default". */
  createDefault(): CollectionRecord {
    return this.s.writes.write((w) => this.insert(w, DEFAULT_COLLECTION_ID, DEFAULT_COLLECTION_LABEL, [DEFAULT_ALIAS]));
  }

  setLabel(id: string, label: string): void {
    checkText(label, LIMITS.labelChars, 'The label');
    const c = this.require(id);
    this.s.writes.write((w) => {
      w.remove('collections', [id]);
      w.insert('collections', [id, this.s.crypto.sealJson({ label, created: c.created, modified: nowSeconds(this.s) }, SEALED.collection(id))]);
    });
  }

  /** Removes the collection with every item in it and every alias naming it. */
  delete(id: string): void {
    this.require(id);
    const itemIds = this.s.file.statement('itemIdsIn').pluck(true).all(id) as string[];
    const aliasMacs = this.s.file.statement('aliasesOf').pluck(true).all(id) as Buffer[];
    this.s.writes.write((w) => {
      for (const itemId of itemIds) removeItem(this.s, w, itemId);
      for (const aliasMac of aliasMacs) w.remove('aliases', [aliasMac]);
      w.remove('collections', [id]);
    });
  }

  readAlias(alias: string): string | null {
    if (typeof alias !== 'string' || alias.length > LIMITS.idChars) return null;
    const aliasMac = this.s.crypto.aliasMac(alias);
    const row = this.s.file.getRow('aliases', aliasMac);
    if (!row) return null;
    const stored = asAlias(this.s.crypto.openJson(row[2]!, SEALED.alias(aliasMac, row[1]!), 'An alias'), 'An alias');
    if (stored !== alias) throw new SdError('StoreCorrupt', `An alias does not match its lookup key. ${CORRUPT_ADVICE}`);
    return row[1] as string;
  }

  setAlias(alias: string, collectionId: string | null): void {
    checkText(alias, LIMITS.idChars, 'The alias');
    if (collectionId !== null) this.require(collectionId);
    this.s.writes.write((w) => this.putAlias(w, alias, collectionId));
  }

  /** For an import: the bundle's collection replaces ours of the same id, labels and aliases included. */
  replace(w: Writer, c: CollectionRecord): void {
    w.remove('collections', [c.id]);
    this.insert(w, c.id, c.label, c.aliases, c.created, c.modified);
  }
}
