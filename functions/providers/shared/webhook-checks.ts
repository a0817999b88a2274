/** Checks every provider's webhook makes before it trusts a delivery, and the answers they build. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { InvalidInputError, UnauthenticatedError } from '../../core/errors';
import { type HintJob, JOB_VERSION } from '../../core/jobs';
import type { WebhookResponse } from '../../core/ports';
import type { ProviderName } from '../../core/recording';
import { type Json, jsonObject, tryJson } from './json';

/** Refusal of a delivery; `status` is 401 (no secret) or 403 (a wrong one, or webhooks off). */
export class WebhookAuthError extends UnauthenticatedError {
  constructor(
    message: string,
    readonly status: 401 | 403,
  ) {
    super(message);
  }
}

/** The source's webhookSecret; without one every delivery is refused (403), `role` saying what it is. */
export function requireWebhookSecret(secret: string | undefined, role?: string): string {
  if (secret) return secret;
  const what = role ? `webhookSecret (${role})` : 'webhookSecret';
  throw new WebhookAuthError(`webhooks are disabled for this source: no ${what} is configured`, 403);
}

/** Whether a delivery's shared secret is the configured one; equal-length digests keep it constant-time. */
export function secretMatches(received: string | null | undefined, secret: string): boolean {
  if (typeof received !== 'string') return false;
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(received), digest(secret));
}

/** The event time; InvalidInputError (`outOfRange`) outside 2001–2100, a unit mistake (s for ms). */
export function plausibleEventTime(ms: number, outOfRange: string): Date {
  if (!(ms >= Date.UTC(2001, 0, 1) && ms <= Date.UTC(2100, 0, 1))) throw new InvalidInputError(outOfRange);
  return new Date(ms);
}

/** A delivery's body as a JSON object; InvalidInputError naming `what` ("Telphin webhook body") if not. */
export function jsonObjectBody(body: string, what: string): Json {
  const value = tryJson(body); // valid JSON never parses to undefined
  if (value === undefined) throw new InvalidInputError(`${what} is not valid JSON`);
  const object = jsonObject(value);
  if (!object) throw new InvalidInputError(`${what} must be a JSON object`);
  return object;
}

export function jsonReply(status: number, body: Record<string, unknown>): WebhookResponse {
  return { status, contentType: 'application/json', body: JSON.stringify(body) };
}

/** Every count of a webhook's outcome at zero, so each metric has a data point per delivery. */
export function zeroCounts<Name extends string>(names: readonly Name[]): Record<Name, number> {
  return Object.fromEntries(names.map((name) => [name, 0])) as Record<Name, number>;
}

/** A hint job: the worker resolves it against the source, so a forged or repeated one costs a lookup. */
export function hintJob(
  provider: ProviderName,
  sourceId: string,
  eventTime: Date,
  hint: Record<string, string>,
): HintJob {
  return { v: JOB_VERSION, type: 'hint', provider, sourceId, eventTime: eventTime.toISOString(), hint };
}
