/**
 * Teams' subscription lifecycle events, from the webhook to the work they ask for. The webhook only
 * answers (Graph wants 2xx within 3 s); the follow-up runs elsewhere: in process locally, in the
 * subscriptions function on AWS (invoked asynchronously with a `TeamsRecordingsLifecycleFollowUp`). Either way it
 * is `actOnTeamsRecordingsLifecycle` for that one source, with ensureSubscriptionsForSource and a sweep of the source's
 * whole lookback window as its handlers. The descriptor hands it to the hosts as `lifecycleFollowUp`.
 */
import * as z from 'zod';
import { ensureSubscriptionsForAllSources } from '../../core/ensure-subscriptions-for-all-sources';
import type { WebhookOutcome } from '../../core/ports';
import { sweepAllSources } from '../../core/sweep-all-sources';
import type { LifecycleFollowUpDependencies, LifecycleFollowUpHook } from '../descriptor';
import {
  actOnTeamsRecordingsLifecycle,
  type TeamsRecordingsLifecycleResult,
} from './teams-recordings-lifecycle';
import { MSTEAMS_LIFECYCLE_ACTIONS, type TeamsRecordingsLifecycleEvent } from './teams-recordings-webhook';

/** What the webhook hands on: one source and the lifecycle events its delivery carried. */
export interface TeamsRecordingsLifecycleFollowUp {
  sourceId: string;
  lifecycle: TeamsRecordingsLifecycleEvent[];
}

const eventName = z.enum(
  Object.keys(MSTEAMS_LIFECYCLE_ACTIONS) as [keyof typeof MSTEAMS_LIFECYCLE_ACTIONS, ...string[]],
);

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
  const parsed = followUpSchema.parse(event);
  return {
    sourceId: parsed.sourceId,
    lifecycle: parsed.lifecycle.map(({ event: name, subscriptionId }) => {
      const known = name as keyof typeof MSTEAMS_LIFECYCLE_ACTIONS;
      return { event: known, subscriptionId, action: MSTEAMS_LIFECYCLE_ACTIONS[known] };
    }),
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

export type TeamsRecordingsLifecycleFollowUpDependencies = LifecycleFollowUpDependencies;

/** Acts on one source's lifecycle events: reauthorize, recreate and renew, sweep its lookback window. */
export async function runTeamsRecordingsLifecycleFollowUp(
  followUp: TeamsRecordingsLifecycleFollowUp,
  deps: TeamsRecordingsLifecycleFollowUpDependencies,
  signal?: AbortSignal,
): Promise<TeamsRecordingsLifecycleResult> {
  const only = { provider: 'msteams', sourceId: followUp.sourceId };
  const source = await deps.sources.get('msteams', followUp.sourceId);
  const plan = await source.webhookSubscriptions?.();
  // Loaded here, not with the descriptor: the subscription API is HTTP code.
  const { TeamsRecordingsSubscriptionApi } = await import('./teams-recordings-subscriptions');
  if (!plan || !(plan.api instanceof TeamsRecordingsSubscriptionApi)) {
    // No webhook secret now: nothing to reauthorize or recreate, but a sweep still closes the gap.
    await sweepAllSources(deps.lookbackHours, { ...deps, only }, signal);
    return { reauthorized: [], ensured: false, swept: true };
  }
  return actOnTeamsRecordingsLifecycle(
    followUp.lifecycle,
    {
      sourceId: followUp.sourceId,
      api: plan.api,
      log: deps.log,
      handlers: {
        // A failure here is logged with its alarmed errorCode by ensureSubscriptionsForAllSources; the sweep after it
        // must run regardless, so it is not thrown.
        ensureSubscriptionsForSource: async (handlerSignal) => {
          const base = deps.webhookBaseUrl;
          if (!base) {
            deps.log.warn('teams lifecycle event: no public webhook URL, so no subscription is managed', {
              sourceId: followUp.sourceId,
            });
            return undefined;
          }
          return ensureSubscriptionsForAllSources(base, { ...deps, only }, handlerSignal);
        },
        sweepNow: async (handlerSignal) => {
          const result = await sweepAllSources(deps.lookbackHours, { ...deps, only }, handlerSignal);
          if (result.failed.length > 0) throw new Error(`sweep of ${followUp.sourceId} failed`);
          return result;
        },
      },
    },
    signal,
  );
}

/** What the hosts see: the webhook asks for it, the subscriptions function (or the local host) runs it. */
export const teamsRecordingsLifecycleHook: LifecycleFollowUpHook = {
  lifecycleOf: (sourceId, outcome) =>
    teamsRecordingsLifecycleFollowUpOf('msteams', sourceId, outcome)?.lifecycle,
  parse: (sourceId, lifecycle) => parseTeamsRecordingsLifecycleFollowUp({ sourceId, lifecycle })?.lifecycle,
  run: (followUp, deps, signal) =>
    runTeamsRecordingsLifecycleFollowUp(followUp as TeamsRecordingsLifecycleFollowUp, deps, signal),
};
