// The console's side of the console interface (daemon/introspection/…Console.xml): registers as the
// console, re-reads the (display-sized) pending list on every unicast Changed, reads one request's
// detail when the screen needs it, and carries the human's decisions
// and passphrases to the daemon. When the daemon goes away (restart, crash) or the bus itself does,
// it says so through onConnection and keeps trying; once back it registers again and refreshes, so
// the screen shows the daemon's queue, which survives a console crash and is rebuilt after a daemon
// restart.
import { callMethod, connectBus, disconnectBus, fromVariantMap, type Message, type MessageBus } from '../core/dbus/bus.js';
import { CONSOLE_INTERFACE, DBUS_INTERFACE, DBUS_NAME, DBUS_PATH, DISPATCHER_BUS_NAME, DISPATCHER_OBJECT_PATH } from '../core/names.js';
import type { DaemonStatus, DecisionVerb, HistoryEntry, PendingList, RateLimitNotice, RememberedDecision, RequestDetail } from '../core/wire.js';

export interface ConsoleClientEvents {
  /** The daemon's status and queue, read together after each Changed; the next read waits for it. */
  snapshot(status: DaemonStatus, pending: PendingList): Promise<void> | void;
  connection(state: 'connected' | 'lost', reason?: string): void;
}

export interface ConsoleClientOptions {
  /** Bus address; default DBUS_SYSTEM_BUS_ADDRESS or the system bus. */
  address?: string;
  events: ConsoleClientEvents;
  /** How long to wait between reconnection attempts. */
  retryMs?: number;
  /** Most history rows asked for at once. */
  historyLimit?: number;
}

const CALL_TIMEOUT_MS = 10_000;

export function parseStatus(untrusted: unknown): DaemonStatus {
  const m = fromVariantMap(untrusted);
  return {
    initialized: m.Initialized === true,
    locked: m.Locked !== false,
    pending: typeof m.Pending === 'number' ? m.Pending : 0,
    consoleConnected: m.ConsoleConnected === true,
    version: typeof m.Version === 'string' ? m.Version : '?',
    requestTimeoutSeconds: typeof m.RequestTimeoutSeconds === 'number' ? m.RequestTimeoutSeconds : 0,
    throttled: typeof m.ThrottledUid === 'number' && m.ThrottledUid >= 0 && typeof m.ThrottledRefused === 'number'
      ? { uid: m.ThrottledUid, refused: m.ThrottledRefused, since: Number(m.ThrottledSince) }
      : null,
    cooldowns: parseCooldowns(m.Cooldowns),
  };
}

/** Status' Cooldowns (JSON RateLimitNotice[]); anything malformed is left out rather than trusted. */
function parseCooldowns(untrusted: unknown): RateLimitNotice[] {
  if (typeof untrusted !== 'string') return [];
  let list: unknown;
  try {
    list = JSON.parse(untrusted);
  } catch {
    return [];
  }
  if (!Array.isArray(list)) return [];
  return list.filter((n): n is RateLimitNotice => !!n && typeof n === 'object'
    && typeof n.id === 'string' && typeof n.subject === 'string' && typeof n.uid === 'number'
    && ['prompts', 'cooldown', 'burst'].includes(n.why) && typeof n.until === 'number' && typeof n.refused === 'number');
}

export class ConsoleClient {
  private bus: MessageBus | null = null;
  private daemonName: string | null = null;
  private stopped = false;
  private refreshing: Promise<void> | null = null;
  private refreshAgain = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private connected = false;

  constructor(private readonly options: ConsoleClientOptions) {}

  /** Connect and keep connected until stop(); resolves after the first attempt. */
  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.bus) disconnectBus(this.bus);
    this.bus = null;
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, this.options.retryMs ?? 500);
  }

  private lost(reason: string): void {
    this.daemonName = null;
    if (this.connected) {
      this.connected = false;
      this.options.events.connection('lost', reason);
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    if (!this.bus) {
      try {
        const bus = await connectBus('system', this.options.address);
        this.bus = bus;
        bus.on('message', (msg: Message) => this.onMessage(msg));
        bus.on('error', () => {
          if (this.bus !== bus) return;
          this.bus = null;
          this.lost('the bus connection closed');
          this.scheduleRetry();
        });
        // NameOwnerChanged for the daemon's name tells us about restarts without polling.
        await callMethod(bus, {
          destination: DBUS_NAME, path: DBUS_PATH, interface: DBUS_INTERFACE, member: 'AddMatch', signature: 's',
          body: [`type='signal',sender='${DBUS_NAME}',interface='${DBUS_INTERFACE}',member='NameOwnerChanged',arg0='${DISPATCHER_BUS_NAME}'`],
          timeoutMs: CALL_TIMEOUT_MS,
        });
      } catch (err) {
        if (this.bus) disconnectBus(this.bus);
        this.bus = null;
        this.lost((err as Error).message);
        this.scheduleRetry();
        return;
      }
    }
    await this.register();
  }

  private async register(): Promise<void> {
    const bus = this.bus;
    if (!bus || this.stopped) return;
    try {
      const [owner] = await callMethod(bus, { destination: DBUS_NAME, path: DBUS_PATH, interface: DBUS_INTERFACE, member: 'GetNameOwner', signature: 's', body: [DISPATCHER_BUS_NAME], timeoutMs: CALL_TIMEOUT_MS });
      await this.call('RegisterConsole');
      this.daemonName = owner as string;
      this.connected = true;
      this.options.events.connection('connected');
      await this.refresh();
    } catch (err) {
      this.lost((err as Error).message);
      // The name-owner signal brings us back when the daemon appears; the timer covers a missed one.
      this.scheduleRetry();
    }
  }

  private onMessage(msg: Message): void {
    if (msg.type !== 4 /* SIGNAL */) return;
    if (msg.interface === DBUS_INTERFACE && msg.member === 'NameOwnerChanged' && msg.sender === DBUS_NAME) {
      const [name, , newOwner] = msg.body as [string, string, string];
      if (name !== DISPATCHER_BUS_NAME) return;
      if (newOwner === '') {
        this.lost('the daemon went away');
      } else {
        void this.register();
      }
      return;
    }
    // Changed comes only from the daemon's current connection; anything else is ignored.
    if (msg.interface === CONSOLE_INTERFACE && msg.member === 'Changed' && msg.sender === this.daemonName) void this.refresh();
  }

  /** Re-read status and the pending list; bursts of Changed collapse into one extra read. */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.refreshAgain = false;
          // Both in flight at once: one round trip less between a request arriving and the screen.
          const [[statusMap], [json]] = await Promise.all([this.call('Status'), this.call('ListPending')]);
          await this.options.events.snapshot(parseStatus(statusMap), JSON.parse(json as string) as PendingList);
        } while (this.refreshAgain && !this.stopped);
      } catch (err) {
        if (!this.stopped) this.lost((err as Error).message);
        this.scheduleRetry();
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private call(member: string, signature = '', body: unknown[] = []): Promise<any[]> {
    if (!this.bus) return Promise.reject(new Error('not connected to the bus'));
    return callMethod(this.bus, {
      destination: DISPATCHER_BUS_NAME, path: DISPATCHER_OBJECT_PATH, interface: CONSOLE_INTERFACE,
      member, signature, body, timeoutMs: CALL_TIMEOUT_MS,
    });
  }

  /** One pending request, cut by the daemon to what a screen shows. */
  async getRequest(id: string): Promise<RequestDetail> {
    const [json] = await this.call('GetRequest', 's', [id]);
    return JSON.parse(json as string) as RequestDetail;
  }

  async decide(id: string, verb: DecisionVerb, minutes: number): Promise<void> {
    await this.call('Decide', 'ssu', [id, verb, minutes]);
  }

  /** Sends and then wipes the passphrase. */
  async unlock(passphrase: Buffer): Promise<void> {
    try {
      await this.call('Unlock', 'ay', [passphrase]);
    } finally {
      passphrase.fill(0);
    }
  }

  /** Sends and then wipes the passphrase; returns the one-time recovery code. */
  async createStore(passphrase: Buffer): Promise<string> {
    try {
      const [code] = await this.call('CreateStore', 'ay', [passphrase]);
      return code as string;
    } finally {
      passphrase.fill(0);
    }
  }

  /** Sends and then wipes both passphrases. The daemon checks the current one (WrongPassphrase). */
  async changePassphrase(current: Buffer, passphrase: Buffer): Promise<void> {
    try {
      await this.call('ChangePassphrase', 'ayay', [current, passphrase]);
    } finally {
      current.fill(0);
      passphrase.fill(0);
    }
  }

  /**
   * Sets a new passphrase with the recovery code (typed, UTF-8) and returns the new recovery code;
   * wipes both buffers. The daemon leaves the store as locked as it was.
   */
  async resetPassphrase(recoveryCode: Buffer, passphrase: Buffer): Promise<string> {
    try {
      // The interface takes the code as a D-Bus string, so one short-lived JS string copy is unavoidable.
      const [code] = await this.call('ResetPassphrase', 'say', [recoveryCode.toString('utf8'), passphrase]);
      return code as string;
    } finally {
      recoveryCode.fill(0);
      passphrase.fill(0);
    }
  }

  async lock(): Promise<void> {
    await this.call('Lock');
  }

  /** Approves a request that needs one more secret from the human (a key's own passphrase); wipes it after sending. */
  async approveWithSecret(id: string, secret: Buffer): Promise<void> {
    try {
      await this.call('ApproveWithSecret', 'say', [id, secret]);
    } finally {
      secret.fill(0);
    }
  }

  async history(): Promise<HistoryEntry[]> {
    const [json] = await this.call('History', 'u', [this.options.historyLimit ?? 500]);
    return JSON.parse(json as string) as HistoryEntry[];
  }

  async listRemembered(): Promise<RememberedDecision[]> {
    const [json] = await this.call('ListRemembered');
    return JSON.parse(json as string) as RememberedDecision[];
  }

  async revoke(id: string): Promise<void> {
    await this.call('Revoke', 's', [id]);
  }

  /** Every grant and rule; returns how many there were. */
  async revokeAll(): Promise<number> {
    const [n] = await this.call('RevokeAll');
    return Number(n);
  }

  async liftCooldown(id: string): Promise<void> {
    await this.call('LiftCooldown', 's', [id]);
  }

  /** A tier-high request's second step: approve it once with the word shown. */
  async decideConfirmed(id: string, word: string): Promise<void> {
    await this.call('DecideConfirmed', 'ss', [id, word]);
  }

  async setTier(what: 'item' | 'key', id: string, tier: string): Promise<void> {
    await this.call('SetTier', 'sss', [what, id, tier]);
  }
}
