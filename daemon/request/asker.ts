// Who asks and why, from one request's context a{sv}: the requester as the daemon verified it
// (identity/requesters.ts) and the requester's own reason, validated once (validate.ts). The
// reason is kept out of `claimed`: it is not a claim about who asks but words about why, shown
// apart on the console and recorded in the audit row.
import { fromVariantMap } from '../../core/dbus/bus.js';
import type { CallContext } from '../../core/dbus/service.js';
import type { RequesterInfo } from '../../core/wire.js';
import type { RequesterResolver } from '../services.js';
import { REASON_KEY } from '../../core/reason.js';
import { validReason } from './validate.js';

export interface Asker { requester: RequesterInfo; reason: string | null }

export async function resolveAsker(requesters: RequesterResolver, ctx: CallContext, untrustedContext: unknown): Promise<Asker> {
  const context = fromVariantMap(untrustedContext);
  // Checked before anything else is read: an over-long reason queues nothing.
  const reason = validReason(context[REASON_KEY]);
  return { requester: await requesters.resolve(ctx, context), reason };
}
