// The request interface (net.mowaka.SecretsDispatcher1) for the desktop user's agent, sd-gpg and
// CLI. Reads of secrets, changes and deletions of existing items, export and import wait on the
// approval gate; creating a new item, listing and searching do not (they reveal no secret).
// Signing and key methods come from daemon/signing as `extraMethods`.
import { describeTarget } from '../../core/audit.js';
import { fromVariantMap, Variant } from '../../core/dbus/bus.js';
import type { InterfaceSpec } from '../../core/dbus/introspection.js';
import { SdError } from '../../core/errors.js';
import type { CallContext, InterfaceImpl, MethodImpl } from '../../core/dbus/service.js';
import { LIMITS } from '../../core/limits.js';
import { VERSION } from '../../core/version.js';
import { highestTier } from '../../core/tiers.js';
import type { ItemTarget, RememberedDecision, RequesterInfo, Tier } from '../../core/wire.js';
import { UidQuota } from '../approvals/quota.js';
import type { DaemonServices } from '../services.js';
import { verifiedBundleKeys } from '../signing/bundle-keys.js';
import { resolveAsker } from './asker.js';
import { exportDetails, importDetails } from './bundle-details.js';
import { askedTier, desktopTierChange } from './item-tiers.js';
import type { ItemRecord } from '../store/types.js';
import { counted } from '../../core/counted.js';
import {
  validAttributes, validContentType, validId, validIds, validLabel, validOptionalId, validPassphrase, validSecret,
} from './validate.js';

export interface RequestHooks {
  /**
   * Lock the store and end every pending request (shared with the console's Lock). From the
   * desktop it is rate-limited (daemon/lock-limit.ts) and may throw RateLimited.
   */
  lock(ctx: CallContext, from: 'desktop' | 'console'): void;
  status(): Record<string, InstanceType<typeof Variant>>;
  /** Every remembered decision and rule (the console's list); StoreLocked while the store is locked. */
  listRules(): RememberedDecision[];
}

/** Wipe buffers after the reply has been encoded (the server encodes synchronously on return). */
function wipeAfterReply(buffers: Buffer[]): void {
  setImmediate(() => {
    for (const b of buffers) b.fill(0);
  });
}

/**
 * Who asks, for a summary line: the verified UID first, then what the daemon read of the
 * connection's opener (never its self-chosen comm), then a forwarder's report marked as reported.
 */
export function requesterName(r: RequesterInfo): string {
  const uid = `uid ${r.uid}`;
  const p = r.process;
  const untrustedProgram = r.claimed['requester.exe'];
  if (r.claimed.via === 'secret-service-agent' || untrustedProgram) {
    const via = r.claimed.via === 'secret-service-agent' ? 'the Secret Service agent' : 'a forwarding client';
    return `${uid} via ${via} (reported: ${untrustedProgram ?? 'no program'})`;
  }
  if (!p) return `${uid} (the process that opened the connection is gone)`;
  const was = r.changes?.length ? `; it ran ${r.exeAtConnection ?? 'something else'} when it connected` : '';
  return `${uid} (pid ${p.pid} now runs ${p.exe ?? 'an unreadable executable'}${was})`;
}

export function buildRequestInterface(
  spec: InterfaceSpec,
  services: DaemonServices,
  hooks: RequestHooks,
  extraMethods: Record<string, MethodImpl> = {},
): InterfaceImpl {
  const { store, approvals, requesters, audit } = services;
  // Creating an item reveals no secret, so it does not ask; but a loop of creations would fill
  // the store. Past this many an hour per UID, creation asks on the console too.
  let importing = false;
  const createsWithoutAsking = new UidQuota(services.clock, services.config.budgets.createsWithoutAskingPerHour, 3_600_000);

  // Collection labels change only through this interface (and import), so they are cached
  // between those calls instead of decrypting every collection on each request.
  let collectionLabels: Map<string, string> | null = null;
  const labelsChanged = () => {
    collectionLabels = null;
  };
  const targetsOf = (items: ItemRecord[]): ItemTarget[] => {
    collectionLabels ??= new Map(store.listCollections().map((c) => [c.id, c.label]));
    const labels = collectionLabels;
    return items.map((i) => ({
      itemId: i.id, collectionId: i.collectionId, collectionLabel: labels.get(i.collectionId) ?? i.collectionId,
      label: i.label, attributes: i.attributes,
    }));
  };
  const oneItem = (id: string): ItemRecord => {
    const [item] = store.getItems([id]);
    if (!item) throw new SdError('NotFound', 'No item or collection with that id.');
    return item;
  };
  const labelsOf = (items: ItemRecord[]) => items.map((i) => `'${i.label}'`).join(', ').slice(0, 512);
  // Who the grant covers is the gate's to say (approvals/grant-scope.ts); these are the items.
  const remember = (kind: 'secret' | 'write', items: ItemRecord[], verb: string) => ({
    kind, targets: items.map((i) => i.id), targetLabel: labelsOf(items), action: `${verb} ${labelsOf(items)}`,
  });
  const tierOf = (items: ItemRecord[]) => highestTier(items.map((i) => i.tier));
  /** A change to an existing item; `tier` is the tier it will have after (the desktop may raise it). */
  const gateWrite = async (ctx: CallContext, untrustedContext: unknown, item: ItemRecord, what: string, tier: Tier = item.tier) => {
    const { requester, reason } = await resolveAsker(requesters, ctx, untrustedContext);
    const raise = tier !== item.tier ? ` and raise its tier to ${tier}` : '';
    await approvals.request({
      kind: 'write', requester, reason, summary: `${requesterName(requester)} wants to ${what} '${item.label}'${raise}`,
      // Judged at the tier the item has now: raising it restricts what follows, it releases nothing.
      items: targetsOf([item]), tier: item.tier, remember: remember('write', [item], 'change'),
    }, ctx.sender);
    return requester;
  };

  /** The desktop raised an item's tier along with an approved change: its own audit row says so. */
  const raiseTier = (requester: RequesterInfo, item: ItemRecord, tier: Tier) => {
    store.setItemTier(item.id, tier);
    const now = services.now();
    audit.record({ requestId: item.id, kind: 'write', requester, target: describeTarget(item.label, item.attributes), outcome: 'done', detail: `tier ${item.tier} -> ${tier}`, createdAt: now, decidedAt: now });
  };

  // `args: any` lets each handler name its tuple; the server already checked it against the XML.
  const methods: Record<string, (args: any, ctx: CallContext) => unknown> = {
    Ping: () => 'pong',
    GetVersion: () => VERSION,
    Status: () => hooks.status(),
    Lock: (_args, ctx) => hooks.lock(ctx, 'desktop'),
    // Read-only: rules are decided, changed and revoked on the console alone.
    ListRules: async (_args, ctx) => {
      const { uid } = await ctx.credentials();
      return JSON.stringify(hooks.listRules().filter((r) => r.uid === uid));
    },

    ListCollections: () => store.listCollections().map((c) => [c.id, c.label, c.aliases, BigInt(c.created), BigInt(c.modified)]),
    CreateCollection: ([untrustedLabel, untrustedAlias]: [string, string]) => {
      labelsChanged();
      const label = validLabel(untrustedLabel);
      const alias = validOptionalId(untrustedAlias, 'alias');
      return store.createCollection(label, alias ?? undefined).id;
    },
    SetCollectionLabel: ([untrustedId, untrustedLabel]: [string, string]) => {
      labelsChanged();
      store.setCollectionLabel(validId(untrustedId, 'collection id'), validLabel(untrustedLabel));
    },
    DeleteCollection: async ([untrustedId, untrustedContext]: [string, unknown], ctx) => {
      const id = validId(untrustedId, 'collection id');
      const collection = store.listCollections().find((c) => c.id === id);
      if (!collection) throw new SdError('NotFound', 'No item or collection with that id.');
      const { requester, reason } = await resolveAsker(requesters, ctx, untrustedContext);
      const ids = store.searchItems(id, {});
      const inside = store.getItems(ids);
      await approvals.request({
        kind: 'delete', requester, reason,
        summary: `${requesterName(requester)} wants to delete the collection '${collection.label}' and its ${counted(ids.length, 'item')}`,
        items: targetsOf(inside.slice(0, 50)), tier: tierOf(inside), remember: null,
      }, ctx.sender);
      labelsChanged();
      store.deleteCollection(id);
    },
    ReadAlias: ([untrustedAlias]: [string]) => store.readAlias(validId(untrustedAlias, 'alias')) ?? '',
    SetAlias: ([untrustedAlias, untrustedId]: [string, string]) => {
      store.setAlias(validId(untrustedAlias, 'alias'), validOptionalId(untrustedId, 'collection id'));
    },

    SearchItems: ([untrustedCollection, untrustedAttributes]: [string, Record<string, string>]) =>
      store.searchItems(validOptionalId(untrustedCollection, 'collection id'), validAttributes(untrustedAttributes)),
    GetItems: ([untrustedIds]: [string[]]) => store.getItems(validIds(untrustedIds, 'item ids')).map((i) => [
      i.id, i.collectionId, i.label, i.attributes, i.contentType, BigInt(i.created), BigInt(i.modified), i.tier,
    ]),
    CreateItem: async ([untrustedCollection, untrustedLabel, untrustedAttributes, untrustedSecret, untrustedContentType, replace, untrustedContext]:
      [string, string, Record<string, string>, Buffer, string, boolean, unknown], ctx) => {
      try {
        const collectionId = validId(untrustedCollection, 'collection id');
        const label = validLabel(untrustedLabel);
        const attributes = validAttributes(untrustedAttributes);
        const secret = validSecret(untrustedSecret);
        const contentType = validContentType(untrustedContentType);
        const wantedTier = askedTier(fromVariantMap(untrustedContext));
        const existing = replace ? store.findExact(collectionId, attributes) : null;
        if (existing) {
          const item = oneItem(existing);
          // Refused before anyone is asked: lowering is the console's (item-tiers.ts).
          const tier = desktopTierChange(item.tier, wantedTier, `'${item.label}'`);
          const requester = await gateWrite(ctx, untrustedContext, item, 'replace the secret of', tier);
          store.setSecret(existing, secret, contentType);
          if (label !== item.label) store.updateItem(existing, { label });
          if (tier !== item.tier) raiseTier(requester, item, tier);
          return existing;
        }
        const { requester, reason } = await resolveAsker(requesters, ctx, untrustedContext);
        const asked = !createsWithoutAsking.take(requester.uid);
        if (asked) {
          await approvals.request({
            kind: 'write', requester, reason,
            summary: `${requesterName(requester)} wants to create '${label}' (uid ${requester.uid} created more than ${counted(createsWithoutAsking.limit, 'item')} without asking in the last hour)`,
            remember: null,
          }, ctx.sender);
        }
        const created = store.createItem({ collectionId, label, attributes, secret, contentType, tier: wantedTier ?? 'normal' });
        const now = services.now();
        audit.record({ requestId: created.id, kind: 'write', requester, target: describeTarget(label, attributes), outcome: asked ? 'approved' : 'done', detail: created.tier === 'normal' ? 'created' : `created, tier ${created.tier}`, reason, createdAt: now, decidedAt: now });
        return created.id;
      } finally {
        untrustedSecret.fill(0);
      }
    },
    GetSecrets: async ([untrustedIds, untrustedContext]: [string[], unknown], ctx) => {
      const ids = validIds(untrustedIds, 'item ids');
      const { requester, reason } = await resolveAsker(requesters, ctx, untrustedContext);
      const items = store.getItems(ids);
      if (items.length === 0) return [];
      await approvals.request({
        kind: 'secret', requester, reason, summary: `${requesterName(requester)} wants the secret of ${labelsOf(items)}`,
        items: targetsOf(items), tier: tierOf(items), remember: remember('secret', items, 'read'),
      }, ctx.sender);
      const out: [string, Buffer, string][] = [];
      for (const item of items) {
        const { secret, contentType } = store.getSecret(item.id);
        out.push([item.id, secret, contentType]);
      }
      wipeAfterReply(out.map((o) => o[1]));
      return out;
    },
    SetSecret: async ([untrustedId, untrustedSecret, untrustedContentType, untrustedContext]: [string, Buffer, string, unknown], ctx) => {
      try {
        const id = validId(untrustedId, 'item id');
        const secret = validSecret(untrustedSecret);
        const contentType = validContentType(untrustedContentType);
        await gateWrite(ctx, untrustedContext, oneItem(id), 'replace the secret of');
        store.setSecret(id, secret, contentType);
      } finally {
        untrustedSecret.fill(0);
      }
    },
    UpdateItem: async ([untrustedId, untrustedLabel, untrustedAttributes, untrustedContext]: [string, string, Record<string, string>, unknown], ctx) => {
      const id = validId(untrustedId, 'item id');
      const label = validLabel(untrustedLabel);
      const attributes = validAttributes(untrustedAttributes);
      const item = oneItem(id);
      const tier = desktopTierChange(item.tier, askedTier(fromVariantMap(untrustedContext)), `'${item.label}'`);
      const requester = await gateWrite(ctx, untrustedContext, item, 'change the label and attributes of', tier);
      store.updateItem(id, { label, attributes });
      if (tier !== item.tier) raiseTier(requester, item, tier);
    },
    DeleteItem: async ([untrustedId, untrustedContext]: [string, unknown], ctx) => {
      const item = oneItem(validId(untrustedId, 'item id'));
      const { requester, reason } = await resolveAsker(requesters, ctx, untrustedContext);
      await approvals.request({
        kind: 'delete', requester, reason, summary: `${requesterName(requester)} wants to delete '${item.label}'`,
        items: targetsOf([item]), tier: item.tier, remember: null,
      }, ctx.sender);
      store.deleteItem(item.id);
    },

    ExportStore: async ([untrustedPassphrase, untrustedContext]: [Buffer, unknown], ctx) => {
      try {
        const passphrase = validPassphrase(untrustedPassphrase, 'bundle passphrase');
        const { requester, reason } = await resolveAsker(requesters, ctx, untrustedContext);
        const items = store.getItems(store.searchItems(null, {}));
        const keys = store.listKeys();
        // The requester chose the bundle's passphrase: to them the bundle is plaintext. Say so.
        await approvals.request({
          kind: 'export', requester, reason,
          summary: `${requesterName(requester)} wants every secret in the store (${counted(items.length, 'item')})${keys.length ? ` and the private signing keys (${keys.length})` : ''}, in a bundle encrypted with a passphrase it chose itself: to it, the bundle is plaintext`,
          bundle: exportDetails(store.listCollections().length, items.map((i) => i.label), keys),
          tier: highestTier([...items.map((i) => i.tier), ...keys.map((k) => k.tier)]), remember: null,
        }, ctx.sender);
        return await store.exportBundle(passphrase);
      } finally {
        untrustedPassphrase.fill(0);
      }
    },
    ImportStore: async ([untrustedBundle, untrustedPassphrase, untrustedContext]: [Buffer, Buffer, unknown], ctx) => {
      let mine = false;
      try {
        if (untrustedBundle.length > LIMITS.bundleBytes) throw new SdError('TooLarge', `bundle is larger than ${LIMITS.bundleBytes} bytes.`);
        const passphrase = validPassphrase(untrustedPassphrase, 'bundle passphrase');
        const { requester, reason } = await resolveAsker(requesters, ctx, untrustedContext);
        // Opening a bundle costs an Argon2 run before anyone is asked: one at a time.
        if (importing) throw new SdError('RateLimited', 'Another bundle is being imported; try again when it is done.');
        importing = mine = true;
        const preview = await store.openImport(untrustedBundle, passphrase);
        try {
          const keys = await verifiedBundleKeys(preview.plan.keys, preview.keySecrets);
          const bundle = importDetails(preview.plan, keys);
          const { counts } = bundle;
          // Overwriting an item replaces its secret: the import is as sensitive as what it overwrites.
          const overwritten = store.getItems(preview.plan.items.filter((i) => i.replaces).map((i) => i.id));
          await approvals.request({
            kind: 'import', requester, reason,
            summary: `${requesterName(requester)} wants to import ${counted(counts.items, 'item')}${counts.keys ? ` and ${counted(counts.keys, 'signing key')}` : ''} from a bundle${counts.overwrites ? `, OVERWRITING ${counts.overwrites} that exist here` : ', overwriting nothing'}`,
            bundle, heldBytes: 2 * untrustedBundle.length, tier: tierOf(overwritten), remember: null,
          }, ctx.sender);
          labelsChanged();
          return preview.apply(keys);
        } finally {
          preview.wipe();
        }
      } finally {
        if (mine) importing = false;
        untrustedPassphrase.fill(0);
        untrustedBundle.fill(0);
      }
    },
    ...extraMethods,
  };

  return {
    spec,
    methods,
    authorize: (ctx) => requesters.assertDesktopCaller(ctx),
  };
}

