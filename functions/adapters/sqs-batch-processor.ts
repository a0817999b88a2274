/**
 * The archive worker's queue semantics on SQS (the idea of middy's sqs-partial-batch-failure, plus our
 * retry policy). Each record is parsed and handed to `handleJob`; the outcome decides what SQS sees:
 * - success, or an error that settles the job (already archived, gone at the source) → not reported, so
 *   the event source deletes the message;
 * - retryable failure → the message's visibility is set to the delay `decideRetry` chose and the record is
 *   reported in `batchItemFailures`, so SQS delivers it again after that delay;
 * - permanent failure, malformed body, or the last allowed receive → the body goes to the dead-letter
 *   queue with the reason as message attributes, and the record counts as done so the original is deleted.
 *   If that send fails the record is reported as failed instead: a job is never lost.
 * The queue's own redrive policy stays the backstop for a worker that dies before answering.
 */

import {
  ChangeMessageVisibilityCommand,
  type MessageAttributeValue,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchItemFailure, SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { asCallvaultError, type CallvaultError, DeadlineError, isCallvaultError } from '../core/errors';
import { type ArchiveJob, describeJob, parseJob, retryPolicyForJob } from '../core/jobs';
import type { Log } from '../core/ports';
import { DEFAULT_RETRY_POLICY, decideRetry, type RetryPolicy } from '../core/retry-policy';
import { sqsAttributeText } from './sqs-message-text';

/** Where a record came from and where its dead letters go. */
export interface QueueRoute {
  queueUrl: string;
  /** Absent: the processor cannot dead-letter itself and leaves it to the queue's redrive policy. */
  deadLetterQueueUrl?: string;
  /** This queue's redrive `maxReceiveCount`; absent: the processor's `maxReceiveCount`. */
  maxReceiveCount?: number;
}

export interface SqsBatchProcessorDeps {
  client: SQSClient;
  handleJob(job: ArchiveJob, signal: AbortSignal): Promise<void>;
  /** The record's queue and dead-letter queue, looked up by the record's `eventSourceARN`. */
  routeFor(queueArn: string): QueueRoute | undefined;
  /**
   * Receives allowed before the processor dead-letters a job itself, for queues whose route names none;
   * match the queue's redrive policy.
   */
  maxReceiveCount: number;
  /** Fires shortly before the invocation's deadline. */
  deadline: AbortSignal;
  log: Log;
  /** For recording and hint jobs; `fetch-now` jobs race their token and use FETCH_NOW_RETRY_POLICY. */
  retryPolicy?: RetryPolicy;
  /** Told of each job the processor itself dead-lettered, by its error code (for metrics). */
  onDeadLettered?(code: CallvaultError['code']): void;
  /**
   * Records processed at once. Each is a streaming download plus a multipart upload, so memory and the
   * providers' rate limits keep this small; more throughput comes from more concurrent invocations.
   * @default 2
   */
  concurrency?: number;
  /** For decideRetry's jitter; tests pass a fixed value. */
  random?: () => number;
}

export const DEFAULT_BATCH_CONCURRENCY = 2;
/** Visibility for records not started because the deadline came first: back almost at once. */
export const DEADLINE_RETRY_SECONDS = 1;
/**
 * Keeps the dead-letter attribute readable and far below SQS's size limits: at most 1000 code points,
 * about 4 KB even if every one were a four-byte character.
 */
export const MAX_FAILURE_REASON_LENGTH = 1000;
/** The job's own attributes (job-type, provider, source-id) are short; this only bounds a surprise. */
const MAX_CARRIED_ATTRIBUTE_LENGTH = 1000;
/** What the worker adds to a dead letter; a redrive drops them again (functions/ops/redrive.ts). */
export const DEAD_LETTER_ATTRIBUTE_NAMES = [
  'failure-code',
  'failure-reason',
  'failed-at',
  'attempts',
  'source-queue',
] as const;
/** SQS accepts at most ten message attributes per message. */
const MAX_MESSAGE_ATTRIBUTES = 10;

type RecordOutcome = 'done' | 'failed';

export async function processSqsBatch(
  records: readonly SQSRecord[],
  deps: SqsBatchProcessorDeps,
): Promise<SQSBatchResponse> {
  const outcomes = await mapWithConcurrency(
    records,
    deps.concurrency ?? DEFAULT_BATCH_CONCURRENCY,
    (record) =>
      processRecord(record, deps).catch((error: unknown): RecordOutcome => {
        // processRecord handles its own failures; this only guards against a bug turning into a lost batch.
        deps.log.error('unexpected error while processing a record', {
          messageId: record.messageId,
          error: String(error),
        });
        return 'failed';
      }),
  );
  const batchItemFailures: SQSBatchItemFailure[] = [];
  outcomes.forEach((outcome, index) => {
    const record = records[index];
    if (outcome === 'failed' && record) batchItemFailures.push({ itemIdentifier: record.messageId });
  });
  return { batchItemFailures };
}

async function processRecord(record: SQSRecord, deps: SqsBatchProcessorDeps): Promise<RecordOutcome> {
  const { log } = deps;
  const route = deps.routeFor(record.eventSourceARN);
  if (!route) {
    // Without the queue URL we can neither delay nor dead-letter; the message returns after its
    // visibility timeout and the redrive policy catches it eventually.
    log.error('no queue route for record; leaving it to the queue', {
      messageId: record.messageId,
      queueArn: record.eventSourceARN,
    });
    return 'failed';
  }
  if (deps.deadline.aborted) {
    await changeVisibility(record, route, DEADLINE_RETRY_SECONDS, deps);
    return 'failed';
  }

  const attempt = receiveCount(record);
  let job: ArchiveJob;
  try {
    job = parseJob(record.body);
  } catch (error) {
    return deadLetter(record, route, asCallvaultError(error), attempt, `message ${record.messageId}`, deps);
  }

  const description = describeJob(job);
  try {
    await deps.handleJob(job, deps.deadline);
    log.debug('job done', { job: description, messageId: record.messageId, attempt });
    return 'done';
  } catch (thrown) {
    const error = classify(thrown, deps.deadline);
    const policy = retryPolicyForJob(job, deps.retryPolicy ?? DEFAULT_RETRY_POLICY);
    const decision = decideRetry(error, attempt, policy, deps.random);
    if (decision.action === 'settled') {
      log.info('job settled without a copy', {
        job: description,
        messageId: record.messageId,
        code: error.code,
      });
      return 'done';
    }
    // The queue's own receive budget: the Teams queue allows a recording days of not-ready receives.
    if (decision.action === 'dead-letter' || attempt >= (route.maxReceiveCount ?? deps.maxReceiveCount)) {
      return deadLetter(record, route, error, attempt, description, deps);
    }
    log.warn('job failed; retrying later', {
      job: description,
      messageId: record.messageId,
      attempt,
      code: error.code,
      reason: decision.reason,
      delaySeconds: decision.delaySeconds,
    });
    await changeVisibility(record, route, decision.delaySeconds, deps);
    return 'failed';
  }
}

/** Whatever a handler throws once the deadline has fired is the deadline's doing, not the job's. */
function classify(thrown: unknown, deadline: AbortSignal): CallvaultError {
  if (!isCallvaultError(thrown) && deadline.aborted) {
    return new DeadlineError('the invocation ran out of time', { cause: thrown });
  }
  return asCallvaultError(thrown);
}

/** SQS counts receives; the first delivery is attempt 1. */
function receiveCount(record: SQSRecord): number {
  const count = Number.parseInt(record.attributes.ApproximateReceiveCount, 10);
  return Number.isFinite(count) && count > 0 ? count : 1;
}

async function changeVisibility(
  record: SQSRecord,
  route: QueueRoute,
  seconds: number,
  deps: SqsBatchProcessorDeps,
): Promise<void> {
  try {
    await deps.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: route.queueUrl,
        ReceiptHandle: record.receiptHandle,
        VisibilityTimeout: seconds,
      }),
    );
  } catch (error) {
    // Still reported as failed by the caller: the message comes back after its current visibility timeout.
    deps.log.warn('could not change message visibility', {
      messageId: record.messageId,
      error: error instanceof Error ? error.message : String(error),
    });
  }
}

async function deadLetter(
  record: SQSRecord,
  route: QueueRoute,
  error: CallvaultError,
  attempt: number,
  description: string,
  deps: SqsBatchProcessorDeps,
): Promise<RecordOutcome> {
  const reason = sqsAttributeText(`${error.code}: ${error.message}`, MAX_FAILURE_REASON_LENGTH);
  if (!route.deadLetterQueueUrl) {
    deps.log.error(
      'job failed for good but no dead-letter queue is known; leaving it to the redrive policy',
      {
        job: description,
        messageId: record.messageId,
        attempt,
        reason,
      },
    );
    return 'failed';
  }
  // Every String value passes through sqsAttributeText: one refused character would make SQS refuse the
  // dead letter, and the job would stay on its queue failing forever.
  const failure: Record<(typeof DEAD_LETTER_ATTRIBUTE_NAMES)[number], MessageAttributeValue> = {
    'failure-code': { DataType: 'String', StringValue: sqsAttributeText(error.code, 100) },
    'failure-reason': { DataType: 'String', StringValue: reason },
    'failed-at': { DataType: 'String', StringValue: new Date().toISOString() },
    attempts: { DataType: 'Number', StringValue: String(attempt) },
    'source-queue': { DataType: 'String', StringValue: record.eventSourceARN },
  };
  try {
    await deps.client.send(
      new SendMessageCommand({
        QueueUrl: route.deadLetterQueueUrl,
        // The body goes over unchanged so a redrive replays exactly the original job.
        MessageBody: record.body,
        MessageAttributes: { ...carriedAttributes(record, Object.keys(failure)), ...failure },
      }),
    );
  } catch (sendError) {
    deps.log.error('could not dead-letter job; it stays on its queue', {
      job: description,
      messageId: record.messageId,
      reason,
      error: sendError instanceof Error ? sendError.message : String(sendError),
    });
    return 'failed';
  }
  deps.onDeadLettered?.(error.code);
  deps.log.error('job dead-lettered', {
    job: description,
    messageId: record.messageId,
    attempt,
    code: error.code,
    reason,
  });
  return 'done';
}

/** The original attributes (job-type, provider, source-id) travel along, within SQS's ten-attribute limit. */
function carriedAttributes(record: SQSRecord, reserved: string[]): Record<string, MessageAttributeValue> {
  const carried: Record<string, MessageAttributeValue> = {};
  let room = MAX_MESSAGE_ATTRIBUTES - reserved.length;
  for (const [name, value] of Object.entries(record.messageAttributes ?? {})) {
    if (room <= 0) break;
    if (reserved.includes(name)) continue;
    if (value.stringValue !== undefined) {
      carried[name] = {
        DataType: value.dataType,
        StringValue: sqsAttributeText(value.stringValue, MAX_CARRIED_ATTRIBUTE_LENGTH),
      };
    } else if (value.binaryValue !== undefined) {
      carried[name] = { DataType: value.dataType, BinaryValue: Buffer.from(value.binaryValue, 'base64') };
    } else {
      continue;
    }
    room--;
  }
  return carried;
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/**
 * Builds `routeFor` from the provider → URL and receive-budget maps in the worker's environment. SQS names a
 * queue the same way in its ARN (last `:` part) and its URL (last path segment), which links the two.
 */
export function queueRoutesFromUrls(
  queueUrls: Partial<Record<string, string>>,
  deadLetterQueueUrls: Partial<Record<string, string>>,
  maxReceiveCounts: Partial<Record<string, number>> = {},
): (queueArn: string) => QueueRoute | undefined {
  const byName = new Map<string, QueueRoute>();
  for (const [provider, queueUrl] of Object.entries(queueUrls)) {
    if (!queueUrl) continue;
    const deadLetterQueueUrl = deadLetterQueueUrls[provider];
    const maxReceiveCount = maxReceiveCounts[provider];
    byName.set(queueNameFromUrl(queueUrl), {
      queueUrl,
      ...(deadLetterQueueUrl ? { deadLetterQueueUrl } : {}),
      ...(maxReceiveCount ? { maxReceiveCount } : {}),
    });
  }
  return (queueArn) => byName.get(queueArn.slice(queueArn.lastIndexOf(':') + 1));
}

function queueNameFromUrl(queueUrl: string): string {
  const path = new URL(queueUrl).pathname.replace(/\/+$/, '');
  return path.slice(path.lastIndexOf('/') + 1);
}
