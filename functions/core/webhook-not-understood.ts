/**
 * An authenticated webhook event that could not be interpreted is never dropped silently (README "Known
 * limits"). An adapter that finds one after authenticating the delivery throws this (a 400 as before,
 * since the body is malformed); the webhook use case then logs it at error level (alarmed) and asks for
 * a sweep of the source, where the source can be listed.
 */
import { InvalidInputError } from './errors';

export class WebhookNotUnderstoodError extends InvalidInputError {}

/** Runs what reads an authenticated delivery; its InvalidInputError becomes a WebhookNotUnderstoodError. */
export function readAuthenticated<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof InvalidInputError && !(error instanceof WebhookNotUnderstoodError)) {
      throw new WebhookNotUnderstoodError(error.message, { cause: error });
    }
    throw error;
  }
}
