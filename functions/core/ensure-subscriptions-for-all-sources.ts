/**
 * Keeps the webhook subscriptions of every source that has them (see `ensureSubscriptionsForSource`): run by the
 * subscriptions function after each deploy and on its schedule, and locally at start-up and with every
 * sweep. One source's failure does not stop the others; it is reported, and the sweep still archives
 * whatever the missing webhooks would have announced.
 */

import {
  ensureSubscriptionsForSource,
  type SubscriptionRecords,
  type SubscriptionReport,
} from './ensure-subscriptions-for-source';
import type { Clock, Log, RunLedger } from './ports';
import type { SourceRegistry } from './source-registry';

export interface EnsureSubscriptionsForAllSourcesDependencies {
  sources: SourceRegistry;
  records: SubscriptionRecords;
  clock: Clock;
  log: Log;
  /** Only this source (a lifecycle event asks for one source at once); default every source. */
  only?: { provider: string; sourceId: string };
  /** Where each source's outcome is kept for `npm run status`: its active subscriptions and their expiry. */
  ledger?: RunLedger;
}

export interface EnsureSubscriptionsForAllSourcesResult {
  reports: SubscriptionReport[];
  /** Sources whose subscriptions could not be put right, with the reason (no secrets in it). */
  failed: { provider: string; sourceId: string; error: string }[];
  /** Sources that could have subscriptions but want none now (no webhook secret, option off). */
  unmanaged: string[];
}

/** `{base}/webhooks/{provider}/{sourceId}`: the route the webhook function and the local server serve. */
export function sourceWebhookUrl(webhookBaseUrl: string, provider: string, sourceId: string): string {
  return `${webhookBaseUrl.replace(/\/+$/, '')}/webhooks/${encodeURIComponent(provider)}/${encodeURIComponent(sourceId)}`;
}

export async function ensureSubscriptionsForAllSources(
  webhookBaseUrl: string,
  deps: EnsureSubscriptionsForAllSourcesDependencies,
  signal?: AbortSignal,
): Promise<EnsureSubscriptionsForAllSourcesResult> {
  const result: EnsureSubscriptionsForAllSourcesResult = { reports: [], failed: [], unmanaged: [] };
  for (const { provider, id: sourceId } of deps.sources.list()) {
    if (signal?.aborted) break;
    if (deps.only && (deps.only.provider !== provider || deps.only.sourceId !== sourceId)) continue;
    const startedAt = deps.clock.now().toISOString();
    const recordRun = (outcome: 'ok' | 'partial' | 'failed', summary: Record<string, unknown>) =>
      deps.ledger
        ?.record({
          kind: 'subscriptions',
          sourceId,
          startedAt,
          endedAt: deps.clock.now().toISOString(),
          outcome,
          summary,
        })
        .catch((error: unknown) =>
          deps.log.warn('could not record the subscriptions run', { sourceId, error: String(error) }),
        );
    try {
      const source = await deps.sources.get(provider, sourceId);
      if (!source.webhookSubscriptions) continue;
      const plan = await source.webhookSubscriptions();
      if (!plan) {
        result.unmanaged.push(sourceId);
        continue;
      }
      const webhookUrl = sourceWebhookUrl(webhookBaseUrl, provider, sourceId);
      const report = await ensureSubscriptionsForSource(
        {
          sourceId,
          address: plan.address(webhookUrl),
          filters: plan.filters,
          secret: plan.secret,
          isOurs: plan.isOurs ? (address) => plan.isOurs?.(address, webhookUrl) ?? false : undefined,
          ...(plan.renewBeforeMs !== undefined ? { renewBeforeMs: plan.renewBeforeMs } : {}),
        },
        { api: plan.api, records: deps.records, clock: deps.clock, log: deps.log },
        signal,
      );
      result.reports.push(report);
      await recordRun(report.failed.length > 0 ? 'partial' : 'ok', {
        active: report.active,
        failed: report.failed,
        kept: report.kept.length,
        renewed: report.renewed.length,
        created: report.created.length,
        deleted: report.deleted.length,
      });
      deps.log.info('subscriptions checked', {
        provider,
        sourceId,
        kept: report.kept.length,
        renewed: report.renewed.length,
        created: report.created.length,
        deleted: report.deleted.length,
        active: report.active.length,
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      result.failed.push({ provider, sourceId, error: message });
      await recordRun('failed', { error: message });
      // `errorCode` is what the SubscriptionFailures metric filter and its alarm match on.
      deps.log.error('subscriptions could not be put right', {
        provider,
        sourceId,
        errorCode: 'SUBSCRIPTION_FAILED',
        detail: message,
      });
    }
  }
  return result;
}
