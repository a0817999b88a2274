/**
 * Where outcome events go (functions/core/outcome-events.ts): EventBridge on AWS, a newline-delimited
 * file and optionally an HTTP endpoint locally. Each answers one result per event; the use case retries
 * what is retryable and records the rest as undelivered.
 */
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsCommandOutput,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import {
  type EventPublisher,
  OUTCOME_DETAIL_TYPES,
  OUTCOME_EVENT_SOURCE,
  type OutcomeEvent,
  outcomeEventEnvelope,
  type PublishResult,
} from '../core/outcome-events';

/** PutEvents takes at most 10 entries a call (EventBridge quotas). */
export const PUT_EVENTS_MAX_ENTRIES = 10;

/**
 * Per-entry error codes worth another attempt. EventBridge documents `InternalFailure` and
 * `ThrottlingException` as the retryable ones for PutEvents entries; anything else (a malformed entry,
 * a bus that does not exist, access denied) fails the same way again and is recorded at once.
 */
const RETRYABLE_ENTRY_CODES = new Set(['InternalFailure', 'InternalException', 'ThrottlingException']);
const NON_RETRYABLE_CALL_ERRORS = new Set([
  'AccessDeniedException',
  'ResourceNotFoundException',
  'ValidationException',
  'InvalidArgument',
]);

export class EventBridgePublisher implements EventPublisher {
  readonly name = 'eventbridge';

  constructor(
    private readonly options: {
      client: EventBridgeClient;
      /** Bus name or ARN; `default` for the account's default bus. */
      eventBusName: string;
    },
  ) {}

  entry(event: OutcomeEvent): PutEventsRequestEntry {
    return {
      Source: OUTCOME_EVENT_SOURCE,
      DetailType: OUTCOME_DETAIL_TYPES[event.outcome],
      Detail: JSON.stringify(event),
      EventBusName: this.options.eventBusName,
      Time: new Date(event.occurredAt),
      // An ARN a rule can match on: the archived object (no secret: bucket and key only).
      Resources: event.bucket ? [`arn:aws:s3:::${event.bucket}/${event.objectKey}`] : [],
    };
  }

  async publish(events: readonly OutcomeEvent[]): Promise<PublishResult[]> {
    const results: PublishResult[] = [];
    for (let start = 0; start < events.length; start += PUT_EVENTS_MAX_ENTRIES) {
      const chunk = events.slice(start, start + PUT_EVENTS_MAX_ENTRIES);
      results.push(...(await this.putChunk(chunk)));
    }
    return results;
  }

  private async putChunk(chunk: readonly OutcomeEvent[]): Promise<PublishResult[]> {
    let answer: PutEventsCommandOutput;
    try {
      answer = await this.options.client.send(
        new PutEventsCommand({ Entries: chunk.map((event) => this.entry(event)) }),
      );
    } catch (error) {
      const name = (error as Error).name;
      const reason = `PutEvents failed: ${name}: ${(error as Error).message}`;
      return chunk.map(() => ({ delivered: false, retryable: !NON_RETRYABLE_CALL_ERRORS.has(name), reason }));
    }
    // A call can succeed while some entries fail: each answer entry says, in the request's order.
    const entries = answer.Entries ?? [];
    return chunk.map((_event, index): PublishResult => {
      const entry = entries[index];
      if (entry?.EventId && !entry.ErrorCode) return { delivered: true };
      const code = entry?.ErrorCode ?? 'NoAnswer';
      return {
        delivered: false,
        retryable: code === 'NoAnswer' || RETRYABLE_ENTRY_CODES.has(code),
        reason: `PutEvents entry failed: ${code}${entry?.ErrorMessage ? `: ${entry.ErrorMessage}` : ''}`,
      };
    });
  }
}

/**
 * Appends one envelope per line to a file (`outcomeEventEnvelope`). Lines are written one at a time
 * through one handle opened for appending, so concurrent jobs never interleave a line.
 */
export class NdjsonFilePublisher implements EventPublisher {
  readonly name = 'file';
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: { path: string }) {}

  get path(): string {
    return this.options.path;
  }

  publish(events: readonly OutcomeEvent[]): Promise<PublishResult[]> {
    const text = events.map((event) => `${JSON.stringify(outcomeEventEnvelope(event))}\n`).join('');
    const written = this.queue.then(async () => {
      await mkdir(dirname(this.options.path), { recursive: true });
      const handle = await open(this.options.path, 'a');
      try {
        await handle.write(text);
        // A line is delivered once it is durable, not when it sits in the page cache.
        await handle.datasync();
      } finally {
        await handle.close();
      }
    });
    this.queue = written.catch(() => {});
    return written.then(
      () => events.map(() => ({ delivered: true as const })),
      (error: unknown) =>
        events.map(() => ({ delivered: false as const, retryable: true, reason: (error as Error).message })),
    );
  }
}

/**
 * POSTs each event's envelope as JSON, with `Idempotency-Key: {eventId}` so a receiver can drop a
 * repeat. 2xx is delivered; 408, 429, 5xx and network errors or timeouts are retryable; any other
 * status is refused for good (it would be refused again).
 */
export class HttpPublisher implements EventPublisher {
  readonly name = 'http';

  constructor(
    private readonly options: {
      url: string;
      timeoutMs: number;
      /** Sent as the `Authorization` header; never logged. */
      authorization?: string;
      fetch?: typeof fetch;
    },
  ) {}

  async publish(events: readonly OutcomeEvent[]): Promise<PublishResult[]> {
    const results: PublishResult[] = [];
    for (const event of events) results.push(await this.post(event));
    return results;
  }

  private async post(event: OutcomeEvent): Promise<PublishResult> {
    const doFetch = this.options.fetch ?? fetch;
    const target = new URL(this.options.url);
    const where = `${target.origin}${target.pathname}`;
    try {
      const response = await doFetch(this.options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': event.eventId,
          ...(this.options.authorization ? { authorization: this.options.authorization } : {}),
        },
        body: JSON.stringify(outcomeEventEnvelope(event)),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) return { delivered: true };
      const retryable = response.status === 408 || response.status === 429 || response.status >= 500;
      return { delivered: false, retryable, reason: `POST ${where} answered ${response.status}` };
    } catch (error) {
      return {
        delivered: false,
        retryable: true,
        reason: `POST ${where} failed: ${(error as Error).name}: ${(error as Error).message}`,
      };
    }
  }
}
