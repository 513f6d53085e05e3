// The request interface's signing and key methods (daemon/introspection/net.mowaka.SecretsDispatcher1.xml).
// Sign shows the human what the payload bytes say, plus what the client merely reports, and signs
// only after approval or under a remembered decision for this payload kind, key, signer and
// reported repository (signRememberSpec).
// Key import, generation and removal always ask.
import type { MethodImpl, CallContext } from '../../core/dbus/service.js';
import { fromVariantMap, toVariantMap } from '../../core/dbus/bus.js';
import { SdError } from '../../core/errors.js';
import { LIMITS } from '../../core/limits.js';
import type { KeyDetails, SignDetails } from '../../core/wire.js';
import { resolveAsker, type Asker } from '../request/asker.js';
import type { DaemonServices, RememberSpec } from '../services.js';
import type { KeyRecord } from '../store/types.js';
import { askedTier } from '../request/item-tiers.js';
import { checkClaims, CLAIM_KEYS, identityOf } from './claims.js';
import { selectKey } from './key-select.js';
import type * as OpenpgpKeys from './openpgp-keys.js';
import { describePayload, headerValue, parsePayload, type ParsedPayload } from './payload.js';

// openpgp (~9 MiB resident) is loaded on the first key or signing request, not at daemon start:
// many desktops never sign, and ListKeys needs only the store.
let openpgpKeys: Promise<typeof OpenpgpKeys> | null = null;
function pgp(): Promise<typeof OpenpgpKeys> {
  openpgpKeys ??= import('./openpgp-keys.js');
  return openpgpKeys;
}

function asBuffer(untrusted: unknown, what: string): Buffer {
  if (Buffer.isBuffer(untrusted)) return untrusted;
  if (untrusted instanceof Uint8Array) return Buffer.from(untrusted);
  if (Array.isArray(untrusted)) return Buffer.from(untrusted as number[]);
  throw new SdError('InvalidArgs', `${what} must be a byte array.`);
}

function asString(untrusted: unknown, what: string, max: number): string {
  if (typeof untrusted !== 'string') throw new SdError('InvalidArgs', `${what} must be a string.`);
  if (untrusted.length > max) throw new SdError('TooLarge', `${what} is longer than ${max} characters.`);
  return untrusted;
}

function keyView(key: KeyRecord): SignDetails['key'] {
  return { fingerprint: key.fingerprint, keyId: key.keyId, userIds: key.userIds, algorithm: key.algorithm };
}

/** Who signs, read from the payload: a commit's committer, a tag's tagger. */
const SIGNER_HEADER = { commit: 'committer', tag: 'tagger' } as const;

/**
 * "a" on the console covers this payload kind, this key, this signer (from the payload) and the
 * reported repository, for the holder the gate names (approvals/grant-scope.ts). A push
 * certificate is signed once each time: the next one need not resemble it. The repository is the
 * client's report; it only narrows (a grant without one is never given).
 */
function signRememberSpec(parsed: ParsedPayload, repository: string | undefined, key: KeyRecord): RememberSpec | null {
  if (!repository || parsed.kind === 'push-cert') return null;
  const header = SIGNER_HEADER[parsed.kind];
  const signer = headerValue(parsed, header);
  if (signer === undefined) return null;
  const who = identityOf(signer);
  const what = parsed.kind === 'commit' ? 'commits' : 'tags';
  return {
    kind: 'sign',
    targets: [[parsed.kind, key.fingerprint, who, repository].join('\0')],
    targetLabel: `${what} by ${who} in ${repository} with key ${key.keyId}`,
    action: `sign ${what} whose ${header} is ${JSON.stringify(who)}, in the repository reported as ${repository}, with key ${key.keyId}`,
  };
}

/** Methods with one out argument return it bare; ObjectServer wraps it (core/dbus/service.ts). */
export function createSigningMethods(services: DaemonServices): Record<string, MethodImpl> {
  const { store, approvals, requesters } = services;
  const log = services.logger.child('signing');

  async function requesterOf(ctx: CallContext, untrustedContext: unknown): Promise<Asker> {
    await requesters.assertDesktopCaller(ctx);
    return resolveAsker(requesters, ctx, untrustedContext);
  }

  // Parsed signing keys, wiped whenever the store locks (see ParsedKeyCache).
  let parsedKeys: OpenpgpKeys.ParsedKeyCache | null = null;
  async function parsedKey(fingerprint: string, now: Date): Promise<OpenpgpKeys.SigningKey> {
    if (!parsedKeys) {
      const { ParsedKeyCache } = await pgp();
      if (!parsedKeys) {
        const cache = new ParsedKeyCache();
        store.onLock(() => cache.wipe());
        parsedKeys = cache;
      }
    }
    const cache = parsedKeys;
    return withKeySecret(fingerprint, (secret) => cache.get(fingerprint, secret, now));
  }

  /** The stored key's armored secret for the length of `use`, wiped afterwards. */
  async function withKeySecret<T>(fingerprint: string, use: (armored: Buffer) => Promise<T>): Promise<T> {
    const armored = store.getKeySecret(fingerprint);
    try {
      return await use(armored);
    } finally {
      armored.fill(0);
    }
  }

  const Sign: MethodImpl = async ([untrustedPayloadArg, untrustedKeyArg, untrustedContext], ctx) => {
    const untrustedPayload = asBuffer(untrustedPayloadArg, 'payload');
    const untrustedKeySpec = asString(untrustedKeyArg, 'key', LIMITS.idChars);
    const parsed = parsePayload(untrustedPayload);
    const { requester, reason } = await requesterOf(ctx, untrustedContext);
    const { key, exact } = selectKey(store.listKeys(), untrustedKeySpec);
    const { reported, contradictions } = checkClaims(parsed, requester.claimed);
    const sign: SignDetails = {
      payloadKind: parsed.kind,
      headers: parsed.headers,
      message: parsed.message,
      payloadBytes: untrustedPayload.length,
      key: keyView(key),
      reported,
      contradictions,
    };
    const where = reported.repository ? ` in ${reported.repository}` : '';
    const outcome = await approvals.request({
      kind: 'sign',
      requester,
      reason,
      onlyIfRemembered: requester.claimed[CLAIM_KEYS.rememberedOnly] === '1',
      summary: `Sign ${describePayload(parsed)}${where} with key ${key.keyId}`,
      sign,
      tier: key.tier ?? 'normal',
      remember: signRememberSpec(parsed, reported.repository, key),
    }, ctx.sender);
    outcome.secret?.fill(0);
    const { signDetached } = await pgp();
    const now = new Date(services.now());
    const { armored, info } = await signDetached(await parsedKey(key.fingerprint, now), untrustedPayload, now, exact);
    log.info('signed', { kind: parsed.kind, key: key.keyId, decision: outcome.decision, repository: reported.repository });
    return [armored, toVariantMap({
      Fingerprint: info.fingerprint,
      KeyId: info.keyId,
      PubkeyAlgorithm: info.pubkeyAlgorithm,
      HashAlgorithm: info.hashAlgorithm,
      Created: BigInt(info.created),
    })];
  };

  const ListKeys: MethodImpl = async (_args, ctx) => {
    await requesters.assertDesktopCaller(ctx);
    return store.listKeys().map((k) => [k.fingerprint, k.keyId, k.userIds.join('\n'), k.algorithm]);
  };

  const ExportPublicKey: MethodImpl = async ([untrustedKeyArg], ctx) => {
    await requesters.assertDesktopCaller(ctx);
    const { key } = selectKey(store.listKeys(), asString(untrustedKeyArg, 'key', LIMITS.idChars));
    const { publicKeyArmored } = await pgp();
    return withKeySecret(key.fingerprint, publicKeyArmored);
  };

  const ImportKey: MethodImpl = async ([untrustedArmoredArg, untrustedContext], ctx) => {
    const untrustedArmored = asBuffer(untrustedArmoredArg, 'armored');
    try {
      const { keyFacts, unlockForStore } = await pgp();
      const facts = await keyFacts(untrustedArmored);
      const { requester, reason } = await requesterOf(ctx, untrustedContext);
      const tier = askedTier(fromVariantMap(untrustedContext)) ?? 'normal';
      if (store.listKeys().some((k) => k.fingerprint === facts.fingerprint)) {
        throw new SdError('AlreadyExists', `Key ${facts.fingerprint} is already stored.`);
      }
      const details: KeyDetails = { action: 'import', fingerprint: facts.fingerprint, userIds: facts.userIds, algorithm: facts.algorithm, needsPassphrase: facts.encrypted };
      const outcome = await approvals.request({
        kind: 'key', requester, reason, key: details, remember: null,
        summary: `Import signing key ${facts.keyId} (${facts.userIds[0] ?? 'no user id'})`,
      }, ctx.sender);
      try {
        const ready = await unlockForStore(untrustedArmored, outcome.secret ?? null);
        try {
          store.putKey({ ...ready.facts, tier }, ready.armored);
        } finally {
          ready.armored.fill(0);
        }
      } finally {
        outcome.secret?.fill(0);
      }
      log.notice('key imported', { key: facts.keyId });
      return facts.fingerprint;
    } finally {
      untrustedArmored.fill(0);
    }
  };

  const GenerateKey: MethodImpl = async ([untrustedNameArg, untrustedEmailArg, untrustedAlgorithmArg, untrustedContext], ctx) => {
    const name = asString(untrustedNameArg, 'name', 256).trim();
    const email = asString(untrustedEmailArg, 'email', 256).trim();
    if (!name || /[<>\p{Cc}]/u.test(name)) throw new SdError('InvalidArgs', 'name must be non-empty, without < > or control characters.');
    if (!/^[^\s<>@\p{Cc}]+@[^\s<>@\p{Cc}]+$/u.test(email)) throw new SdError('InvalidArgs', 'email must look like user@host.');
    const { generateKey, parseGenerateAlgorithm } = await pgp();
    const algorithm = parseGenerateAlgorithm(asString(untrustedAlgorithmArg, 'algorithm', 32));
    const { requester, reason } = await requesterOf(ctx, untrustedContext);
    const tier = askedTier(fromVariantMap(untrustedContext)) ?? 'normal';
    const userId = `${name} <${email}>`;
    const details: KeyDetails = { action: 'generate', fingerprint: null, userIds: [userId], algorithm, needsPassphrase: false };
    const outcome = await approvals.request({ kind: 'key', requester, reason, key: details, remember: null, summary: `Generate a new ${algorithm} signing key for ${userId}` }, ctx.sender);
    outcome.secret?.fill(0);
    const made = await generateKey(name, email, algorithm, new Date(services.now()));
    try {
      store.putKey({ ...made.facts, tier }, made.armored);
    } finally {
      made.armored.fill(0);
    }
    log.notice('key generated', { key: made.facts.keyId, algorithm });
    return made.facts.fingerprint;
  };

  const DeleteKey: MethodImpl = async ([untrustedKeyArg, untrustedContext], ctx) => {
    const untrustedSpec = asString(untrustedKeyArg, 'key', LIMITS.idChars);
    if (untrustedSpec.trim() === '') throw new SdError('InvalidArgs', 'Name the key to delete.');
    const { requester, reason } = await requesterOf(ctx, untrustedContext);
    const { key } = selectKey(store.listKeys(), untrustedSpec);
    const details: KeyDetails = { action: 'delete', fingerprint: key.fingerprint, userIds: key.userIds, algorithm: key.algorithm, needsPassphrase: false };
    const outcome = await approvals.request({ kind: 'key', requester, reason, key: details, tier: key.tier ?? 'normal', remember: null, summary: `Delete signing key ${key.keyId} (${key.userIds[0] ?? 'no user id'})` }, ctx.sender);
    outcome.secret?.fill(0);
    store.deleteKey(key.fingerprint);
    parsedKeys?.forget(key.fingerprint);
    log.notice('key deleted', { key: key.keyId });
  };

  return { Sign, ListKeys, ExportPublicKey, ImportKey, GenerateKey, DeleteKey };
}

export { CLAIM_KEYS };
