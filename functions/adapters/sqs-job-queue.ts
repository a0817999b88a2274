/**
 * The production JobQueue: one SQS queue per provider, so one platform's outage or rate limit cannot
 * stall the others. Jobs are sent in batches; entries SQS refuses are retried a few times, and if any job
 * still could not be sent the caller gets a TransientError (a webhook then answers 5xx and the platform
 * redelivers, a sweep simply finds the recording missing next time). Nothing is ever dropped silently.
 */
import {
  type MessageAttributeValue,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { PermanentError, TransientError } from '../core/errors';
import { type ArchiveJob, describeJob, jobTarget, serialiseJob } from '../core/jobs';
import { type JobQueue, type Log, silentLog } from '../core/ports';
import type { ProviderName } from '../core/recording';
import { sqsAttributeText } from './sqs-message-text';

/** SQS allows ten entries per SendMessageBatch. */
export const SQS_MAX_BATCH_ENTRIES = 10;
/**
 * 256 KiB: the classic SQS limit for one message and for a whole batch. SQS now accepts more on queues
 * configured for it, but staying under the classic limit works with every queue and every
 * SQS-compatible server, and our jobs are a few KiB.
 */
export const SQS_MAX_BATCH_BYTES = 256 * 1024;

export interface SqsJobQueueOptions {
  /** Created once per container and injected (tests pass a client pointed at moto). */
  client: SQSClient;
  /** Provider name → URL of that provider's job queue. */
  queueUrls: Partial<Record<ProviderName, string>>;
  log?: Log;
  /**
   * Attempts per entry, including the first.
   * @default 3
   */
  maxAttempts?: number;
  /**
   * First backoff between attempts, doubled each time, with full jitter.
   * @default 100
   */
  baseBackoffMs?: number;
  /** @default SQS_MAX_BATCH_BYTES */
  maxBatchBytes?: number;
}

interface Outgoing {
  job: ArchiveJob;
  entry: SendMessageBatchRequestEntry;
  bytes: number;
}

interface SendFailure {
  job: ArchiveJob;
  code: string;
  message: string;
  senderFault: boolean;
}

export class SqsJobQueue implements JobQueue {
  private readonly client: SQSClient;
  private readonly queueUrls: Partial<Record<ProviderName, string>>;
  private readonly log: Log;
  private readonly maxAttempts: number;
  private readonly baseBackoffMs: number;
  private readonly maxBatchBytes: number;

  constructor(options: SqsJobQueueOptions) {
    this.client = options.client;
    this.queueUrls = options.queueUrls;
    this.log = options.log ?? silentLog;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 3);
    this.baseBackoffMs = Math.max(0, options.baseBackoffMs ?? 100);
    this.maxBatchBytes = options.maxBatchBytes ?? SQS_MAX_BATCH_BYTES;
  }

  async enqueue(jobs: readonly ArchiveJob[]): Promise<void> {
    if (jobs.length === 0) return;
    // Route and size-check everything before the first send: a configuration error should refuse the
    // whole call rather than leave it half done.
    const byQueue = new Map<string, Outgoing[]>();
    for (const job of jobs) {
      const { provider, sourceId } = jobTarget(job);
      const queueUrl = this.queueUrls[provider];
      if (!queueUrl) throw new PermanentError(`no job queue is configured for provider "${provider}"`);
      const outgoing = toOutgoing(job, provider, sourceId);
      if (outgoing.bytes > this.maxBatchBytes) {
        throw new PermanentError(
          `${describeJob(job)} is ${outgoing.bytes} bytes, over the ${this.maxBatchBytes}-byte message limit`,
        );
      }
      const list = byQueue.get(queueUrl) ?? [];
      list.push(outgoing);
      byQueue.set(queueUrl, list);
    }

    // Queues are independent; batches within one queue go one after another to keep request rates modest.
    const results = await Promise.all(
      [...byQueue].map(async ([queueUrl, outgoing]) => {
        const failures: SendFailure[] = [];
        for (const batch of this.batches(outgoing)) failures.push(...(await this.sendBatch(queueUrl, batch)));
        return failures;
      }),
    );
    const failures = results.flat();
    if (failures.length > 0) {
      const first = failures[0];
      throw new TransientError(
        `${failures.length} of ${jobs.length} jobs could not be enqueued (first: ${first?.code}: ${first?.message})`,
      );
    }
    this.log.debug('jobs enqueued', { count: jobs.length, queues: byQueue.size });
  }

  /** Groups by both limits: at most ten entries and at most maxBatchBytes per request. */
  private *batches(outgoing: Outgoing[]): Generator<Outgoing[]> {
    let batch: Outgoing[] = [];
    let bytes = 0;
    for (const item of outgoing) {
      if (
        batch.length === SQS_MAX_BATCH_ENTRIES ||
        (batch.length > 0 && bytes + item.bytes > this.maxBatchBytes)
      ) {
        yield batch;
        batch = [];
        bytes = 0;
      }
      batch.push(item);
      bytes += item.bytes;
    }
    if (batch.length > 0) yield batch;
  }

  /** Sends one batch, retrying what failed; returns the jobs that never made it. */
  private async sendBatch(queueUrl: string, batch: Outgoing[]): Promise<SendFailure[]> {
    // Entry ids only need to be unique within one request; the index keeps the mapping back to the job.
    let remaining = new Map(batch.map((item, index) => [String(index), item]));
    let failures: SendFailure[] = [];
    for (let attempt = 1; remaining.size > 0 && attempt <= this.maxAttempts; attempt++) {
      if (attempt > 1) await sleep(Math.random() * this.baseBackoffMs * 2 ** (attempt - 2));
      failures = [];
      const retry = new Map<string, Outgoing>();
      try {
        const output = await this.client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: [...remaining].map(([id, item]) => ({ ...item.entry, Id: id })),
          }),
        );
        const answered = new Set((output.Successful ?? []).map((entry) => entry.Id));
        for (const failed of output.Failed ?? []) {
          const item = failed.Id === undefined ? undefined : remaining.get(failed.Id);
          if (!item) continue;
          answered.add(failed.Id);
          failures.push({
            job: item.job,
            code: failed.Code ?? 'Unknown',
            message: failed.Message ?? '',
            senderFault: failed.SenderFault === true,
          });
          // A sender fault is our request's problem; sending the same entry again cannot fix it.
          if (!failed.SenderFault && failed.Id !== undefined) retry.set(failed.Id, item);
        }
        // Anything neither accepted nor reported failed is unaccounted for: treat it as failed and retry.
        for (const [id, item] of remaining) {
          if (answered.has(id)) continue;
          failures.push({
            job: item.job,
            code: 'Unacknowledged',
            message: 'SQS neither accepted nor refused the entry',
            senderFault: false,
          });
          retry.set(id, item);
        }
      } catch (error) {
        // The whole request failed (network, throttling, missing queue): every entry is still to send.
        const message = error instanceof Error ? error.message : String(error);
        const code = error instanceof Error ? error.name : 'Error';
        for (const [id, item] of remaining) {
          failures.push({ job: item.job, code, message, senderFault: false });
          retry.set(id, item);
        }
      }
      if (failures.length > 0) {
        this.log.warn('some jobs were not accepted by SQS', {
          queueUrl,
          attempt,
          failed: failures.map((f) => ({ job: describeJob(f.job), code: f.code })),
        });
      }
      remaining = retry;
    }
    return failures;
  }
}

/**
 * SQS refuses a message body holding characters outside its set (InvalidMessageContents), and a refused
 * job is retried forever by whoever enqueues it. JSON.stringify already escapes control characters and
 * lone surrogates; U+FFFE and U+FFFF (which can arrive in webhook fields or listed records) it leaves
 * as they are. In JSON they can only stand inside strings, where the `\uXXXX` escape means the same.
 */
function sqsSafeJson(json: string): string {
  return json.replace(/[\uFFFE\uFFFF]/g, (char) => `\\u${char.charCodeAt(0).toString(16)}`);
}

function toOutgoing(job: ArchiveJob, provider: ProviderName, sourceId: string): Outgoing {
  const body = sqsSafeJson(serialiseJob(job));
  // Attributes let operators and redrive tooling filter without reading (possibly sensitive) bodies.
  const attributes: Record<string, MessageAttributeValue> = {
    'job-type': { DataType: 'String', StringValue: job.type },
    provider: { DataType: 'String', StringValue: provider },
    // Source ids are validated in the config, but a job body is outside input: SQS must not refuse it.
    'source-id': { DataType: 'String', StringValue: sqsAttributeText(sourceId, 200) },
  };
  return {
    job,
    entry: { Id: '', MessageBody: body, MessageAttributes: attributes },
    bytes: messageBytes(body, attributes),
  };
}

/** What SQS counts against the size limit: the body plus every attribute's name, type and value. */
export function messageBytes(body: string, attributes: Record<string, MessageAttributeValue> = {}): number {
  let bytes = Buffer.byteLength(body, 'utf8');
  for (const [name, value] of Object.entries(attributes)) {
    bytes += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(value.DataType ?? '', 'utf8');
    if (value.StringValue !== undefined) bytes += Buffer.byteLength(value.StringValue, 'utf8');
    if (value.BinaryValue !== undefined) bytes += value.BinaryValue.byteLength;
  }
  return bytes;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
