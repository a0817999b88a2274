/**
 * Brings dead letters back to their job queue once their cause is fixed (`npm run redrive`).
 *
 * On AWS the worker dead-letters most jobs itself, with SendMessage and the failure reason, so SQS records
 * no source queue for them: a message move task without a destination would not bring them back. Both
 * ways here name the destination:
 * - `moveDeadLetters`: one SQS message move task from the provider's dead-letter queue to its job queue
 *   (StartMessageMoveTask with DestinationArn), followed until it ends. SQS moves every message of the
 *   queue, whichever source it belongs to, and keeps the attributes.
 * - `copyDeadLetters`: receive, send to the job queue, delete, in batches of ten. At least once (a crash
 *   between send and delete sends a job twice, which the worker's conditional writes absorb), can keep to
 *   one source, and drops the worker's failure attributes. For SQS-compatible servers without message
 *   move tasks (moto, LocalStack), and for redriving one source of several.
 * Locally, dead letters are files; `redriveLocalDeadLetters` puts their jobs back into the saved queue.
 */
import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { LocalJobQueue } from '../adapters/local-job-queue';
import { DEAD_LETTER_ATTRIBUTE_NAMES } from '../adapters/sqs-batch-processor';
import { type ArchiveJob, archiveJobSchema, jobTarget, parseJob } from '../core/jobs';
import { type Log, silentLog } from '../core/ports';

export interface RedriveQueues {
  queueUrl: string;
  queueArn: string;
  deadLetterQueueUrl: string;
  deadLetterQueueArn: string;
}

export interface DeadLetterCount {
  /** Waiting to be received (and redriven). */
  visible: number;
  /** Received by someone right now (an operator peeking, a running redrive); back once their timeout ends. */
  inFlight: number;
}

export async function countQueueMessages(sqs: SQSClient, queueUrl: string): Promise<DeadLetterCount> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

// ------------------------------------------------------------------ message move task (AWS)

export interface MoveTaskProgress {
  taskHandle?: string;
  /** RUNNING, COMPLETED, CANCELLING, CANCELLED or FAILED. */
  status: string;
  moved: number;
  /** What SQS expected to move when the task started. */
  toMove?: number;
  failureReason?: string;
}

const FINAL_STATUSES = new Set(['COMPLETED', 'CANCELLED', 'FAILED']);

export class MoveTaskUnavailableError extends Error {
  override name = 'MoveTaskUnavailableError';
}

/** Starts a message move task dead-letter queue → job queue and follows it until it ends. */
export async function moveDeadLetters(
  sqs: SQSClient,
  queues: RedriveQueues,
  options: {
    maxMessagesPerSecond?: number;
    pollIntervalMs?: number;
    onProgress?: (progress: MoveTaskProgress) => void;
    sleep?: (ms: number) => Promise<void>;
  } = {},
): Promise<MoveTaskProgress> {
  const sleep = options.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
  let taskHandle: string | undefined;
  try {
    ({ TaskHandle: taskHandle } = await sqs.send(
      new StartMessageMoveTaskCommand({
        SourceArn: queues.deadLetterQueueArn,
        // Required here: SQS knows no source queue for the jobs the worker dead-lettered itself.
        DestinationArn: queues.queueArn,
        MaxNumberOfMessagesPerSecond: options.maxMessagesPerSecond,
      }),
    ));
  } catch (error) {
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new MoveTaskUnavailableError(
      `could not start a message move task from ${queues.deadLetterQueueArn} to ${queues.queueArn} (${detail}). ` +
        'If one is already running, wait for it; on an SQS-compatible server without message move tasks, use --copy.',
    );
  }
  for (;;) {
    const { Results } = await sqs.send(
      new ListMessageMoveTasksCommand({ SourceArn: queues.deadLetterQueueArn, MaxResults: 10 }),
    );
    const task = Results?.find((entry) => entry.TaskHandle === taskHandle) ?? Results?.[0];
    const progress: MoveTaskProgress = {
      taskHandle,
      status: task?.Status ?? 'UNKNOWN',
      moved: task?.ApproximateNumberOfMessagesMoved ?? 0,
      toMove: task?.ApproximateNumberOfMessagesToMove,
      failureReason: task?.FailureReason,
    };
    options.onProgress?.(progress);
    if (FINAL_STATUSES.has(progress.status)) return progress;
    await sleep(options.pollIntervalMs ?? 5_000);
  }
}

// ------------------------------------------------------------------ receive, send, delete

export interface CopyReport {
  /** Sent to the job queue and deleted from the dead-letter queue. */
  moved: number;
  /** Left in the dead-letter queue: another source's, when one source was asked for. */
  skipped: number;
  /** Not sent (SQS refused them); still in the dead-letter queue. */
  failed: number;
  /** Sent but not deleted: they will come back once more, and be sent again by the next redrive. */
  notDeleted: number;
}

const DROPPED_ATTRIBUTES = new Set<string>(DEAD_LETTER_ATTRIBUTE_NAMES);
const BATCH = 10;

/**
 * Moves at most `limit` messages (use the dead-letter count at the start, so a cause that is still there
 * cannot keep a redrive going forever) from the dead-letter queue to the job queue, keeping to `sourceId`
 * when given. Messages left behind are made visible again before it returns.
 */
export async function copyDeadLetters(
  sqs: SQSClient,
  queues: RedriveQueues,
  options: {
    limit: number;
    sourceId?: string;
    /** How long a received dead letter stays hidden while it is being moved. @default 120 */
    visibilityTimeoutSeconds?: number;
    onProgress?: (report: CopyReport) => void;
    log?: Log;
  },
): Promise<CopyReport> {
  const log = options.log ?? silentLog;
  const report: CopyReport = { moved: 0, skipped: 0, failed: 0, notDeleted: 0 };
  const release: string[] = [];
  let received = 0;
  try {
    while (received < options.limit) {
      const { Messages } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queues.deadLetterQueueUrl,
          MaxNumberOfMessages: Math.min(BATCH, options.limit - received),
          WaitTimeSeconds: 1,
          VisibilityTimeout: options.visibilityTimeoutSeconds ?? 120,
          MessageAttributeNames: ['All'],
        }),
      );
      if (!Messages?.length) break;
      received += Messages.length;
      const selected: Message[] = [];
      for (const message of Messages) {
        if (options.sourceId === undefined || sourceIdOf(message) === options.sourceId)
          selected.push(message);
        else if (message.ReceiptHandle) {
          release.push(message.ReceiptHandle);
          report.skipped++;
        }
      }
      if (selected.length > 0) await moveBatch(sqs, queues, selected, report, release, log);
      options.onProgress?.({ ...report });
    }
  } finally {
    await makeVisible(sqs, queues.deadLetterQueueUrl, release, log);
  }
  return report;
}

async function moveBatch(
  sqs: SQSClient,
  queues: RedriveQueues,
  messages: Message[],
  report: CopyReport,
  release: string[],
  log: Log,
): Promise<void> {
  const sent = await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: queues.queueUrl,
      Entries: messages.map((message, index) => ({
        Id: String(index),
        // The body goes back unchanged: it is the original job.
        MessageBody: message.Body ?? '',
        MessageAttributes: jobAttributes(message),
      })),
    }),
  );
  const toDelete: { Id: string; ReceiptHandle: string }[] = [];
  for (const entry of sent.Successful ?? []) {
    const message = messages[Number(entry.Id)];
    if (message?.ReceiptHandle) toDelete.push({ Id: entry.Id ?? '', ReceiptHandle: message.ReceiptHandle });
  }
  for (const failure of sent.Failed ?? []) {
    const message = messages[Number(failure.Id)];
    report.failed++;
    if (message?.ReceiptHandle) release.push(message.ReceiptHandle);
    log.warn('a dead letter could not be sent back; it stays in the dead-letter queue', {
      messageId: message?.MessageId,
      code: failure.Code,
      reason: failure.Message,
    });
  }
  if (toDelete.length === 0) return;
  const deleted = await sqs.send(
    new DeleteMessageBatchCommand({ QueueUrl: queues.deadLetterQueueUrl, Entries: toDelete }),
  );
  report.moved += deleted.Successful?.length ?? 0;
  for (const failure of deleted.Failed ?? []) {
    report.notDeleted++;
    log.warn('a redriven dead letter could not be deleted; it will be redriven once more', {
      code: failure.Code,
      reason: failure.Message,
    });
  }
}

/** The job's own attributes (job-type, provider, source-id), without the worker's failure record. */
function jobAttributes(message: Message): Record<string, MessageAttributeValue> {
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    if (DROPPED_ATTRIBUTES.has(name) || !value.DataType) continue;
    if (value.StringValue !== undefined) {
      attributes[name] = { DataType: value.DataType, StringValue: value.StringValue };
    } else if (value.BinaryValue !== undefined) {
      attributes[name] = { DataType: value.DataType, BinaryValue: value.BinaryValue };
    }
  }
  return attributes;
}

/** The `source-id` attribute the queue adapter sets, else the job body's; undefined for a malformed body. */
function sourceIdOf(message: Message): string | undefined {
  const attribute = message.MessageAttributes?.['source-id']?.StringValue;
  if (attribute) return attribute;
  try {
    return jobTarget(parseJob(message.Body ?? '')).sourceId;
  } catch {
    return undefined;
  }
}

async function makeVisible(sqs: SQSClient, queueUrl: string, receiptHandles: string[], log: Log) {
  for (let start = 0; start < receiptHandles.length; start += BATCH) {
    const entries = receiptHandles
      .slice(start, start + BATCH)
      .map((handle, index) => ({ Id: String(index), ReceiptHandle: handle, VisibilityTimeout: 0 }));
    try {
      await sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
    } catch (error) {
      // They come back on their own once the visibility timeout ends.
      log.warn('could not make skipped dead letters visible again', {
        count: entries.length,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}

// ------------------------------------------------------------------ local mode

/** Redriven dead-letter files move here: kept, not deleted, in case a running `npm start` overwrote the jobs. */
export const REDRIVEN_FOLDER = 'redriven';

const deadLetterFileSchema = z.object({ job: archiveJobSchema });

export interface LocalRedriveReport {
  /** Jobs put back (or, in a dry run, that would be), per source. */
  bySource: Record<string, number>;
  redriven: number;
  /** Dead letters of other sources, and files that are not dead letters. */
  left: number;
}

/**
 * Puts the jobs of `{stateDir}/dead-letter/*.json` (of one source, or all) back into the saved local queue
 * (`{stateDir}/pending-jobs.json`), which the next `npm start` runs, and moves their files to
 * `dead-letter/redriven/`. `npm start` must not be running: it rewrites that file when it stops.
 */
export async function redriveLocalDeadLetters(options: {
  stateDir: string;
  sourceId?: string;
  dryRun: boolean;
  log?: Log;
}): Promise<LocalRedriveReport> {
  const log = options.log ?? silentLog;
  const folder = join(options.stateDir, 'dead-letter');
  let names: string[];
  try {
    names = (await readdir(folder, { withFileTypes: true }))
      .filter((entry) => entry.isFile() && entry.name.endsWith('.json'))
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { bySource: {}, redriven: 0, left: 0 };
    throw error;
  }
  const report: LocalRedriveReport = { bySource: {}, redriven: 0, left: 0 };
  const chosen: { name: string; job: ArchiveJob }[] = [];
  for (const name of names) {
    const parsed = deadLetterFileSchema.safeParse(await readJson(join(folder, name)));
    if (!parsed.success) {
      log.warn('not a dead letter; left where it is', { file: join(folder, name) });
      report.left++;
      continue;
    }
    const { sourceId } = jobTarget(parsed.data.job);
    if (options.sourceId !== undefined && sourceId !== options.sourceId) {
      report.left++;
      continue;
    }
    chosen.push({ name, job: parsed.data.job });
    report.bySource[sourceId] = (report.bySource[sourceId] ?? 0) + 1;
  }
  report.redriven = chosen.length;
  if (options.dryRun || chosen.length === 0) return report;

  // The queue loads what is saved, takes the jobs, and saves everything again; it never runs a job here.
  const queue = new LocalJobQueue({
    concurrency: 1,
    maxReceiveCount: 1,
    deadLetterDir: folder,
    stateFile: join(options.stateDir, 'pending-jobs.json'),
    log,
    handleJob: async () => {
      throw new Error('a redrive only saves jobs');
    },
  });
  await queue.enqueue(chosen.map(({ job }) => job));
  await queue.stop();
  await mkdir(join(folder, REDRIVEN_FOLDER), { recursive: true });
  for (const { name } of chosen) await rename(join(folder, name), join(folder, REDRIVEN_FOLDER, name));
  return report;
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** True when a running `npm start` answers on its health endpoint. */
export async function localHostIsRunning(healthUrl: string, timeoutMs = 500): Promise<boolean> {
  try {
    const response = await fetch(healthUrl, { signal: AbortSignal.timeout(timeoutMs) });
    return response.ok;
  } catch {
    return false;
  }
}
