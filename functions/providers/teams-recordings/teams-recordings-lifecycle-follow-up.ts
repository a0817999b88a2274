/**
 * Teams' subscription lifecycle events, as Graph documents them: `reauthorizationRequired` → reauthorize
 * (else ensure: recreate or renew); `subscriptionRemoved` → recreate, then sweep; `missed` → sweep the
 * lookback window. Ensured at most once per batch and swept once after, so no recording falls between.
 * The webhook only answers (Graph wants 2xx within 3 s); this runs after it (subscriptions function on AWS).
 */
import * as z from 'zod';
import { ensureSubscriptionsForAllSources } from '../../core/ensure-subscriptions-for-all-sources';
import type { Log, WebhookOutcome } from '../../core/ports';
import { sweepAllSources } from '../../core/sweep-all-sources';
import type { LifecycleFollowUpHook } from '../descriptor';
import type { TeamsRecordingsSubscriptionApi } from './teams-recordings-subscriptions';
import { MSTEAMS_LIFECYCLE_ACTIONS, type TeamsRecordingsLifecycleEvent } from './teams-recordings-webhook';

/** What the webhook hands on: one source and the lifecycle events its delivery carried. */
interface TeamsRecordingsLifecycleFollowUp {
  sourceId: string;
  lifecycle: TeamsRecordingsLifecycleEvent[];
}

type EventName = keyof typeof MSTEAMS_LIFECYCLE_ACTIONS;
const eventName = z.enum(Object.keys(MSTEAMS_LIFECYCLE_ACTIONS) as [EventName, ...EventName[]]);

/** The follow-up as the subscriptions function receives it; the action is re-derived, never trusted. */
const followUpSchema = z.object({
  sourceId: z.string().min(1).max(200),
  lifecycle: z
    .array(z.object({ event: eventName, subscriptionId: z.string().max(200) }).passthrough())
    .min(1)
    .max(100),
});

/** A follow-up read from an invocation event; undefined when the event is not one (a scheduled run). */
export function parseTeamsRecordingsLifecycleFollowUp(
  event: unknown,
): TeamsRecordingsLifecycleFollowUp | undefined {
  if (!event || typeof event !== 'object' || !('lifecycle' in event)) return undefined;
  const { sourceId, lifecycle } = followUpSchema.parse(event);
  return {
    sourceId,
    lifecycle: lifecycle.map(({ event, subscriptionId }) => ({
      event,
      subscriptionId,
      action: MSTEAMS_LIFECYCLE_ACTIONS[event],
    })),
  };
}

/** The follow-up an accepted delivery asks for, if any: Teams deliveries carrying lifecycle events. */
export function teamsRecordingsLifecycleFollowUpOf(
  provider: string,
  sourceId: string,
  outcome: WebhookOutcome,
): TeamsRecordingsLifecycleFollowUp | undefined {
  if (provider !== 'msteams') return undefined;
  const lifecycle = (outcome as { lifecycle?: unknown }).lifecycle;
  if (!Array.isArray(lifecycle) || lifecycle.length === 0) return undefined;
  return { sourceId, lifecycle: lifecycle as TeamsRecordingsLifecycleEvent[] };
}

export async function actOnTeamsRecordingsLifecycle(
  events: readonly TeamsRecordingsLifecycleEvent[],
  deps: {
    sourceId: string;
    api: TeamsRecordingsSubscriptionApi;
    handlers: {
      /** ensureSubscriptionsForSource for this source, now (creates what is missing, renews what is due). */
      ensureSubscriptionsForSource(signal?: AbortSignal): Promise<unknown>;
      /** sweepSource over the source's whole lookback window, now. */
      sweepNow(signal?: AbortSignal): Promise<unknown>;
    };
    log: Log;
  },
  signal?: AbortSignal,
): Promise<{ reauthorized: string[]; ensured: boolean; swept: boolean }> {
  const { api, handlers, log, sourceId } = deps;
  const result = { reauthorized: [] as string[], ensured: false, swept: false };
  const reauthorized = async (subscriptionId: string): Promise<boolean> => {
    try {
      if ((await api.reauthorize(subscriptionId, signal)) === 'reauthorized') {
        result.reauthorized.push(subscriptionId);
        return true;
      }
      log.warn('teams subscription to reauthorize is gone; recreating', { sourceId, subscriptionId });
    } catch (error) {
      // Renewing also reauthorizes; ensureSubscriptionsForSource renews or replaces it.
      log.warn('teams subscription reauthorization failed; ensuring subscriptions instead', {
        sourceId,
        subscriptionId,
        error: String(error),
      });
    }
    return false;
  };
  let ensure = false;
  let sweep = false;
  for (const { action, subscriptionId } of events) {
    if (action === 'reauthorize-subscription' && (await reauthorized(subscriptionId))) continue;
    if (action !== 'sweep-now') ensure = true;
    sweep = true;
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

/** What the hosts see: the webhook asks for it, the subscriptions function (or the local host) runs it. */
export const teamsRecordingsLifecycleHook: LifecycleFollowUpHook = {
  lifecycleOf: (sourceId, outcome) =>
    teamsRecordingsLifecycleFollowUpOf('msteams', sourceId, outcome)?.lifecycle,
  parse: (sourceId, lifecycle) => parseTeamsRecordingsLifecycleFollowUp({ sourceId, lifecycle })?.lifecycle,
  /** Acts on one source's lifecycle events: reauthorize, recreate and renew, sweep its lookback window. */
  run: async ({ sourceId, lifecycle }, deps, signal) => {
    const only = { provider: 'msteams', sourceId };
    const source = await deps.sources.get('msteams', sourceId);
    const plan = await source.webhookSubscriptions?.();
    // Loaded here, not with the descriptor: the subscription API is HTTP code.
    const { TeamsRecordingsSubscriptionApi } = await import('./teams-recordings-subscriptions');
    if (!plan || !(plan.api instanceof TeamsRecordingsSubscriptionApi)) {
      // No webhook secret now: nothing to reauthorize or recreate, but a sweep still closes the gap.
      await sweepAllSources(deps.lookbackHours, { ...deps, only }, signal);
      return { reauthorized: [], ensured: false, swept: true };
    }
    const handlers = {
      // A failure here is logged with its alarmed errorCode by ensureSubscriptionsForAllSources; the sweep
      // after it must run regardless, so it is not thrown.
      ensureSubscriptionsForSource: async (handlerSignal?: AbortSignal) => {
        if (deps.webhookBaseUrl) {
          return ensureSubscriptionsForAllSources(deps.webhookBaseUrl, { ...deps, only }, handlerSignal);
        }
        deps.log.warn('teams lifecycle event: no public webhook URL, so no subscription is managed', {
          sourceId,
        });
        return undefined;
      },
      sweepNow: async (handlerSignal?: AbortSignal) => {
        const result = await sweepAllSources(deps.lookbackHours, { ...deps, only }, handlerSignal);
        if (result.failed.length > 0) throw new Error(`sweep of ${sourceId} failed`);
        return result;
      },
    };
    const events = lifecycle as TeamsRecordingsLifecycleEvent[];
    return actOnTeamsRecordingsLifecycle(
      events,
      { sourceId, api: plan.api, log: deps.log, handlers },
      signal,
    );
  },
};
