/**
 * How much work waits, per provider: the SQS queues and dead-letter queues of a deployment, or the local
 * queue (the running `npm start`'s live numbers when it answers, else its saved state file) and the local
 * dead-letter folder.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import * as z from 'zod';
import { archiveJobSchema, jobTarget } from '../core/jobs';
import type { ProviderName } from '../core/recording';

export interface QueueDepth {
  provider: ProviderName | 'all';
  pending: number;
  inFlight: number;
  delayed: number;
  deadLetters: number;
  /** Where the numbers come from. */
  origin: 'sqs' | 'running-host' | 'saved-state';
}

export async function sqsQueueDepths(
  sqs: SQSClient,
  queueUrls: Partial<Record<ProviderName, string>>,
  deadLetterQueueUrls: Partial<Record<ProviderName, string>>,
  providers: readonly ProviderName[],
): Promise<QueueDepth[]> {
  const attributes = async (url: string | undefined) => {
    if (!url) return {};
    const output = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    return output.Attributes ?? {};
  };
  return Promise.all(
    providers.map(async (provider) => {
      const [queue, deadLetter] = await Promise.all([
        attributes(queueUrls[provider]),
        attributes(deadLetterQueueUrls[provider]),
      ]);
      return {
        provider,
        pending: Number(queue.ApproximateNumberOfMessages ?? 0),
        inFlight: Number(queue.ApproximateNumberOfMessagesNotVisible ?? 0),
        delayed: Number(queue.ApproximateNumberOfMessagesDelayed ?? 0),
        // A message being redriven or inspected is still a dead letter.
        deadLetters:
          Number(deadLetter.ApproximateNumberOfMessages ?? 0) +
          Number(deadLetter.ApproximateNumberOfMessagesNotVisible ?? 0),
        origin: 'sqs' as const,
      };
    }),
  );
}

const savedStateSchema = z.object({
  jobs: z.array(z.object({ job: archiveJobSchema, notBefore: z.number().optional() })),
});

const liveHealthSchema = z.object({
  queue: z.object({ pending: z.number(), inFlight: z.number(), delayed: z.number() }),
});

export async function localQueueDepths(options: {
  stateDir: string;
  providers: readonly ProviderName[];
  /** `http://host:port/health` of a running `npm start`. */
  healthUrl?: string;
  now?: Date;
  fetchTimeoutMs?: number;
}): Promise<QueueDepth[]> {
  const now = (options.now ?? new Date()).getTime();
  const deadLetters = await countDeadLetters(join(options.stateDir, 'dead-letter'));
  const live = options.healthUrl
    ? await readLiveQueue(options.healthUrl, options.fetchTimeoutMs ?? 500)
    : undefined;
  if (live) {
    // The running queue holds every provider's jobs together; it does not break them down.
    const total = [...deadLetters.values()].reduce((sum, count) => sum + count, 0);
    return [{ provider: 'all', ...live, deadLetters: total, origin: 'running-host' }];
  }
  const saved = await readSavedState(join(options.stateDir, 'pending-jobs.json'));
  return options.providers.map((provider) => {
    const jobs = saved.filter((entry) => jobTarget(entry.job).provider === provider);
    const delayed = jobs.filter((entry) => entry.notBefore !== undefined && entry.notBefore > now).length;
    return {
      provider,
      pending: jobs.length - delayed,
      inFlight: 0,
      delayed,
      deadLetters: deadLetters.get(provider) ?? 0,
      origin: 'saved-state',
    };
  });
}

async function readLiveQueue(
  url: string,
  timeoutMs: number,
): Promise<{ pending: number; inFlight: number; delayed: number } | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return undefined;
    const parsed = liveHealthSchema.safeParse(await response.json());
    return parsed.success ? parsed.data.queue : undefined;
  } catch {
    return undefined;
  }
}

async function readSavedState(path: string): Promise<z.infer<typeof savedStateSchema>['jobs']> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const parsed = savedStateSchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new Error(`the local queue state file ${path} is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data.jobs;
}

/** Dead-letter files are `{time}-{provider}-{id}.json` (local-job-queue.ts); the job inside names the provider too. */
async function countDeadLetters(folder: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return counts;
    throw error;
  }
  for (const name of names) {
    const match = /-([a-z]+)-[0-9a-f]{8}\.json$/.exec(name);
    if (match?.[1]) counts.set(match[1], (counts.get(match[1]) ?? 0) + 1);
  }
  return counts;
}
