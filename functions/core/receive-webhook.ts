import { CallvaultError, InvalidInputError, UnauthenticatedError } from './errors';
import type { JobQueue, Log, WebhookOutcome, WebhookRequest, WebhookResponse } from './ports';
import type { ProviderName } from './recording';
import type { SourceRegistry } from './source-registry';
import { WebhookNotUnderstoodError } from './webhook-not-understood';

export interface WebhookDependencies {
  sources: SourceRegistry;
  queue: JobQueue;
  log: Log;
  /**
   * Receives the outcome's named counts (never identifiers or secrets) once the delivery is answered
   * without a 5xx; a 5xx is redelivered and would count twice. The Lambda entry turns them into metrics.
   */
  recordCounts?(provider: ProviderName, counts: Readonly<Record<string, number>>): void;
  /**
   * Sees every outcome accepted (below 400), and every one holding events not understood that a sweep
   * can recover, before the answer goes out: where a delivery asks for work beyond its jobs (Teams'
   * subscription lifecycle events, a sweep), the host starts it here without waiting for it. A failure is
   * logged and never changes the answer (the scheduled runs cover it).
   */
  afterAccepted?(provider: ProviderName, sourceId: string, outcome: WebhookOutcome): Promise<void> | void;
}

/**
 * What the webhook logs (level error, `errorCode` below) for a delivery holding authenticated events the
 * adapter could not interpret; the stack counts and alarms on it. The adapter's own line before it
 * carries the event's text (a Teams resource path).
 */
export const WEBHOOK_NOT_UNDERSTOOD_MESSAGE = 'authenticated webhook events not understood';
export const WEBHOOK_NOT_UNDERSTOOD_CODE = 'WEBHOOK_NOT_UNDERSTOOD';

export { MAX_WEBHOOK_BODY_BYTES } from './source-registry';

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
  if (!deps.sources.has(provider, sourceId)) {
    return reply(404, 'unknown webhook endpoint');
  }
  if (Buffer.byteLength(request.body) > deps.sources.maxWebhookBodyBytes(provider, sourceId)) {
    return reply(413, 'webhook body too large');
  }
  let outcome: WebhookOutcome;
  let canSweep = true;
  try {
    const source = await deps.sources.get(provider as ProviderName, sourceId);
    canSweep = source.capabilities?.list !== false;
    outcome = await source.handleWebhook(request);
  } catch (error) {
    if (error instanceof UnauthenticatedError) {
      deps.log.warn('webhook refused: not authenticated', { provider, sourceId, reason: error.message });
      return reply(statusOf(error, 401), error.message);
    }
    if (error instanceof WebhookNotUnderstoodError) {
      // Authenticated, but not readable: answered as malformed, and swept for like any event not understood.
      deps.log.warn('webhook refused: malformed after authentication', {
        provider,
        sourceId,
        reason: error.message,
      });
      outcome = { response: reply(400, error.message), jobs: [], notUnderstood: { events: 1 } };
    } else if (error instanceof InvalidInputError) {
      deps.log.warn('webhook refused: malformed', { provider, sourceId, reason: error.message });
      return reply(400, error.message);
    } else {
      const detail = error instanceof CallvaultError ? error.code : 'unexpected error';
      deps.log.error('webhook could not be handled', { provider, sourceId, error: detail });
      return reply(503, 'webhook could not be handled; retry later');
    }
  }
  if (outcome.jobs.length > 0) {
    try {
      await deps.queue.enqueue(outcome.jobs);
    } catch (error) {
      deps.log.error('webhook jobs could not be enqueued', { provider, sourceId, error: String(error) });
      return reply(503, 'could not store the event; retry later');
    }
  }
  // The adapter may itself answer 4xx (a delivery with nothing acceptable in it): logged as what it is.
  const status = outcome.response.status;
  const fields = { provider, sourceId, status, jobs: outcome.jobs.length, ...outcome.counts };
  if (outcome.counts) deps.recordCounts?.(provider as ProviderName, outcome.counts);
  // Whatever the answer: an adapter answers 4xx to a delivery with nothing acceptable in it.
  if (outcome.notUnderstood) {
    const { events, subjects } = outcome.notUnderstood;
    deps.log.error(WEBHOOK_NOT_UNDERSTOOD_MESSAGE, {
      provider,
      sourceId,
      errorCode: WEBHOOK_NOT_UNDERSTOOD_CODE,
      events,
      // What recovers them: the follow-up sweep (afterAccepted), or nothing where the platform cannot list.
      recovery: !canSweep
        ? 'none: the source cannot be listed'
        : subjects
          ? 'sweep of the users named'
          : 'sweep of the source',
      ...(subjects && canSweep ? { subjects: subjects.length } : {}),
    });
  }
  if (deps.afterAccepted && (status < 400 || (outcome.notUnderstood && canSweep))) {
    try {
      // A source that cannot be listed has no sweep to ask for: its line above is all there is.
      const handedOn =
        canSweep || !outcome.notUnderstood ? outcome : { ...outcome, notUnderstood: undefined };
      await deps.afterAccepted(provider as ProviderName, sourceId, handedOn);
    } catch (error) {
      // `errorCode` is what a metric filter and its alarm can match on; the scheduled runs cover meanwhile.
      deps.log.error('follow-up of an accepted webhook could not be started', {
        provider,
        sourceId,
        errorCode: 'WEBHOOK_FOLLOW_UP_FAILED',
        error: error instanceof CallvaultError ? error.code : String(error),
      });
    }
  }
  if (status >= 400) deps.log.warn('webhook refused by the source', fields);
  else deps.log.info('webhook accepted', fields);
  return outcome.response;
}

/** Adapters may say 401 (no credentials) or 403 (wrong credentials) through a `status` field. */
function statusOf(error: Error, fallback: number): number {
  const status = (error as { status?: unknown }).status;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : fallback;
}
