// What the sealed JSON payloads hold, and their checks after decryption. A payload that opened
// (so it is ours and in its own row) yet has the wrong shape can only come from a bug or a
// different format version; it is reported as corruption rather than trusted.
import { SdError } from '../../core/errors.js';
import type { RuleRecord } from './types.js';
import { isTier } from '../../core/tiers.js';
import type { Tier } from '../../core/wire.js';

export interface CollectionPayload {
  label: string;
  created: number;
  modified: number;
}

export interface ItemPayload {
  label: string;
  attributes: [string, string][];
  contentType: string;
  created: number;
  modified: number;
  /** Absent in rows written before tiers existed: those are normal. Sealed with the row, so not an attribute anyone can edit. */
  tier?: Tier;
}

export interface KeyPayload {
  fingerprint: string;
  keyId: string;
  userIds: string[];
  algorithm: string;
  created: number;
  subkeys?: string[];
  /** As for items: absent means normal. */
  tier?: Tier;
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function fail(what: string): never {
  throw new SdError('StoreCorrupt', `${what} has an unexpected shape.`);
}

export function asCollection(v: unknown, what: string): CollectionPayload {
  const o = v as Partial<CollectionPayload> | null;
  if (!o || !isStr(o.label) || !isNum(o.created) || !isNum(o.modified)) fail(what);
  return { label: o.label, created: o.created, modified: o.modified };
}

export function asItem(v: unknown, what: string): ItemPayload {
  const o = v as Partial<ItemPayload> | null;
  if (!o || !isStr(o.label) || !isStr(o.contentType) || !isNum(o.created) || !isNum(o.modified) || !Array.isArray(o.attributes)) fail(what);
  if (!o.attributes.every((a) => Array.isArray(a) && a.length === 2 && isStr(a[0]) && isStr(a[1]))) fail(what);
  if (o.tier !== undefined && !isTier(o.tier)) fail(what);
  const item: ItemPayload = { label: o.label, attributes: o.attributes, contentType: o.contentType, created: o.created, modified: o.modified };
  if (o.tier) item.tier = o.tier;
  return item;
}

export function asKey(v: unknown, what: string): KeyPayload {
  const o = v as Partial<KeyPayload> | null;
  if (!o || !isStr(o.fingerprint) || !isStr(o.keyId) || !isStr(o.algorithm) || !isNum(o.created) || !Array.isArray(o.userIds) || !o.userIds.every(isStr))
    fail(what);
  if (o.subkeys !== undefined && (!Array.isArray(o.subkeys) || !o.subkeys.every(isStr))) fail(what);
  if (o.tier !== undefined && !isTier(o.tier)) fail(what);
  const key: KeyPayload = { fingerprint: o.fingerprint, keyId: o.keyId, userIds: o.userIds, algorithm: o.algorithm, created: o.created };
  if (o.subkeys) key.subkeys = o.subkeys;
  if (o.tier) key.tier = o.tier;
  return key;
}

export function asAlias(v: unknown, what: string): string {
  const o = v as { alias?: unknown } | null;
  if (!o || !isStr(o.alias)) fail(what);
  return o.alias;
}

const RULE_SCOPES = new Set(['always', 'deny-always', 'process', 'session', 'program', 'program-any-session', 'until-lock']);
const RULE_KINDS = new Set(['secret', 'write', 'delete', 'sign', 'key', 'export', 'import']);

export function asRule(v: unknown, what: string): RuleRecord {
  const o = v as Partial<RuleRecord> | null;
  if (!o || !isStr(o.id) || !isStr(o.scope) || !RULE_SCOPES.has(o.scope) || (o.verdict !== 'allow' && o.verdict !== 'deny') || typeof o.persisted !== 'boolean'
    || !isStr(o.kind) || !RULE_KINDS.has(o.kind) || !isNum(o.uid) || !isStr(o.exe) || !isStr(o.holder) || !isStr(o.target) || !isStr(o.targetLabel)
    || !isNum(o.createdAt) || !isStr(o.anchor)) fail(what);
  return {
    id: o.id, scope: o.scope, verdict: o.verdict, persisted: o.persisted, kind: o.kind, uid: o.uid, exe: o.exe,
    holder: o.holder, target: o.target, targetLabel: o.targetLabel, createdAt: o.createdAt, anchor: o.anchor,
  };
}
