// The object model on the session bus (spec 0.2 §"Object paths"): collections and their items,
// aliases, sessions and prompts. Daemon ids may hold "-", which object paths do not allow, so
// every character outside [A-Za-z0-9] is written as _xx (hex), reversibly.
import { SECRET_SERVICE_PATH } from '../core/names.js';

export const COLLECTION_PREFIX = `${SECRET_SERVICE_PATH}/collection/`;
export const ALIAS_PREFIX = `${SECRET_SERVICE_PATH}/aliases/`;
export const SESSION_PREFIX = `${SECRET_SERVICE_PATH}/session/`;
export const PROMPT_PREFIX = `${SECRET_SERVICE_PATH}/prompt/`;
/** The in-memory collection that lives only as long as the agent (spec: alias "session"). */
export const SESSION_COLLECTION_ID = 'session';
export const NO_OBJECT = '/';

export function encodePathElement(id: string): string {
  let out = '';
  for (const ch of Buffer.from(id, 'utf8')) {
    const c = String.fromCharCode(ch);
    out += /[A-Za-z0-9]/.test(c) ? c : `_${ch.toString(16).padStart(2, '0')}`;
  }
  return out || '_';
}

export function decodePathElement(element: string): string | null {
  if (!/^(?:[A-Za-z0-9]|_[0-9a-f]{2})+$/.test(element)) return null;
  return Buffer.from(element.replace(/_([0-9a-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1').toString('utf8');
}

export const collectionPath = (id: string): string => `${COLLECTION_PREFIX}${encodePathElement(id)}`;
export const itemPath = (collectionId: string, itemId: string): string => `${collectionPath(collectionId)}/${encodePathElement(itemId)}`;
export const aliasPath = (alias: string): string => `${ALIAS_PREFIX}${encodePathElement(alias)}`;

/** A collection named either by id or through an alias (resolved at call time). */
export type CollectionRef = { id: string } | { alias: string };

export type ParsedPath =
  | { kind: 'collection'; ref: CollectionRef }
  | { kind: 'item'; ref: CollectionRef; itemId: string };

/** What a collection or item path names, or null for anything else (including malformed paths). */
export function parseObjectPath(untrustedPath: string): ParsedPath | null {
  let rest: string;
  let ref: (name: string) => CollectionRef;
  if (untrustedPath.startsWith(COLLECTION_PREFIX)) {
    rest = untrustedPath.slice(COLLECTION_PREFIX.length);
    ref = (id) => ({ id });
  } else if (untrustedPath.startsWith(ALIAS_PREFIX)) {
    rest = untrustedPath.slice(ALIAS_PREFIX.length);
    ref = (alias) => ({ alias });
  } else {
    return null;
  }
  const parts = rest.split('/');
  if (parts.length > 2 || rest.length > 1024) return null;
  const first = decodePathElement(parts[0]!);
  if (first === null) return null;
  if (parts.length === 1) return { kind: 'collection', ref: ref(first) };
  const itemId = decodePathElement(parts[1]!);
  if (itemId === null) return null;
  return { kind: 'item', ref: ref(first), itemId };
}
