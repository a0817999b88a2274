import { CallvaultError, InvalidInputError, UnauthenticatedError } from './errors';
import type { JobQueue, Log, WebhookOutcome, WebhookRequest, WebhookResponse } from './ports';
import { PROVIDERS, type ProviderName } from './recording';
import type { SourceRegistry } from './source-registry';

export interface WebhookDependencies {
  sources: SourceRegistry;
  queue: JobQueue;
  log: Log;
}

/** Larger bodies are refused before parsing: no provider's event comes near this. */
export const MAX_WEBHOOK_BODY_BYTES = 256 * 1024;

function reply(status: number, message: string): WebhookResponse {
  return { status, contentType: 'application/json', body: JSON.stringify({ message }) };
}

/**
 * Authenticates and parses one delivery and enqueues its hints, then answers. Bad secrets, signatures
 * and bodies get a 4xx and enqueue nothing; a 5xx only when the queue could not take the jobs, so the
 * platform redelivers. Nothing is downloaded here: the worker does that.
 */
export async function receiveWebhook(
  provider: string,
  sourceId: string,
  request: WebhookRequest,
  deps: WebhookDependencies,
): Promise<WebhookResponse> {
  if (!(PROVIDERS as readonly string[]).includes(provider) || !deps.sources.has(provider, sourceId)) {
    return reply(404, 'unknown webhook endpoint');
  }
  if (Buffer.byteLength(request.body) > MAX_WEBHOOK_BODY_BYTES) return reply(413, 'webhook body too large');
  let outcome: WebhookOutcome;
  try {
    const source = await deps.sources.get(provider as ProviderName, sourceId);
    outcome = await source.handleWebhook(request);
  } catch (error) {
    if (error instanceof UnauthenticatedError) {
      deps.log.warn('webhook refused: not authenticated', { provider, sourceId, reason: error.message });
      return reply(statusOf(error, 401), error.message);
    }
    if (error instanceof InvalidInputError) {
      deps.log.warn('webhook refused: malformed', { provider, sourceId, reason: error.message });
      return reply(400, error.message);
    }
    const detail = error instanceof CallvaultError ? error.code : 'unexpected error';
    deps.log.error('webhook could not be handled', { provider, sourceId, error: detail });
    return reply(503, 'webhook could not be handled; retry later');
  }
  if (outcome.jobs.length > 0) {
    try {
      await deps.queue.enqueue(outcome.jobs);
    } catch (error) {
      deps.log.error('webhook jobs could not be enqueued', { provider, sourceId, error: String(error) });
      return reply(503, 'could not store the event; retry later');
    }
  }
  deps.log.info('webhook accepted', { provider, sourceId, jobs: outcome.jobs.length });
  return outcome.response;
}

/** Adapters may say 401 (no credentials) or 403 (wrong credentials) through a `status` field. */
function statusOf(error: Error, fallback: number): number {
  const status = (error as { status?: unknown }).status;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : fallback;
}
