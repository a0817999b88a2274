import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqsJobQueue } from '../../functions/adapters/sqs-job-queue';
import { PermanentError, TransientError } from '../../functions/core/errors';
import {
  type ArchiveJob,
  describeJob,
  type HintJob,
  parseJob,
  recordingJob,
} from '../../functions/core/jobs';
import type { ProviderName } from '../../functions/core/recording';
import { type MotoServer, motoAvailable, startMoto } from '../support/moto';
import { createQueue, receiveAtLeast, type TestQueue } from '../support/sqs-records';

/** The providers this test gives a queue; a provider without one is refused, as tested below. */
type QueuedProvider = Exclude<ProviderName, 'msteams'>;

function recording(provider: ProviderName, index: number): ArchiveJob {
  return recordingJob({
    provider,
    sourceId: `${provider}-main`,
    recordingId: `rec-${index}`,
    startedAt: new Date(Date.UTC(2025, 0, 2, 3, 4, index)),
    direction: 'inbound',
    fileExtension: 'mp3',
    raw: { index },
  });
}

function hint(provider: ProviderName, index: number, padding = 0): HintJob {
  return {
    v: 1,
    type: 'hint',
    provider,
    sourceId: `${provider}-main`,
    eventTime: new Date(Date.UTC(2025, 0, 2, 3, 4, index)).toISOString(),
    hint: { callId: `call-${index}`, ...(padding > 0 ? { note: 'x'.repeat(padding) } : {}) },
  };
}

async function messageCount(moto: MotoServer, queue: TestQueue): Promise<number> {
  const output = await moto.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queue.url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(output.Attributes?.ApproximateNumberOfMessages) +
    Number(output.Attributes?.ApproximateNumberOfMessagesNotVisible)
  );
}

function attribute(record: SQSRecord, name: string): string | undefined {
  return record.messageAttributes[name]?.stringValue;
}

describe.skipIf(!motoAvailable())('SqsJobQueue against moto', () => {
  let moto: MotoServer;
  let queues: Record<QueuedProvider, TestQueue>;
  let run = 0;

  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  /** Fresh queues per test so counts never leak between tests. */
  async function freshQueues(): Promise<Record<QueuedProvider, TestQueue>> {
    run++;
    return {
      telphin: await createQueue(moto.sqs, `jobs-telphin-${run}`),
      ringcentral: await createQueue(moto.sqs, `jobs-ringcentral-${run}`),
      msgraph: await createQueue(moto.sqs, `jobs-msgraph-${run}`),
    };
  }

  function queueFor(q: Record<QueuedProvider, TestQueue>, maxAttempts?: number): SqsJobQueue {
    return new SqsJobQueue({
      client: moto.sqs,
      queueUrls: { telphin: q.telphin.url, ringcentral: q.ringcentral.url, msgraph: q.msgraph.url },
      maxAttempts,
      baseBackoffMs: 10,
    });
  }

  it('sends 25 jobs across providers, each to its own provider queue with routing attributes', async () => {
    // Prepare
    queues = await freshQueues();
    const jobs: ArchiveJob[] = [];
    for (let i = 0; i < 12; i++) jobs.push(recording('telphin', i));
    for (let i = 0; i < 8; i++) jobs.push(i % 2 ? hint('ringcentral', i) : recording('ringcentral', i));
    for (let i = 0; i < 5; i++) jobs.push(hint('msgraph', i));

    // Act
    await queueFor(queues).enqueue(jobs);

    // Assess
    for (const [provider, expected] of [
      ['telphin', 12],
      ['ringcentral', 8],
      ['msgraph', 5],
    ] as const) {
      const records = await receiveAtLeast(moto.sqs, queues[provider], expected);
      expect(records).toHaveLength(expected);
      const received = records.map((record) => parseJob(record.body));
      const sent = jobs.filter(
        (job) => (job.type === 'hint' ? job.provider : job.recording.provider) === provider,
      );
      expect(received.map(describeJob).sort()).toEqual(sent.map(describeJob).sort());
      for (const record of records) {
        const job = parseJob(record.body);
        expect(attribute(record, 'provider')).toBe(provider);
        expect(attribute(record, 'source-id')).toBe(`${provider}-main`);
        expect(attribute(record, 'job-type')).toBe(job.type);
      }
    }
    expect(await messageCount(moto, queues.telphin)).toBe(12); // received (in flight), none duplicated
  });

  it('splits batches by size as well as count (a count-only batch of these would exceed the batch limit)', async () => {
    // Prepare: eight ~150 KiB jobs. Grouped ten to a batch they would make a 1.2 MB request, which the
    // server refuses; grouped by the 256 KiB limit each goes alone.
    queues = await freshQueues();
    const jobs = Array.from({ length: 8 }, (_, i) => hint('telphin', i, 150 * 1024));

    // Act
    await queueFor(queues, 1).enqueue(jobs);

    // Assess
    const records = await receiveAtLeast(moto.sqs, queues.telphin, 8);
    expect(
      records
        .map((record) => parseJob(record.body))
        .map(describeJob)
        .sort(),
    ).toEqual(jobs.map(describeJob).sort());
  });

  it('refuses a job over the message size limit with a PermanentError and sends nothing', async () => {
    // Prepare
    queues = await freshQueues();
    const jobs = [recording('telphin', 1), hint('telphin', 2, 300 * 1024)];

    // Act
    const attempt = queueFor(queues).enqueue(jobs);

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(PermanentError);
    expect(await messageCount(moto, queues.telphin)).toBe(0);
  });

  it('refuses jobs for a provider without a queue with a PermanentError before sending any', async () => {
    // Prepare
    queues = await freshQueues();
    const jobQueue = new SqsJobQueue({ client: moto.sqs, queueUrls: { telphin: queues.telphin.url } });

    // Act
    const attempt = jobQueue.enqueue([recording('telphin', 1), recording('ringcentral', 2)]);

    // Assess
    await expect(attempt).rejects.toThrow(/no job queue is configured for provider "ringcentral"/);
    await expect(attempt).rejects.toBeInstanceOf(PermanentError);
    expect(await messageCount(moto, queues.telphin)).toBe(0);
  });

  it('throws a TransientError (so a webhook answers 5xx) when SQS keeps refusing a batch', async () => {
    // Prepare: a queue URL that does not exist on the server, so every attempt fails.
    queues = await freshQueues();
    const missing = queues.telphin.url.replace(/jobs-telphin-\d+$/, 'no-such-queue');
    const jobQueue = new SqsJobQueue({
      client: moto.sqs,
      queueUrls: { telphin: missing, ringcentral: queues.ringcentral.url },
      maxAttempts: 3,
      baseBackoffMs: 10,
    });

    // Act
    const attempt = jobQueue.enqueue([
      recording('telphin', 1),
      recording('telphin', 2),
      recording('ringcentral', 3),
    ]);

    // Assess: the caller hears about the two lost jobs; the healthy queue still got its job.
    await expect(attempt).rejects.toBeInstanceOf(TransientError);
    await expect(attempt).rejects.toThrow(/2 of 3 jobs could not be enqueued/);
    expect(await messageCount(moto, queues.ringcentral)).toBe(1);
  });
});
