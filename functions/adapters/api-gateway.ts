import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { WebhookRequest, WebhookResponse } from '../core/ports';

/** API Gateway HTTP API (payload 2.0) event → transport-neutral webhook request. */
export function webhookRequestFromApiGateway(event: APIGatewayProxyEventV2): WebhookRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
  // Parse the raw query ourselves so decoding is exactly URLSearchParams' (the same as local mode).
  const query: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(event.rawQueryString ?? '')) query[name] ??= value;
  const body = event.body
    ? event.isBase64Encoded
      ? Buffer.from(event.body, 'base64').toString('utf8')
      : event.body
    : '';
  return { method: event.requestContext?.http?.method ?? 'POST', query, headers, body };
}

export function apiGatewayResult(response: WebhookResponse): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: response.status,
    headers: { 'content-type': response.contentType ?? 'text/plain', ...response.headers },
    body: response.body,
  };
}
