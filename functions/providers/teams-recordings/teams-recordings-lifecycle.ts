/**
 * What to do about the lifecycle events a delivery carried (`TeamsRecordingsWebhookOutcome.lifecycle`), as Graph
 * documents it: `reauthorizationRequired` → reauthorize the subscription (else recreate or renew it
 * through ensureSubscriptionsForSource); `subscriptionRemoved` → recreate it, then sweep, since nothing was
 * delivered meanwhile; `missed` → sweep the source's whole lookback window at once. However many events
 * a batch holds, the subscriptions are ensured at most once and the sweep runs at most once, after them,
 * so no recording falls between the recreated subscription and the sweep.
 *
 * This runs outside the webhook's reply (Graph wants 2xx within 3 s): the host hands the events to a
 * function or task that calls this, with its own ensureSubscriptionsForSource and sweepSource as the handlers.
 */
import type { Log } from '../../core/ports';
import type { TeamsRecordingsSubscriptionApi } from './teams-recordings-subscriptions';
import type { TeamsRecordingsLifecycleEvent } from './teams-recordings-webhook';

export interface TeamsRecordingsLifecycleHandlers {
  /** ensureSubscriptionsForSource for this source, now (creates what is missing, renews what is due). */
  ensureSubscriptionsForSource(signal?: AbortSignal): Promise<unknown>;
  /** sweepSource over the source's whole lookback window, now. */
  sweepNow(signal?: AbortSignal): Promise<unknown>;
}

export interface TeamsRecordingsLifecycleResult {
  reauthorized: string[];
  ensured: boolean;
  swept: boolean;
}

export async function actOnTeamsRecordingsLifecycle(
  events: readonly TeamsRecordingsLifecycleEvent[],
  deps: {
    sourceId: string;
    api: TeamsRecordingsSubscriptionApi;
    handlers: TeamsRecordingsLifecycleHandlers;
    log: Log;
  },
  signal?: AbortSignal,
): Promise<TeamsRecordingsLifecycleResult> {
  const { api, handlers, log, sourceId } = deps;
  const result: TeamsRecordingsLifecycleResult = { reauthorized: [], ensured: false, swept: false };
  let ensure = false;
  let sweep = false;
  for (const event of events) {
    if (event.action === 'reauthorize-subscription') {
      try {
        if ((await api.reauthorize(event.subscriptionId, signal)) === 'reauthorized') {
          result.reauthorized.push(event.subscriptionId);
          continue;
        }
        log.warn('teams subscription to reauthorize is gone; recreating', {
          sourceId,
          subscriptionId: event.subscriptionId,
        });
      } catch (error) {
        // Renewing also reauthorizes; ensureSubscriptionsForSource renews or replaces it.
        log.warn('teams subscription reauthorization failed; ensuring subscriptions instead', {
          sourceId,
          subscriptionId: event.subscriptionId,
          error: String(error),
        });
      }
      ensure = true;
      sweep = true;
    } else if (event.action === 'recreate-subscription-and-sweep') {
      ensure = true;
      sweep = true;
    } else {
      sweep = true;
    }
  }
  if (ensure) {
    await handlers.ensureSubscriptionsForSource(signal);
    result.ensured = true;
  }
  if (sweep) {
    await handlers.sweepNow(signal);
    result.swept = true;
  }
  log.info('teams lifecycle events handled', { sourceId, ...result, events: events.length });
  return result;
}
