// Wires the pure parts (state, keys, view-model) to the outside (daemon client, blessed screen, VT):
// every event becomes a new state and a repaint; every key becomes a new state plus actions that go
// to the daemon. Errors from the daemon end up on screen as one line, never as a crash.
import { type ErrorCode, isSdError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { RequestDetail } from '../core/wire.js';
import { ConsoleClient } from './console-client.js';
import { handleKey, type Action, type Key } from './keys.js';
import { applyDetail, applyPending, applyStatus, initialState, newPrompt, notify, unmarkDecided, wipePrompt, type ConsoleState } from './state.js';
import { ConsoleScreen } from './screen.js';
import { renderView, type View } from './view-model.js';
import { VtHolder, vtNumberOf } from './vt.js';

export interface ConsoleAppOptions {
  guardMs: number;
  /** Take over this terminal device; default: the current terminal. */
  ttyPath?: string;
  switchToVt: boolean;
  busAddress?: string;
  logger: Logger;
}

export interface ConsoleApp {
  /** Resolves when the human asked to quit (Ctrl+C in the console). */
  readonly quit: Promise<void>;
  stop(): Promise<void>;
}

export async function startConsoleApp(options: ConsoleAppOptions): Promise<ConsoleApp> {
  const now = () => Date.now();
  const { logger } = options;
  let state: ConsoleState = initialState(options.guardMs);
  let lastView: View | null = null;
  let stopped = false;
  let everConnected = false;
  let requestQuit!: () => void;
  const quit = new Promise<void>((resolve) => { requestQuit = resolve; });

  const vtNumber = options.ttyPath ? vtNumberOf(options.ttyPath) : null;
  const vt = options.ttyPath && vtNumber !== null
    ? new VtHolder(options.ttyPath, vtNumber, {
      switchToVt: options.switchToVt,
      onAcquire: () => update((s) => ({ ...s, focusSince: now() })),
      onRelease: () => logger.info('the human switched away from the console; requests stay pending'),
    })
    : null;

  // Whatever ends the process, the VT must not stay in VT_PROCESS (kill -9 is the unit's job).
  const restoreVt = () => vt?.restore();
  process.once('exit', restoreVt);

  // The focused request's detail is read when focus moves to it; keys are handled meanwhile (they
  // decide nothing until it is on screen).
  let detailWanted: string | null = null;
  const fetchDetail = (): void => {
    const id = state.focusedId;
    if (id === null || state.detail?.id === id || detailWanted === id) return;
    detailWanted = id;
    client.getRequest(id).then(
      (detail: RequestDetail) => update((s) => applyDetail(s, detail, now())),
      (err: unknown) => {
        // NotFound: it ended meanwhile; the next list says so.
        if (!(isSdError(err) && err.code === 'NotFound')) fail('Cannot read the request', err);
      },
    ).finally(() => {
      if (detailWanted === id) detailWanted = null;
    });
  };

  const render = () => {
    if (stopped) return;
    fetchDetail();
    // Hold the VT before a request becomes visible, release it only after none is.
    try {
      vt?.setRequestsShown(state.pending.length > 0);
    } catch (err) {
      logger.warning('cannot change the VT mode', { error: (err as Error).message });
    }
    lastView = renderView(state, screen.size, now());
    screen.paint(lastView);
  };
  const update = (change: (s: ConsoleState) => ConsoleState): void => {
    state = change(state);
    render();
  };
  /** `plainer` replaces the catalogue's words for errors the person can act on in this context. */
  const fail = (what: string, err: unknown, plainer: Partial<Record<ErrorCode, string>> = {}) => {
    const text = (isSdError(err) && plainer[err.code]) || (isSdError(err) ? err.message : `${what}: ${(err as Error).message}`);
    logger.warning(what, { error: (err as Error).message });
    update((s) => notify(s, text, 'error', now()));
  };

  const client: ConsoleClient = new ConsoleClient({
    address: options.busAddress,
    events: {
      snapshot: async (status, list): Promise<void> => {
        const apply = (s: ConsoleState) => applyPending(applyStatus(s, status), list, now());
        // A request that takes focus appears together with its detail, not a round trip later.
        const next = apply(state);
        if (next.focusedId !== null && next.detail?.id !== next.focusedId) {
          const detail: RequestDetail | null = await client.getRequest(next.focusedId).catch(() => null);
          if (detail) {
            update((s) => applyDetail(apply(s), detail, now()));
            return;
          }
        }
        update(apply);
      },
      connection: (c, reason) => {
        if (c === 'connected') {
          update((s) => (everConnected ? notify({ ...s, connection: 'connected' }, 'Connected to the daemon again; showing its current queue.', 'info', now()) : { ...s, connection: 'connected' }));
          everConnected = true;
        } else {
          logger.warning('daemon connection lost', { reason });
          update((s) => notify({ ...s, connection: 'lost' }, 'The daemon is not reachable; reconnecting. Nothing can be decided until it is back.', 'error', now()));
        }
      },
    },
  });

  const run = async (action: Action): Promise<void> => {
    switch (action.type) {
      case 'decide':
        try {
          await client.decide(action.id, action.verb, action.minutes);
        } catch (err) {
          update((s) => unmarkDecided(s, action.id));
          fail('The decision did not reach the daemon', err);
          void client.refresh();
        }
        return;
      case 'unlock':
        update((s) => notify(s, 'Checking the passphrase...', 'info', now()));
        try {
          await client.unlock(action.passphrase);
          update((s) => notify(s, 'Store unlocked.', 'info', now()));
        } catch (err) {
          fail('Unlock failed', err);
        }
        await client.refresh();
        return;
      case 'create':
        update((s) => notify(s, 'Creating the store...', 'info', now()));
        try {
          const code = await client.createStore(action.passphrase);
          update((s) => ({ ...notify(s, 'Store created.', 'info', now()), recoveryCode: { text: code, reason: 'created' } }));
        } catch (err) {
          fail('Creating the store failed', err);
        }
        await client.refresh();
        return;
      case 'change-passphrase':
        update((s) => notify(s, 'Changing the passphrase...', 'info', now()));
        try {
          await client.changePassphrase(action.current, action.passphrase);
          update((s) => notify(s, 'Passphrase changed: the new one unlocks the store from now on.', 'info', now()));
        } catch (err) {
          fail('Changing the passphrase failed', err, { WrongPassphrase: 'Wrong current passphrase: nothing was changed (p to try again).' });
        }
        await client.refresh();
        return;
      case 'reset-passphrase': {
        update((s) => notify(s, 'Checking the recovery code...', 'info', now()));
        // The daemon leaves the store locked after a reset; the new passphrase, just typed twice, unlocks it.
        const forUnlock = Buffer.from(action.passphrase);
        try {
          const code = await client.resetPassphrase(action.recoveryCode, action.passphrase);
          update((s) => {
            wipePrompt(s.prompt);
            return { ...notify(s, 'Passphrase reset; unlocking with the new one...', 'info', now()), prompt: newPrompt('unlock'), recoveryCode: { text: code, reason: 'reset' } };
          });
        } catch (err) {
          forUnlock.fill(0);
          fail('Resetting the passphrase failed', err, { WrongRecoveryCode: 'Wrong recovery code: nothing was changed (Ctrl+R to try again).' });
          await client.refresh();
          return;
        }
        try {
          await client.unlock(forUnlock);
          update((s) => notify(s, 'Passphrase reset and store unlocked.', 'info', now()));
        } catch (err) {
          fail('The passphrase was reset, but unlocking failed', err);
        }
        await client.refresh();
        return;
      }
      case 'approve-with-secret':
        try {
          await client.approveWithSecret(action.id, action.secret);
        } catch (err) {
          update((s) => unmarkDecided(s, action.id));
          fail('The approval did not reach the daemon', err);
          void client.refresh();
        }
        return;
      case 'decide-confirmed':
        try {
          await client.decideConfirmed(action.id, action.word);
        } catch (err) {
          update((s) => unmarkDecided(s, action.id));
          fail('The approval did not reach the daemon', err);
          void client.refresh();
        }
        return;
      case 'set-tier':
        try {
          for (const id of action.ids) await client.setTier(action.what, id, action.tier);
          const what = action.what === 'key' ? 'the signing key' : action.ids.length === 1 ? 'the item' : `the ${action.ids.length} items`;
          update((s) => notify(s, `Tier of ${what} set to ${action.tier}. This request keeps the tier it was asked with.`, 'info', now()));
        } catch (err) {
          fail('Setting the tier failed', err);
        }
        return;
      case 'lock':
        try {
          await client.lock();
          update((s) => notify(s, 'Store locked.', 'info', now()));
        } catch (err) {
          fail('Lock failed', err);
        }
        await client.refresh();
        return;
      case 'load-history':
        try {
          const history = await client.history();
          update((s) => ({ ...s, history }));
        } catch (err) {
          fail('Cannot read the history', err);
        }
        return;
      case 'load-remembered':
      case 'revoke':
      case 'revoke-all':
        try {
          if (action.type === 'revoke') await client.revoke(action.id);
          const all = action.type === 'revoke-all' ? await client.revokeAll() : null;
          const remembered = await client.listRemembered();
          update((s) => ({ ...s, remembered, rememberedIndex: Math.min(s.rememberedIndex, Math.max(0, remembered.length - 1)) }));
          if (action.type === 'revoke') update((s) => notify(s, 'Remembered decision revoked.', 'info', now()));
          if (all !== null) update((s) => notify(s, `Revoked everything: ${all} remembered decisions and rules.`, 'info', now()));
        } catch (err) {
          fail('Cannot update the remembered decisions', err);
        }
        return;
      case 'lift-cooldown':
        try {
          await client.liftCooldown(action.id);
          update((s) => notify(s, 'Rate limit lifted: that program is asked again.', 'info', now()));
        } catch (err) {
          fail('Cannot lift the rate limit', err);
        }
        await client.refresh();
        return;
      case 'redraw':
        lastView = renderView(state, screen.size, now());
        screen.redraw(lastView);
        return;
      case 'quit':
        requestQuit();
        return;
    }
  };

  const onKey = (key: Key) => {
    if (stopped) return;
    const result = handleKey(state, key, now(), { pageLines: lastView?.pageLines ?? 10, maxScroll: lastView?.maxScroll ?? 0 });
    state = result.state;
    // The decision leaves before the repaint: the requester should not wait for the screen.
    for (const action of result.actions) void run(action);
    render();
  };

  const screen = new ConsoleScreen({ ttyPath: options.ttyPath, onKey, onResize: () => render() });
  render();
  // Countdowns and notices age once a second.
  const ticker = setInterval(render, 1000);
  await client.start();

  return {
    quit,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(ticker);
      await client.stop();
      vt?.close();
      process.removeListener('exit', restoreVt);
      screen.destroy();
    },
  };
}
