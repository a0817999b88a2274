/** Lambda entry: API Gateway webhook → authenticate, parse, enqueue hints, answer fast. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { apiGatewayResult, webhookRequestFromApiGateway } from './adapters/api-gateway';
import { type InvokeAsync, lambdaInvokeAsync } from './adapters/lambda-invoke';
import { logger } from './adapters/logger';
import { type WebhookRuntime, webhookRuntime } from './composition/aws-sources';
import { webhookFollowUpOf } from './composition/webhook-follow-up';
import { ENV } from './config';
import { receiveWebhook } from './core/receive-webhook';
import { METRICS_NAMESPACE, METRICS_SERVICE, webhookCountMetricName } from './observability/names';
import { descriptorOf } from './providers';

const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE });

let defaultInvoke: InvokeAsync | undefined;

export function createWebhookHandler(
  runtime: () => WebhookRuntime,
  publish: Metrics = metrics,
  invokeAsync: () => InvokeAsync = () => {
    defaultInvoke ??= lambdaInvokeAsync();
    return defaultInvoke;
  },
) {
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const { env, sources, queue, logger: log } = runtime();
    // Routes are one per provider (`/webhooks/{provider}/{sourceId}`), so the provider is read from the path.
    const provider = event.pathParameters?.provider ?? event.rawPath?.split('/')[2] ?? '';
    const response = await receiveWebhook(
      provider,
      event.pathParameters?.sourceId ?? '',
      webhookRequestFromApiGateway(event),
      {
        sources,
        queue,
        log,
        recordCounts: (from, counts) => {
          // Zeros are published too: an alarm on "failed record operations" needs its data points.
          const named = descriptorOf(from).metrics.webhookCounts;
          for (const [name, value] of Object.entries(counts)) {
            publish.addMetric(webhookCountMetricName(from, name, named), MetricUnit.Count, value);
          }
        },
        // Teams lifecycle events, and events the adapter could not interpret (a sweep instead), go to the
        // subscriptions function, queued rather than awaited: the answer is due within seconds (Graph: 3 s),
        // and recreating subscriptions or sweeping takes longer.
        afterAccepted: async (from, sourceId, outcome) => {
          const followUp = webhookFollowUpOf(from, sourceId, outcome);
          if (!followUp) return;
          if (!env.subscriptionsFunction) {
            throw new Error(`${ENV.subscriptionsFunction} is not set; the scheduled runs act on it instead`);
          }
          await invokeAsync()(env.subscriptionsFunction, followUp);
          log.info('webhook follow-up handed to the subscriptions function', {
            provider: from,
            sourceId,
            lifecycleEvents: followUp.lifecycle?.length ?? 0,
            sweep: followUp.sweep ? (followUp.sweep.subjects ? 'users named' : 'source') : 'none',
          });
        },
      },
    );
    return apiGatewayResult(response);
  };
}

export const handler = middy(createWebhookHandler(webhookRuntime))
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics, { captureColdStartMetric: false }));
