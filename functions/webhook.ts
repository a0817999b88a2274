/** Lambda entry: API Gateway webhook → authenticate, parse, enqueue hints, answer fast. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { apiGatewayResult, webhookRequestFromApiGateway } from './adapters/api-gateway';
import { logger } from './adapters/logger';
import { type AwsRuntime, awsRuntime } from './composition/aws-runtime';
import { receiveWebhook } from './core/receive-webhook';

export function createWebhookHandler(runtime: () => AwsRuntime) {
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const { sources, queue, logger: log } = runtime();
    // Routes are one per provider (`/webhooks/telphin/{sourceId}`), so the provider is read from the path.
    const provider = event.pathParameters?.provider ?? event.rawPath?.split('/')[2] ?? '';
    const response = await receiveWebhook(
      provider,
      event.pathParameters?.sourceId ?? '',
      webhookRequestFromApiGateway(event),
      { sources, queue, log },
    );
    return apiGatewayResult(response);
  };
}

export const handler = middy(createWebhookHandler(awsRuntime)).use(injectLambdaContext(logger));
