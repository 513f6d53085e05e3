// The console interface (net.mowaka.SecretsDispatcher1.Console): only the companion UID may call
// it. The console lists what waits (display-sized rows), reads one request's detail when it is
// shown, decides, and manages the store's passphrase. Rich values are JSON (core/wire.ts types);
// Changed(generation) is unicast to registered consoles only.
import { Variant } from '../../core/dbus/bus.js';
import type { InterfaceSpec } from '../../core/dbus/introspection.js';
import type { CallContext, InterfaceImpl } from '../../core/dbus/service.js';
import { SdError, isSdError } from '../../core/errors.js';
import { DECISION_VERBS, type DecisionVerb } from '../../core/wire.js';
import type { ApprovalQueue } from '../approvals/gate.js';
import type { ConsoleRegistry } from '../approvals/consoles.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { RequestHooks } from '../request/interface.js';
import type { DaemonServices } from '../services.js';
import { detailForConsole, pendingListForConsole } from './shown.js';
import { validConfirmWord, validId, validPassphrase, validRecoveryCode, validSecret, validTier } from '../request/validate.js';


export interface ConsoleDeps {
  services: DaemonServices;
  queue: ApprovalQueue;
  consoles: ConsoleRegistry;
  auditLog: AuditLog;
  hooks: RequestHooks;
}

export function buildConsoleInterface(spec: InterfaceSpec, deps: ConsoleDeps): InterfaceImpl {
  const { services, queue, consoles, auditLog, hooks } = deps;
  const { store } = services;

  /** Run a store operation, audit it as done/failed, wipe the passphrase buffers, announce the change. */
  const storeOp = async <T>(what: string, buffers: Buffer[], op: () => Promise<T> | T): Promise<T> => {
    const createdAt = services.now();
    try {
      const result = await op();
      services.audit.record({ requestId: `s${createdAt}`, kind: 'store', requester: null, target: what, outcome: 'done', createdAt, decidedAt: services.now() });
      return result;
    } catch (err) {
      services.audit.record({
        requestId: `s${createdAt}`, kind: 'store', requester: null, target: what, outcome: 'failed',
        detail: isSdError(err) ? err.code : 'Internal', createdAt, decidedAt: services.now(),
      });
      throw err;
    } finally {
      for (const b of buffers) b.fill(0);
      consoles.changed();
    }
  };

  // `args: any` lets each handler name its tuple; the server already checked it against the XML.
  const methods: Record<string, (args: any, ctx: CallContext) => unknown> = {
    RegisterConsole: (_args, ctx: CallContext) => {
      consoles.register(ctx.sender);
      services.logger.info('console registered', { busName: ctx.sender });
    },
    // The request interface's keys plus the rate limits in force (JSON RateLimitNotice[]): which
    // programs are refused and why is for the human, not for the programs themselves.
    Status: () => ({ ...hooks.status(), Cooldowns: new Variant('s', JSON.stringify(queue.limits?.notices() ?? [])) }),
    ListPending: () => JSON.stringify(pendingListForConsole(queue.list())),
    GetRequest: ([untrustedId]: [string]) => JSON.stringify(detailForConsole(queue.get(validId(untrustedId, 'request id')))),
    Decide: ([untrustedId, untrustedVerb, minutes]: [string, string, number]) => {
      const id = validId(untrustedId, 'request id');
      if (!DECISION_VERBS.includes(untrustedVerb as DecisionVerb)) throw new SdError('InvalidArgs', `decision must be one of: ${DECISION_VERBS.join(', ')}.`);
      if (minutes > 1440) throw new SdError('InvalidArgs', 'minutes must be 0-1440.');
      queue.decide(id, untrustedVerb as DecisionVerb, minutes);
    },
    DecideConfirmed: ([untrustedId, untrustedWord]: [string, string]) =>
      queue.decideConfirmed(validId(untrustedId, 'request id'), validConfirmWord(untrustedWord)),
    // The console may raise or lower; the desktop only raises (request/item-tiers.ts).
    SetTier: ([untrustedWhat, untrustedId, untrustedTier]: [string, string, string]) => {
      const tier = validTier(untrustedTier);
      if (untrustedWhat === 'item') {
        const id = validId(untrustedId, 'item id');
        return storeOp(`tier of item ${id} set to ${tier}`, [], () => store.setItemTier(id, tier));
      }
      if (untrustedWhat === 'key') {
        const fingerprint = validId(untrustedId, 'key fingerprint');
        return storeOp(`tier of key ${fingerprint} set to ${tier}`, [], () => store.setKeyTier(fingerprint, tier));
      }
      throw new SdError('InvalidArgs', 'what must be "item" or "key".');
    },
    ApproveWithSecret: ([untrustedId, untrustedSecret]: [string, Buffer]) => {
      try {
        queue.approveWithSecret(validId(untrustedId, 'request id'), Buffer.from(validSecret(untrustedSecret)));
      } finally {
        untrustedSecret.fill(0);
      }
    },
    CreateStore: ([untrustedPassphrase]: [Buffer]) =>
      storeOp('create store', [untrustedPassphrase], () => store.create(validPassphrase(untrustedPassphrase))),
    Unlock: ([untrustedPassphrase]: [Buffer]) =>
      storeOp('unlock', [untrustedPassphrase], () => store.unlock(validPassphrase(untrustedPassphrase))),
    Lock: (_args, ctx: CallContext) => hooks.lock(ctx, 'console'),
    ChangePassphrase: ([untrustedOld, untrustedNew]: [Buffer, Buffer]) =>
      storeOp('change passphrase', [untrustedOld, untrustedNew], () =>
        store.changePassphrase(validPassphrase(untrustedOld, 'old passphrase'), validPassphrase(untrustedNew, 'new passphrase'))),
    ResetPassphrase: ([untrustedCode, untrustedNew]: [string, Buffer]) =>
      storeOp('reset passphrase with recovery code', [untrustedNew], () =>
        store.resetPassphrase(validRecoveryCode(untrustedCode), validPassphrase(untrustedNew, 'new passphrase'))),
    History: ([limit]: [number]) => JSON.stringify(auditLog.history(limit)),
    ListRemembered: () => JSON.stringify(queue.listRemembered()),
    Revoke: ([untrustedId]: [string]) => queue.revoke(validId(untrustedId, 'remembered decision id')),
    RevokeAll: () => queue.revokeAll(),
    LiftCooldown: ([untrustedId]: [string]) => queue.liftLimit(validId(untrustedId, 'rate limit id')),
  };
  return { spec, methods, authorize: (ctx) => services.requesters.assertCompanionCaller(ctx) };
}
