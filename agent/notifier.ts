// Desktop notifications (org.freedesktop.Notifications) while a request of this user waits on
// the console, and when the companion cannot answer. They carry no action button: approval
// happens only on the console, where no desktop process can draw or type. A burst of requests
// updates one notification (replaces_id) instead of stacking many.
import { callMethod, Variant, type MessageBus } from '../core/dbus/bus.js';
import type { Logger } from '../core/logger.js';
import { NOTIFICATIONS_BUS_NAME, NOTIFICATIONS_PATH } from '../core/names.js';

const NOTIFICATIONS_INTERFACE = 'org.freedesktop.Notifications';
const APP_NAME = 'Secrets Dispatcher';
const URGENCY_NORMAL = 1;
const URGENCY_CRITICAL = 2;

export interface Notifier {
  /** A request is waiting on the console; call the returned function when it is decided. */
  waiting(who: string, what: string): () => void;
  /** The companion cannot serve a request: say what to do. */
  unavailable(advice: string): void;
  close(): void;
}

export class DesktopNotifier implements Notifier {
  private readonly pending = new Map<number, string>();
  private nextToken = 1;
  /** The id of the notification on screen about pending requests (0 = none). */
  private shownId = 0;
  private errorId = 0;
  private lastError = '';
  private lastErrorAt = 0;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly bus: MessageBus, private readonly vt: number, private readonly logger: Logger) {}

  waiting(who: string, what: string): () => void {
    const token = this.nextToken++;
    this.pending.set(token, `${what} requested by ${who}`);
    this.refresh();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.pending.delete(token);
      this.refresh();
    };
  }

  unavailable(advice: string): void {
    // The same failure repeated by a retrying client is one notification, not a stream.
    const now = Date.now();
    if (advice === this.lastError && now - this.lastErrorAt < 30_000) return;
    this.lastError = advice;
    this.lastErrorAt = now;
    this.enqueue(async () => {
      this.errorId = await this.notify(this.errorId, 'Secret request failed', advice, URGENCY_CRITICAL);
    });
  }

  close(): void {
    this.pending.clear();
  }

  private refresh(): void {
    this.enqueue(async () => {
      const texts = [...this.pending.values()];
      const console = `approve on VT${this.vt} (Ctrl+Alt+F${this.vt})`;
      if (texts.length === 0) {
        if (this.shownId) await this.call('CloseNotification', 'u', [this.shownId]);
        this.shownId = 0;
        return;
      }
      const summary = texts.length === 1 ? `${texts[0]} — ${console}` : `${texts.length} secret requests waiting — ${console}`;
      const body = texts.length === 1 ? `Look at the console on VT${this.vt} to see the details and decide.` : texts.slice(0, 5).join('\n');
      this.shownId = await this.notify(this.shownId, summary, body, URGENCY_NORMAL);
    });
  }

  /** Serialised so replaces_id always refers to the notification currently shown. */
  private enqueue(job: () => Promise<void>): void {
    this.chain = this.chain.then(job).catch((err) => {
      this.logger.debug('notification not shown', { error: (err as Error)?.message ?? String(err) });
    });
  }

  private async notify(replacesId: number, summary: string, body: string, urgency: number): Promise<number> {
    const [id] = await this.call('Notify', 'susssasa{sv}i', [
      APP_NAME, replacesId, 'dialog-password', summary, body, [], { urgency: new Variant('y', urgency) }, -1,
    ]);
    return typeof id === 'number' ? id : 0;
  }

  private call(member: string, signature: string, body: unknown[]): Promise<any[]> {
    return callMethod(this.bus, { destination: NOTIFICATIONS_BUS_NAME, path: NOTIFICATIONS_PATH, interface: NOTIFICATIONS_INTERFACE, member, signature, body, timeoutMs: 5_000 });
  }

  /** Whether anything is shown about pending requests (tests and shutdown). */
  idle(): Promise<unknown> {
    return this.chain;
  }
}
