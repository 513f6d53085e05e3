// systemd readiness and watchdog (Type=notify, WatchdogSec=). Only when systemd asked for it
// (NOTIFY_SOCKET set); the native module is loaded lazily so a daemon run by hand or in tests never
// needs it.
import { createRequire } from 'node:module';
import type { Logger } from '../core/logger.js';

interface SdNotify { ready(): void; watchdog(): void; watchdogInterval(): number; stopping(pid?: number): void }

export interface Notifier { ready(): void; stopping(): void; close(): void }

export function createNotifier(logger: Logger): Notifier {
  if (!process.env.NOTIFY_SOCKET) return { ready() {}, stopping() {}, close() {} };
  let sd: SdNotify;
  try {
    sd = createRequire(import.meta.url)('sd-notify') as SdNotify;
  } catch (err) {
    logger.warning('sd-notify is not available; systemd will not hear READY', { error: (err as Error).message });
    return { ready() {}, stopping() {}, close() {} };
  }
  let timer: NodeJS.Timeout | null = null;
  return {
    ready() {
      sd.ready();
      // WATCHDOG_USEC is what systemd expects; ping at half of it so one slow tick is not fatal.
      const usec = Number(process.env.WATCHDOG_USEC ?? 0);
      if (usec > 0) {
        const everyMs = Math.max(500, Math.floor(usec / 2000));
        timer = setInterval(() => sd.watchdog(), everyMs);
        timer.unref();
        logger.info('watchdog heartbeat on', { everyMs });
      }
    },
    stopping() {
      try {
        sd.stopping(process.pid);
      } catch {
        // systemd may already be gone at shutdown
      }
    },
    close() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
