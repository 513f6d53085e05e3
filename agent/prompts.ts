// Prompt objects (spec 0.2): the way a Secret Service client waits for a human as long as it
// takes without holding a method call open past its own timeout. Prompt() starts the forwarded
// request (the human decides on the console, so window-id is ignored); Completed carries the
// outcome; Dismiss or the client leaving withdraws the request from the daemon.
import { Variant } from '../core/dbus/bus.js';
import type { InterfaceImpl, ObjectServer } from '../core/dbus/service.js';
import { SdError, SECRET_SERVICE_ERRORS } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { SECRET_PROMPT_INTERFACE } from '../core/names.js';
import type { InterfaceSpec } from '../core/dbus/introspection.js';
import { PROMPT_PREFIX } from './object-paths.js';

type AnyVariant = InstanceType<typeof Variant>;

/** A prompt nobody calls Prompt() on is dropped after this (and its held secret wiped). */
const UNUSED_PROMPT_MS = 10 * 60_000;

export interface PromptAction {
  /** Does the work; resolves to Completed's result, rejects to report dismissed. */
  run(signal: AbortSignal): Promise<AnyVariant>;
  /** Completed's result when dismissed (its type matches what the method promised). */
  emptyResult: AnyVariant;
  /** Always called once at the end: wipe anything the prompt held. */
  discard?(): void;
}

interface PendingPrompt {
  owner: string;
  action: PromptAction;
  controller: AbortController;
  started: boolean;
  timer: NodeJS.Timeout;
}

export class PromptRegistry {
  private readonly prompts = new Map<string, PendingPrompt>();
  private next = 1;
  private readonly impl: InterfaceImpl;

  constructor(private readonly server: ObjectServer, spec: InterfaceSpec, private readonly logger: Logger) {
    this.impl = {
      spec,
      methods: {
        Prompt: (_args, ctx) => this.start(ctx.path, ctx.sender),
        Dismiss: (_args, ctx) => this.dismiss(ctx.path, ctx.sender),
      },
    };
  }

  create(owner: string, action: PromptAction): string {
    const path = `${PROMPT_PREFIX}${this.next++}`;
    const timer = setTimeout(() => this.finish(path, true, null), UNUSED_PROMPT_MS);
    timer.unref();
    this.prompts.set(path, { owner, action, controller: new AbortController(), started: false, timer });
    this.server.export(path, [this.impl]);
    return path;
  }

  private own(path: string, caller: string): PendingPrompt {
    const p = this.prompts.get(path);
    if (!p || p.owner !== caller) throw new SdError('NotFound', 'No such prompt for this client.', { dbusName: SECRET_SERVICE_ERRORS.NoSuchObject });
    return p;
  }

  private start(path: string, caller: string): void {
    const p = this.own(path, caller);
    if (p.started) return;
    p.started = true;
    clearTimeout(p.timer);
    // After this method's reply is on the wire, so Completed never overtakes it.
    setImmediate(() => {
      p.action.run(p.controller.signal).then(
        (result) => this.finish(path, false, result),
        (err) => {
          if (!(err instanceof SdError)) this.logger.error('prompt failed', { error: (err as Error)?.message ?? String(err) });
          this.finish(path, true, null);
        },
      );
    });
  }

  private dismiss(path: string, caller: string): void {
    this.own(path, caller);
    this.finish(path, true, null);
  }

  private finish(path: string, dismissed: boolean, result: AnyVariant | null): void {
    const p = this.prompts.get(path);
    if (!p) return;
    this.prompts.delete(path);
    clearTimeout(p.timer);
    p.controller.abort();
    p.action.discard?.();
    this.server.emitSignal(path, SECRET_PROMPT_INTERFACE, 'Completed', 'bv', [dismissed, result ?? p.action.emptyResult], p.owner);
    // Unexport a little later: a client may still be introspecting the prompt it just saw complete.
    setTimeout(() => this.server.unexport(path), 1000).unref();
  }

  /** The client left: withdraw its requests, no signal (nobody to receive it). */
  forget(owner: string): void {
    for (const [path, p] of this.prompts) {
      if (p.owner !== owner) continue;
      this.prompts.delete(path);
      clearTimeout(p.timer);
      p.controller.abort();
      p.action.discard?.();
      this.server.unexport(path);
    }
  }

  close(): void {
    for (const p of this.prompts.values()) this.forget(p.owner);
  }
}

export const emptyPaths = (): AnyVariant => new Variant('ao', []);
