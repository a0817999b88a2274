/**
 * Work an accepted webhook delivery asks for beyond its jobs, run outside the answer: subscription
 * lifecycle events (the provider descriptor's `lifecycleFollowUp`, e.g. Teams'), and a sweep for authenticated events the adapter
 * could not interpret (`WebhookOutcome.notUnderstood`), so that none is dropped silently. Locally it runs
 * in process; on AWS the webhook function hands it to the subscriptions function (asynchronous invoke),
 * the path Teams' lifecycle events already take. Either way the sweep starts within seconds.
 */
import * as z from 'zod';
import type { WebhookOutcome } from '../core/ports';
import type { ProviderName } from '../core/recording';
import { type SweepAllDependencies, sweepAllSources } from '../core/sweep-all-sources';
import { PROVIDER_DESCRIPTORS, PROVIDER_NAMES } from '../providers';
import type { LifecycleFollowUpDependencies } from '../providers/descriptor';

const lifecycleHookOf = (provider: string) =>
  PROVIDER_DESCRIPTORS.find((descriptor) => descriptor.name === provider)?.lifecycleFollowUp;

/**
 * Hand-offs from before the follow-up named its provider carried lifecycle events only, and only one
 * provider had any: the one whose descriptor has a lifecycle follow-up.
 */
const LEGACY_LIFECYCLE_PROVIDER = PROVIDER_DESCRIPTORS.find((descriptor) => descriptor.lifecycleFollowUp)
  ?.name as ProviderName;

/** A sweep asked for by events the webhook could not read: of these users or extensions, else the source. */
export interface FollowUpSweep {
  subjects?: string[];
}

export interface WebhookFollowUp {
  provider: ProviderName;
  sourceId: string;
  /** The lifecycle events the delivery carried (providers with a lifecycle follow-up). */
  lifecycle?: unknown[];
  sweep?: FollowUpSweep;
}

export interface WebhookFollowUpResult {
  lifecycle?: { swept: boolean };
  /** Whether a sweep ran for events not understood (a lifecycle sweep of the source counts). */
  swept: boolean;
}

/** The follow-up an accepted delivery asks for, if any. */
export function webhookFollowUpOf(
  provider: string,
  sourceId: string,
  outcome: WebhookOutcome,
): WebhookFollowUp | undefined {
  if (!(PROVIDER_NAMES as readonly string[]).includes(provider)) return undefined;
  const lifecycle = lifecycleHookOf(provider)?.lifecycleOf(sourceId, outcome);
  const notUnderstood = outcome.notUnderstood;
  const sweep: FollowUpSweep | undefined =
    notUnderstood && notUnderstood.events > 0
      ? notUnderstood.subjects && notUnderstood.subjects.length > 0
        ? { subjects: [...notUnderstood.subjects] }
        : {}
      : undefined;
  if (!lifecycle && !sweep) return undefined;
  return {
    provider: provider as ProviderName,
    sourceId,
    ...(lifecycle ? { lifecycle } : {}),
    ...(sweep ? { sweep } : {}),
  };
}

/** Two follow-ups of one source waiting to run become one: the wider sweep, every lifecycle event. */
export function mergeFollowUps(first: WebhookFollowUp, second: WebhookFollowUp): WebhookFollowUp {
  const lifecycle = [...(first.lifecycle ?? []), ...(second.lifecycle ?? [])];
  let sweep: FollowUpSweep | undefined = first.sweep ?? second.sweep;
  if (first.sweep && second.sweep) {
    sweep =
      first.sweep.subjects && second.sweep.subjects
        ? { subjects: [...new Set([...first.sweep.subjects, ...second.sweep.subjects])] }
        : {};
  }
  return {
    provider: first.provider,
    sourceId: first.sourceId,
    ...(lifecycle.length > 0 ? { lifecycle } : {}),
    ...(sweep ? { sweep } : {}),
  };
}

const followUpSchema = z.object({
  provider: z.enum(PROVIDER_NAMES as unknown as [ProviderName, ...ProviderName[]]).optional(),
  sourceId: z.string().min(1).max(200),
  sweep: z.object({ subjects: z.array(z.string().min(1).max(200)).max(1_000).optional() }).optional(),
});

/**
 * A follow-up read from an invocation event; undefined when the event is not one (a scheduled run).
 * Teams lifecycle events are read by their own parser, which re-derives each action.
 */
export function parseWebhookFollowUp(event: unknown): WebhookFollowUp | undefined {
  if (!event || typeof event !== 'object') return undefined;
  if (!('lifecycle' in event) && !('sweep' in event)) return undefined;
  const parsed = followUpSchema.parse(event);
  const provider = parsed.provider ?? LEGACY_LIFECYCLE_PROVIDER;
  const raw = (event as { lifecycle?: { length?: number } }).lifecycle;
  // Read by the one provider that hands lifecycle events on; anything else claiming to be one is refused.
  const hook = lifecycleHookOf(provider) ?? lifecycleHookOf(LEGACY_LIFECYCLE_PROVIDER);
  const lifecycle = raw?.length ? hook?.parse(parsed.sourceId, raw) : undefined;
  return {
    provider,
    sourceId: parsed.sourceId,
    ...(lifecycle ? { lifecycle } : {}),
    ...(parsed.sweep ? { sweep: parsed.sweep.subjects ? { subjects: parsed.sweep.subjects } : {} } : {}),
  };
}

export type WebhookFollowUpDependencies = LifecycleFollowUpDependencies;

/**
 * Acts on one delivery's follow-up: lifecycle events first (they may sweep the whole source, which
 * covers the rest), then a sweep of the source's lookback window for events not understood: of the
 * users or extensions they named where the source lists by user, else of the whole source.
 */
export async function runWebhookFollowUp(
  followUp: WebhookFollowUp,
  deps: WebhookFollowUpDependencies,
  signal?: AbortSignal,
): Promise<WebhookFollowUpResult> {
  let lifecycle: { swept: boolean } | undefined;
  const hook = lifecycleHookOf(followUp.provider);
  if (hook && followUp.lifecycle && followUp.lifecycle.length > 0) {
    lifecycle = await hook.run({ sourceId: followUp.sourceId, lifecycle: followUp.lifecycle }, deps, signal);
    if (lifecycle.swept || !followUp.sweep) return { lifecycle, swept: lifecycle.swept };
  }
  if (!followUp.sweep) return { ...(lifecycle ? { lifecycle } : {}), swept: false };
  // `subjects` narrows the sweep to those users or extensions where the source lists part by part
  // (SweepAllDependencies.only, core/sweep-all-sources.ts); a source listed whole is swept whole.
  const only: NonNullable<SweepAllDependencies['only']> & { subjects?: readonly string[] } = {
    provider: followUp.provider,
    sourceId: followUp.sourceId,
    ...(followUp.sweep.subjects ? { subjects: followUp.sweep.subjects } : {}),
  };
  const result = await sweepAllSources(deps.lookbackHours, { ...deps, only }, signal);
  if (result.failed.length > 0) {
    throw new Error(`sweep of ${followUp.provider}/${followUp.sourceId} for events not understood failed`);
  }
  deps.log.info('sweep for webhook events not understood finished', {
    provider: followUp.provider,
    sourceId: followUp.sourceId,
    scope: followUp.sweep.subjects ? 'users named' : 'source',
    enqueued: result.results.reduce((sum, one) => sum + one.enqueued, 0),
  });
  return { ...(lifecycle ? { lifecycle } : {}), swept: true };
}
