/**
 * Typed failures. Every error the pipeline raises on purpose is one of these, so the worker can decide
 * between "try again later" and "stop and tell a human" without string matching.
 */
export type ErrorCode =
  | 'NOT_READY'
  | 'RATE_LIMITED'
  | 'TRANSIENT'
  | 'PERMANENT'
  | 'UNAUTHENTICATED'
  | 'CREDENTIALS_NOT_SET'
  | 'BILLING_REQUIRED'
  | 'INVALID_INPUT'
  | 'ALREADY_ARCHIVED'
  | 'GONE_AT_SOURCE'
  | 'DEADLINE'
  | 'EXPIRED_BEFORE_FETCH';

export abstract class CallvaultError extends Error {
  abstract readonly code: ErrorCode;
  abstract readonly retryable: boolean;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The recording exists (or will) but cannot be fetched yet, e.g. the call is still live. */
export class NotReadyError extends CallvaultError {
  readonly code = 'NOT_READY' as const;
  readonly retryable = true;
  /**
   * The source's own idea of how soon to look again (it doubles per attempt like the policy's base), for
   * a delay it knows to be short: content that appears seconds after hang-up. Never lengthens the policy.
   */
  readonly retrySoonerSeconds?: number;

  constructor(message: string, options?: { cause?: unknown; retrySoonerSeconds?: number }) {
    super(message, options);
    this.retrySoonerSeconds = options?.retrySoonerSeconds;
  }
}

/** The provider asked us to slow down; `retryAfterSeconds` is its own figure when it gave one. */
export class RateLimitedError extends CallvaultError {
  readonly code = 'RATE_LIMITED' as const;
  readonly retryable = true;
  constructor(
    message: string,
    readonly retryAfterSeconds: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Network faults, 5xx, truncated or corrupted bodies: worth another try after a backoff. */
export class TransientError extends CallvaultError {
  readonly code = 'TRANSIENT' as const;
  readonly retryable = true;
}

/** The invocation is about to run out of time; the job goes back to the queue promptly. */
export class DeadlineError extends CallvaultError {
  readonly code = 'DEADLINE' as const;
  readonly retryable = true;
}

/** Retrying cannot help (the recording is gone, the job is malformed): dead-letter with this reason. */
export class PermanentError extends CallvaultError {
  readonly code = 'PERMANENT' as const;
  readonly retryable = false;
}

/**
 * A recording that could only be fetched with a short-lived grant (Graph's `recordingAccessToken`) was
 * refused or gone (401/403/404/410) when we fetched it: the platform expired the token or discarded the
 * file. Permanent: no retry brings it back, so it is dead-lettered with this code for a human to see.
 */
export class ExpiredBeforeFetchError extends CallvaultError {
  readonly code = 'EXPIRED_BEFORE_FETCH' as const;
  readonly retryable = false;
}

/**
 * Credentials were refused. Retryable: a rotated secret fixes it without a redrive, and the queue's
 * maxReceiveCount still lands the job in the DLQ if nobody does.
 */
export class UnauthenticatedError extends CallvaultError {
  readonly code = 'UNAUTHENTICATED' as const;
  readonly retryable = true;
}

/**
 * A source's secret still holds the placeholders the stack wrote: nobody has put the platform's
 * credentials in yet. Not an ordinary refusal: the platform was never asked. Retryable on the slow
 * not-ready schedule, since the fix is the operator's `put-secret-value`, and loud (logged as an error and
 * alarmed on) so that it is not mistaken for a platform outage.
 */
export class CredentialsNotSetError extends CallvaultError {
  readonly code = 'CREDENTIALS_NOT_SET' as const;
  readonly retryable = true;
}

/** Input from outside (a webhook, a job, a config file) is malformed. */
export class InvalidInputError extends CallvaultError {
  readonly code = 'INVALID_INPUT' as const;
  readonly retryable = false;
}

/** Another worker completed the same object first; not a failure. */
export class AlreadyArchivedError extends CallvaultError {
  readonly code = 'ALREADY_ARCHIVED' as const;
  readonly retryable = false;
}

/**
 * The source no longer holds a recording it listed before (deleted there by a user, another app or the
 * platform's own retention), confirmed by asking the source again. Not a failure of the job: there is
 * nothing left to copy, so the job ends (neither retried nor dead-lettered) and the outcome is recorded.
 * Adapters throw it only once the source confirms the recording is gone, never on a bare 404.
 */
export class GoneAtSourceError extends CallvaultError {
  readonly code = 'GONE_AT_SOURCE' as const;
  readonly retryable = false;
}

export function isCallvaultError(error: unknown): error is CallvaultError {
  return error instanceof CallvaultError;
}

/** Anything unexpected (a bug, an SDK error we did not classify) is treated as transient. */
export function asCallvaultError(error: unknown): CallvaultError {
  if (isCallvaultError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new TransientError(message, { cause: error });
}
