// Builds the daemon from its parts on an already connected bus: store, audit log, approval queue,
// requester identity, and the two interfaces on one object path. main.ts owns argv, config,
// signals and sd-notify; tests and benchmarks can start this directly.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_DB_FILE } from '../core/audit.js';
import type { Config } from '../core/config.js';
import { callMethod, NAME_FLAG, Variant, REQUEST_NAME_REPLY, requestName, toVariantMap, watchConnections, type MessageBus } from '../core/dbus/bus.js';
import { ObjectServer, type CallContext, type InterfaceImpl, type MethodImpl } from '../core/dbus/service.js';
import { SdError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { acquireStateLock, StateDirInUse, type StateLock } from '../core/state-lock.js';
import { CONSOLE_INTERFACE, DBUS_INTERFACE, DBUS_NAME, DBUS_PATH, DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH, REQUEST_INTERFACE } from '../core/names.js';
import { VERSION } from '../core/version.js';
import type { LoadedAdminRule } from '../core/admin-rules.js';
import { AdminPolicy } from './approvals/admin-policy.js';
import { ConsoleRegistry } from './approvals/consoles.js';
import { ApprovalQueue } from './approvals/gate.js';
import { AuditLog } from './audit/audit-log.js';
import { AuditRetention } from './audit/retention.js';
import { UnattendedRowQuota } from './audit/unattended-quota.js';
import { systemClock, type Clock } from './clock.js';
import { buildConsoleInterface } from './console/interface.js';
import { ConnectionOpeners } from './identity/connections.js';
import { readStartTime } from './identity/proc.js';
import { describeForConsole, ProcRequesterResolver, requesterChange, systemdUnitsOf } from './identity/requesters.js';
import { buildRequestInterface, type RequestHooks } from './request/interface.js';
import type { DaemonServices } from './services.js';
import { loadInterfaceSpec } from './spec.js';
import { openSecretStore } from './store/secret-store.js';
import type { SecretStoreApi } from './store/types.js';
import { DesktopLockLimit } from './lock-limit.js';
import { UserTable } from './users.js';

export const STORE_DB_FILE = 'store.db';

export interface DaemonOptions {
  config: Config;
  bus: MessageBus;
  logger: Logger;
  /** Wall and boot clocks (default: the system's); tests step them. */
  clock?: Clock;
  /** Extra request-interface methods (signing and keys), given the finished services. */
  extraMethods?: (services: DaemonServices) => Record<string, MethodImpl>;
  /** For tests: an already opened store instead of the one under stateDir. */
  store?: SecretStoreApi;
  /** Called when a method call starts and when it ends (main.ts collects garbage once calls stop). */
  onActivity?: () => void;
  /** Root's rules from policy.d, read by main.ts at start (core/admin-rules.ts); default none. */
  adminRules?: readonly LoadedAdminRule[];
}

export interface RunningDaemon {
  services: DaemonServices;
  queue: ApprovalQueue;
  /** Lock the store, end pending requests, release the name. The bus stays connected. */
  stop(): Promise<void>;
}

/** Lock file in the state directory held by the one daemon using it (core/state-lock.ts). */
export const STATE_LOCK_FILE = 'daemon.lock';

/** Another daemon has the state directory (`holderPid` names it), or the bus name. */
export class AlreadyRunningError extends Error {
  constructor(readonly holderPid: number | null = null, what = `${DISPATCHER_BUS_NAME} is owned on this bus`) {
    super(`another instance is running (${what})`);
  }
}

/** The same interface, telling onActivity when each method call starts and ends. */
function observed(impl: InterfaceImpl, onActivity: () => void): InterfaceImpl {
  const methods: Record<string, MethodImpl> = {};
  for (const [name, fn] of Object.entries(impl.methods)) {
    methods[name] = async (args, ctx) => {
      onActivity();
      try {
        return await fn(args, ctx);
      } finally {
        onActivity();
      }
    };
  }
  return { ...impl, methods };
}

function resolveUid(users: UserTable, key: 'desktopUser' | 'companionUser', name: string): number {
  const entry = users.byUserName(name);
  if (!entry) throw new SdError('Config', `key "${key}" has bad value ${JSON.stringify(name)}: no such user on this system.`);
  return entry.uid;
}

/**
 * Takes the state directory's lock before anything in it is opened: a second daemon on the same
 * directory, on whatever bus, is refused with the holder's PID and changes nothing.
 */
export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  mkdirSync(opts.config.stateDir, { recursive: true, mode: 0o700 });
  let stateLock: StateLock;
  try {
    stateLock = acquireStateLock(opts.config.stateDir, STATE_LOCK_FILE);
  } catch (err) {
    if (err instanceof StateDirInUse) throw new AlreadyRunningError(err.holderPid, err.message);
    throw err;
  }
  try {
    return await startHolding(opts, stateLock);
  } catch (err) {
    stateLock.release();
    throw err;
  }
}

async function startHolding(opts: DaemonOptions, stateLock: StateLock): Promise<RunningDaemon> {
  const { config, bus, logger } = opts;
  const clock = opts.clock ?? systemClock;
  const now = clock.wall;
  const users = new UserTable();
  const uids = { desktopUid: resolveUid(users, 'desktopUser', config.desktopUser), companionUid: resolveUid(users, 'companionUser', config.companionUser) };

  const store = opts.store ?? openSecretStore(join(config.stateDir, STORE_DB_FILE), {
    argon2MemoryKiB: config.store.argon2MemoryKiB, argon2Iterations: config.store.argon2Iterations, now,
  });
  const auditLog = new AuditLog(join(config.stateDir, AUDIT_DB_FILE), logger.child('audit'));
  const audit = new UnattendedRowQuota(auditLog, clock, config.budgets.unattendedAuditRowsPerMinute);
  const retention = new AuditRetention(auditLog, clock, config.audit.retentionDays, logger.child('audit'));
  retention.start();
  const server = new ObjectServer(bus, { logger: logger.child('bus') });
  const consoles = new ConsoleRegistry((destination, generation) =>
    server.emitSignal(DISPATCHER_OBJECT_PATH, CONSOLE_INTERFACE, 'Changed', 't', [generation], destination));
  const openers = new ConnectionOpeners();
  const queue = new ApprovalQueue({
    config, consoles, audit, logger: logger.child('approvals'), clock,
    storeLocked: () => !store.initialized || store.locked,
    requesterChange,
    openerAlive: (pid, startTime) => readStartTime(pid) === startTime,
    describeRequester: describeForConsole,
    rules: { list: () => store.listRules(), save: (rule) => store.putRule(rule), remove: (id) => store.deleteRule(id) },
    adminPolicy: opts.adminRules?.length ? new AdminPolicy(opts.adminRules, { unitsOf: systemdUnitsOf }) : undefined,
  });
  store.onLock(() => queue.storeLocked());
  const services: DaemonServices = {
    config, logger, store, approvals: queue, audit, now, clock,
    requesters: new ProcRequesterResolver(uids, users, openers),
  };

  const desktopLocks = new DesktopLockLimit(clock, config.desktopLockIntervalSeconds * 1000);
  const hooks: RequestHooks = {
    lock: (ctx: CallContext, from: 'desktop' | 'console') => {
      if (from === 'desktop') desktopLocks.check();
      store.lock();
      queue.cancelAll('StoreLocked', 'The store was locked while the request waited.');
      const at = now();
      auditLog.record({ requestId: `s${at}`, kind: 'store', requester: null, target: 'lock', outcome: 'done', detail: `by ${ctx.sender} (${from})`, createdAt: at, decidedAt: at });
      consoles.changed();
    },
    listRules: () => {
      if (!store.initialized || store.locked) throw new SdError('StoreLocked', 'The rules are kept in the store; unlock it on the console to list them.');
      return queue.listRemembered();
    },
    status: () => {
      const t = queue.throttling;
      return {
        ...toVariantMap({
        Initialized: store.initialized,
        Locked: !store.initialized || store.locked,
        Pending: queue.size,
        ConsoleConnected: consoles.connected,
        Version: VERSION,
        RequestTimeoutSeconds: config.requestTimeoutSeconds,
          // A flood being turned away (QueueFull), so the console can say so: count, since (wall ms).
          ThrottledRefused: t ? t.refused : 0,
          ThrottledSince: BigInt(t ? Math.round(t.sinceWall) : 0),
        }),
        ThrottledUid: new Variant('i', t ? t.uid : -1),
      };
    },
  };

  const requestImpl = buildRequestInterface(loadInterfaceSpec('net.mowaka.SecretsDispatcher1.xml', REQUEST_INTERFACE), services, hooks, opts.extraMethods?.(services) ?? {});
  const consoleImpl = buildConsoleInterface(loadInterfaceSpec('net.mowaka.SecretsDispatcher1.Console.xml', CONSOLE_INTERFACE), { services, queue, consoles, auditLog, hooks });

  await watchConnections(bus, {
    arrived: (name) => openers.arrived(name, server.prefetchPeer(name)),
    gone: (name) => {
      server.forgetPeer(name);
      openers.gone(name);
      queue.ownerGone(name);
      if (consoles.gone(name)) {
        logger.info('console went away', { busName: name });
        consoles.changed();
      }
    },
  });
  const onActivity = opts.onActivity;
  server.export(DISPATCHER_OBJECT_PATH, onActivity ? [observed(requestImpl, onActivity), observed(consoleImpl, onActivity)] : [requestImpl, consoleImpl]);

  const reply = await requestName(bus, DISPATCHER_BUS_NAME, NAME_FLAG.doNotQueue);
  if (reply !== REQUEST_NAME_REPLY.primaryOwner && reply !== REQUEST_NAME_REPLY.alreadyOwner) {
    server.close();
    retention.stop();
    auditLog.close();
    if (!opts.store) store.close();
    throw new AlreadyRunningError();
  }

  let stopped = false;
  return {
    services,
    queue,
    async stop() {
      if (stopped) return;
      stopped = true;
      queue.close();
      store.lock();
      try {
        await callMethod(bus, { destination: DBUS_NAME, path: DBUS_PATH, interface: DBUS_INTERFACE, member: 'ReleaseName', signature: 's', body: [DISPATCHER_BUS_NAME], timeoutMs: 2000 });
      } catch (err) {
        logger.warning('could not release the bus name', { error: (err as Error).message });
      }
      server.close();
      audit.close();
      retention.stop();
      auditLog.close();
      if (!opts.store) store.close();
      stateLock.release();
    },
  };
}
