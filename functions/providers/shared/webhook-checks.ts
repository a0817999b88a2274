/** Checks every provider's webhook makes before it trusts a delivery. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { InvalidInputError, UnauthenticatedError } from '../../core/errors';

/** Refusal of a delivery; `status` is 401 (no secret) or 403 (a wrong one, or webhooks off). */
export class WebhookAuthError extends UnauthenticatedError {
  constructor(
    message: string,
    readonly status: 401 | 403,
  ) {
    super(message);
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Whether a delivery's shared secret is the configured one, in constant time whatever the lengths. */
export function secretMatches(received: string | null | undefined, secret: string): boolean {
  if (typeof received !== 'string') return false;
  // Equal-length digests keep the comparison constant-time whatever the token's length.
  return timingSafeEqual(digest(received), digest(secret));
}

/** Event times outside these years are a unit mistake (seconds for milliseconds, say), not an event. */
const EARLIEST_EVENT_MS = Date.UTC(2001, 0, 1);
const LATEST_EVENT_MS = Date.UTC(2100, 0, 1);

/** The event time as a Date; InvalidInputError with `outOfRange` when it is not plausibly an event's. */
export function plausibleEventTime(ms: number, outOfRange: string): Date {
  if (!(ms >= EARLIEST_EVENT_MS && ms <= LATEST_EVENT_MS)) throw new InvalidInputError(outOfRange);
  return new Date(ms);
}
