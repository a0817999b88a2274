/**
 * Telphin's side of the subscriptions use case: one `hangup` event hook per extension in scope
 * (`GET/POST /extension/{id}/event/`, `DELETE /extension/{id}/event/{eventId}/`), method POST, at our
 * webhook URL with the token (Telphin signs nothing). Hooks do not expire and have no status; one with
 * another method is replaced, since the deployed route takes POST only. Filters are `hangup@{extensionId}`.
 */

import type { RemoteSubscription, SubscriptionApi } from '../../core/ensure-subscriptions-for-source';
import { asCallvaultError, PermanentError, TransientError } from '../../core/errors';
import type { HttpTextResponse } from '../http';
import { expectDeleted, jsonOf } from '../shared/authorised-client';
import { jsonObject } from '../shared/json';

export const HANGUP_EVENT = 'hangup';

export function hangupFilter(extensionId: string): string {
  return `${HANGUP_EVENT}@${extensionId}`;
}

/** Failures every extension would share: they stop the check of the source. */
const SOURCE_WIDE: ReadonlySet<string> = new Set(['UNAUTHENTICATED', 'CREDENTIALS_NOT_SET', 'RATE_LIMITED']);

/** TelphinSource's authenticated API call. */
type Send = (method: string, path: string, signal?: AbortSignal, json?: unknown) => Promise<HttpTextResponse>;

/** `/extension/{id}/event/`: an extension's event hooks. */
function eventsPath(extensionId: string): string {
  return `/extension/${encodeURIComponent(extensionId)}/event/`;
}

function parseHook(raw: unknown, extensionId: string): RemoteSubscription | undefined {
  const hook = jsonObject(raw);
  if (!hook || (typeof hook.id !== 'number' && typeof hook.id !== 'string') || typeof hook.url !== 'string')
    return undefined;
  return {
    id: `${extensionId}:${hook.id}`,
    address: hook.url,
    filter: `${String(hook.event_type)}@${extensionId}`,
    // A GET hook would send the fields in the query; ours must be POST to reach the deployed route.
    status: hook.method === 'POST' ? 'active' : 'other',
  };
}

export class TelphinEventHookApi implements SubscriptionApi {
  constructor(
    private readonly send: Send,
    private readonly extensionIds: readonly string[],
  ) {}

  /** Extensions whose hooks could not be listed in the last `list`, and why. */
  private readonly unlisted = new Map<string, unknown>();

  /**
   * Every extension's hooks. One whose list fails does not hide the others': creating its hook throws that
   * failure, so it alone is reported and no duplicate is made next to hooks we could not see.
   */
  async list(signal?: AbortSignal): Promise<RemoteSubscription[]> {
    const found: RemoteSubscription[] = [];
    this.unlisted.clear();
    for (const extensionId of this.extensionIds) {
      try {
        const body = jsonOf(await this.send('GET', eventsPath(extensionId), signal));
        if (!Array.isArray(body))
          throw new TransientError(`Telphin event list of extension ${extensionId} is not an array`);
        for (const raw of body) {
          const hook = parseHook(raw, extensionId);
          if (hook) found.push(hook);
        }
      } catch (thrown) {
        const { code } = asCallvaultError(thrown);
        if (signal?.aborted || SOURCE_WIDE.has(code)) throw thrown;
        this.unlisted.set(extensionId, thrown);
      }
    }
    return found;
  }

  async create(
    wanted: { address: string; filter: string; secret: string },
    signal?: AbortSignal,
  ): Promise<RemoteSubscription> {
    const [eventType, extensionId] = wanted.filter.split('@');
    if (eventType !== HANGUP_EVENT || !extensionId)
      throw new PermanentError(`not a Telphin hook filter: ${wanted.filter}`);
    const unlisted = this.unlisted.get(extensionId);
    if (unlisted) {
      const reason = unlisted instanceof Error ? unlisted.message : String(unlisted);
      throw new PermanentError(
        `Telphin extension ${extensionId}: its event hooks could not be listed (${reason}), so none is created`,
        { cause: unlisted },
      );
    }
    const hook = { url: wanted.address, method: 'POST', event_type: eventType };
    const created = parseHook(
      jsonOf(await this.send('POST', eventsPath(extensionId), signal, hook)),
      extensionId,
    );
    if (!created) throw new TransientError('Telphin answered the hook creation without a hook');
    return created;
  }

  async delete(subscription: RemoteSubscription, signal?: AbortSignal): Promise<void> {
    const [extensionId, eventId] = subscription.id.split(':');
    if (!extensionId || !eventId) throw new PermanentError(`not a Telphin hook id: ${subscription.id}`);
    const path = `${eventsPath(extensionId)}${encodeURIComponent(eventId)}/`;
    expectDeleted(await this.send('DELETE', path, signal));
  }
}
