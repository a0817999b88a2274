import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_FAILURE_REASON_LENGTH,
  processSqsBatch,
  queueRoutesFromUrls,
  type SqsBatchProcessorDeps,
} from '../../functions/adapters/sqs-batch-processor';
import {
  AlreadyArchivedError,
  ExpiredBeforeFetchError,
  GoneAtSourceError,
  NotReadyError,
  PermanentError,
  TransientError,
} from '../../functions/core/errors';
import {
  type ArchiveJob,
  describeJob,
  fetchNowJob,
  parseJob,
  recordingJob,
  serialiseJob,
} from '../../functions/core/jobs';
import { silentLog } from '../../functions/core/ports';
import type { RetryPolicy } from '../../functions/core/retry-policy';
import { type MotoServer, motoAvailable, startMoto } from '../support/moto';
import {
  createQueue,
  deleteSucceeded,
  receiveAtLeast,
  receiveRecords,
  type TestQueue,
} from '../support/sqs-records';

/** With random() = 1 a transient failure waits transientBaseSeconds × 2^(attempt-1), capped: here 2 s, then 2 s. */
const FAST_POLICY: RetryPolicy = {
  notReadyBaseSeconds: 1,
  notReadyMaxSeconds: 2,
  transientBaseSeconds: 2,
  transientMaxSeconds: 2,
  rateLimitDefaultSeconds: 1,
};
const ONE_SECOND_POLICY: RetryPolicy = { ...FAST_POLICY, transientBaseSeconds: 1, transientMaxSeconds: 1 };

function job(index: number): ArchiveJob {
  return recordingJob({
    provider: 'telphin',
    sourceId: 'main',
    recordingId: `rec-${index}`,
    startedAt: new Date(Date.UTC(2025, 4, 6, 7, 8, index)),
    direction: 'outbound',
    fileExtension: 'mp3',
    raw: {},
  });
}

const GRANT_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.recording-grant.signature';

function grantedJob(index: number): ArchiveJob {
  return fetchNowJob(
    {
      provider: 'msgraph',
      sourceId: 'bot',
      recordingId: `op-${index}`,
      startedAt: new Date(Date.UTC(2025, 4, 6, 7, 8, index)),
      direction: 'unknown',
      fileExtension: 'wav',
      raw: {},
    },
    { url: 'https://media.example.com/r', bearerToken: GRANT_TOKEN, receivedAt: '2025-05-06T07:08:00Z' },
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What SQS accepts in bodies and String attributes (SendMessage docs); moto itself does not check. */
const SQS_MESSAGE_CHARACTERS = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

describe.skipIf(!motoAvailable())('processSqsBatch against moto', () => {
  let moto: MotoServer;
  let run = 0;

  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  /** A job queue with its DLQ; the queue's redrive policy uses `maxReceiveCount`. */
  async function queuesWithDlq(maxReceiveCount: number): Promise<{ source: TestQueue; dlq: TestQueue }> {
    run++;
    const dlq = await createQueue(moto.sqs, `jobs-dlq-${run}`);
    const source = await createQueue(moto.sqs, `jobs-${run}`, { deadLetter: dlq, maxReceiveCount });
    return { source, dlq };
  }

  async function send(queue: TestQueue, body: string): Promise<void> {
    await moto.sqs.send(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageBody: body,
        MessageAttributes: { provider: { DataType: 'String', StringValue: 'telphin' } },
      }),
    );
  }

  async function counts(queue: TestQueue): Promise<{ visible: number; inFlight: number }> {
    const output = await moto.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queue.url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return {
      visible: Number(output.Attributes?.ApproximateNumberOfMessages),
      inFlight: Number(output.Attributes?.ApproximateNumberOfMessagesNotVisible),
    };
  }

  function deps(
    source: TestQueue,
    dlq: TestQueue | undefined,
    overrides: Partial<SqsBatchProcessorDeps> & Pick<SqsBatchProcessorDeps, 'handleJob'>,
  ): SqsBatchProcessorDeps {
    return {
      client: moto.sqs,
      routeFor: queueRoutesFromUrls({ telphin: source.url }, dlq ? { telphin: dlq.url } : {}),
      maxReceiveCount: 5,
      deadline: new AbortController().signal,
      log: silentLog,
      retryPolicy: FAST_POLICY,
      random: () => 1,
      ...overrides,
    };
  }

  it('hands the job to handleJob and reports nothing on success', async () => {
    // Prepare
    const { source, dlq } = await queuesWithDlq(5);
    await send(source, serialiseJob(job(1)));
    const records = await receiveRecords(moto.sqs, source);
    const seen: string[] = [];

    // Act
    const response = await processSqsBatch(
      records,
      deps(source, dlq, {
        handleJob: async (received) => {
          seen.push(describeJob(received));
        },
      }),
    );

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(seen).toEqual([describeJob(job(1))]);
  });

  it('delays a transient failure by the decided visibility and reports it; it returns after the delay', async () => {
    // Prepare: the queue's own visibility timeout is 30 s, so an early return can only come from our change.
    const { source, dlq } = await queuesWithDlq(5);
    await send(source, serialiseJob(job(1)));
    const records = await receiveRecords(moto.sqs, source);
    expect(records).toHaveLength(1);

    // Act
    const response = await processSqsBatch(
      records,
      deps(source, dlq, {
        handleJob: async () => {
          throw new TransientError('connection reset');
        },
      }),
    );

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[0]?.messageId }]);
    expect(await receiveRecords(moto.sqs, source)).toHaveLength(0); // not right away
    await sleep(2300);
    const again = await receiveRecords(moto.sqs, source);
    expect(again.map((record) => record.messageId)).toEqual([records[0]?.messageId]);
    expect(again[0]?.attributes.ApproximateReceiveCount).toBe('2');
    expect(await counts(dlq)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('dead-letters with a reason itself on the last allowed receive (processor and queue both at maxReceiveCount 2)', async () => {
    // Prepare
    const { source, dlq } = await queuesWithDlq(2);
    await send(source, serialiseJob(job(7)));
    const options = deps(source, dlq, {
      maxReceiveCount: 2,
      retryPolicy: ONE_SECOND_POLICY,
      handleJob: async () => {
        throw new TransientError('provider keeps answering 503');
      },
    });

    // Act: two deliveries, as the event source would make them, 1 s apart.
    const first = await receiveRecords(moto.sqs, source);
    const firstResponse = await processSqsBatch(first, options);
    await deleteSucceeded(moto.sqs, source, first, firstResponse);
    await sleep(1300);
    const second = await receiveRecords(moto.sqs, source);
    const secondResponse = await processSqsBatch(second, options);
    await deleteSucceeded(moto.sqs, source, second, secondResponse);

    // Assess
    expect(firstResponse.batchItemFailures).toHaveLength(1);
    expect(second[0]?.attributes.ApproximateReceiveCount).toBe('2');
    expect(secondResponse.batchItemFailures).toEqual([]);
    expect(await counts(source)).toEqual({ visible: 0, inFlight: 0 });
    const dead = await receiveAtLeast(moto.sqs, dlq, 1);
    expect(dead).toHaveLength(1);
    expect(parseJob(dead[0]?.body ?? '')).toEqual(job(7));
    expect(dead[0]?.messageAttributes['failure-code']?.stringValue).toBe('TRANSIENT');
    expect(dead[0]?.messageAttributes['failure-reason']?.stringValue).toBe(
      'TRANSIENT: provider keeps answering 503',
    );
    expect(dead[0]?.messageAttributes.attempts?.stringValue).toBe('2');
    expect(dead[0]?.messageAttributes['source-queue']?.stringValue).toBe(source.arn);
    expect(dead[0]?.messageAttributes.provider?.stringValue).toBe('telphin'); // original attributes carried over
    expect(Number.isNaN(Date.parse(dead[0]?.messageAttributes['failed-at']?.stringValue ?? ''))).toBe(false);
  });

  it("gives up at the queue's own receive budget, not the config's: a not-ready job outlives worker.maxReceiveCount", async () => {
    // Prepare: the Teams case in small: the queue's redrive allows 4 receives, worker.maxReceiveCount is 2.
    const { source, dlq } = await queuesWithDlq(4);
    await send(source, serialiseJob(job(9)));
    const options = deps(source, dlq, {
      routeFor: queueRoutesFromUrls({ telphin: source.url }, { telphin: dlq.url }, { telphin: 4 }),
      maxReceiveCount: 2,
      retryPolicy: { ...FAST_POLICY, notReadyMaxSeconds: 1 },
      handleJob: async () => {
        throw new NotReadyError('the platform is still processing the recording');
      },
    });

    // Act: four deliveries, as the event source would make them.
    const attempts: string[] = [];
    for (let receive = 1; receive <= 4; receive++) {
      const records = await receiveAtLeast(moto.sqs, source, 1);
      attempts.push(records[0]?.attributes.ApproximateReceiveCount ?? '');
      const response = await processSqsBatch(records, options);
      await deleteSucceeded(moto.sqs, source, records, response);
      // Assess: retried (reported, kept on its queue) until the queue's 4th receive, then dead-lettered.
      expect(response.batchItemFailures).toHaveLength(receive < 4 ? 1 : 0);
      if (receive < 4) expect(await counts(dlq)).toEqual({ visible: 0, inFlight: 0 });
    }
    expect(attempts).toEqual(['1', '2', '3', '4']);
    const dead = await receiveAtLeast(moto.sqs, dlq, 1);
    expect(dead[0]?.messageAttributes['failure-code']?.stringValue).toBe('NOT_READY');
    expect(dead[0]?.messageAttributes.attempts?.stringValue).toBe('4');
  });

  it('leaves the queue redrive policy as the backstop: after its maxReceiveCount SQS itself moves the job to the DLQ', async () => {
    // Prepare: the processor would allow 10 receives, the queue only 2 (as when a worker dies mid-job).
    const { source, dlq } = await queuesWithDlq(2);
    await send(source, serialiseJob(job(8)));
    const options = deps(source, dlq, {
      maxReceiveCount: 10,
      retryPolicy: ONE_SECOND_POLICY,
      handleJob: async () => {
        throw new TransientError('still failing');
      },
    });

    // Act
    const responses = [];
    for (let delivery = 0; delivery < 2; delivery++) {
      const records = await receiveRecords(moto.sqs, source);
      expect(records).toHaveLength(1);
      responses.push(await processSqsBatch(records, options));
      await sleep(1300);
    }
    const third = await receiveRecords(moto.sqs, source);

    // Assess
    expect(responses.map((response) => response.batchItemFailures.length)).toEqual([1, 1]);
    expect(third).toHaveLength(0);
    const dead = await receiveAtLeast(moto.sqs, dlq, 1);
    expect(dead).toHaveLength(1);
    expect(parseJob(dead[0]?.body ?? '')).toEqual(job(8));
    expect(dead[0]?.messageAttributes['failure-reason']).toBeUndefined(); // moved by SQS, not by us
  });

  it('dead-letters a permanent failure at once, with its reason, and reports the record done', async () => {
    // Prepare
    const { source, dlq } = await queuesWithDlq(5);
    await send(source, serialiseJob(job(3)));
    const records = await receiveRecords(moto.sqs, source);
    let calls = 0;

    // Act
    const response = await processSqsBatch(
      records,
      deps(source, dlq, {
        handleJob: async () => {
          calls++;
          throw new PermanentError('recording was deleted at the source');
        },
      }),
    );
    await deleteSucceeded(moto.sqs, source, records, response);

    // Assess
    expect(calls).toBe(1);
    expect(response.batchItemFailures).toEqual([]);
    expect(await counts(source)).toEqual({ visible: 0, inFlight: 0 });
    const dead = await receiveAtLeast(moto.sqs, dlq, 1);
    expect(dead).toHaveLength(1);
    expect(dead[0]?.body).toBe(records[0]?.body);
    expect(dead[0]?.messageAttributes['failure-code']?.stringValue).toBe('PERMANENT');
    expect(dead[0]?.messageAttributes['failure-reason']?.stringValue).toBe(
      'PERMANENT: recording was deleted at the source',
    );
    expect(dead[0]?.messageAttributes.attempts?.stringValue).toBe('1');
  });

  it('dead-letters a reason holding control characters, U+FFFE/U+FFFF and a lone surrogate as text SQS accepts', async () => {
    // Prepare: provider text as it can come back in an error (a binary page, a broken encoding), long
    // enough to be cut, with a four-byte character at the cut.
    const { source, dlq } = await queuesWithDlq(5);
    await send(source, serialiseJob(job(5)));
    const records = await receiveRecords(moto.sqs, source);
    const providerText = `bad\u0000page\u0007\u001b[0m \uFFFE\uFFFF \uD800 end ${'é'.repeat(900)}${'🎧'.repeat(100)}`;

    // Act
    const response = await processSqsBatch(
      records,
      deps(source, dlq, {
        handleJob: async () => {
          throw new PermanentError(providerText);
        },
      }),
    );
    await deleteSucceeded(moto.sqs, source, records, response);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    const [dead] = await receiveAtLeast(moto.sqs, dlq, 1);
    const reason = dead?.messageAttributes['failure-reason']?.stringValue ?? '';
    expect(reason).toMatch(SQS_MESSAGE_CHARACTERS);
    expect(
      reason.startsWith('PERMANENT: bad\\u0000page\\u0007\\u001B[0m \\uFFFE\\uFFFF \\uD800 end ééé'),
    ).toBe(true);
    expect([...reason]).toHaveLength(MAX_FAILURE_REASON_LENGTH);
    expect(reason.endsWith('🎧…')).toBe(true);
    for (const value of Object.values(dead?.messageAttributes ?? {})) {
      if (value.stringValue !== undefined) expect(value.stringValue).toMatch(SQS_MESSAGE_CHARACTERS);
    }
  });

  it('dead-letters a malformed body with the parse error as reason, without calling handleJob', async () => {
    // Prepare
    const { source, dlq } = await queuesWithDlq(5);
    await send(source, '{"v":1,"type":"recording"');
    await send(source, JSON.stringify({ v: 99, type: 'hint' }));
    const records = await receiveAtLeast(moto.sqs, source, 2);
    let calls = 0;

    // Act
    const response = await processSqsBatch(
      records,
      deps(source, dlq, {
        handleJob: async () => {
          calls++;
        },
      }),
    );

    // Assess
    expect(calls).toBe(0);
    expect(response.batchItemFailures).toEqual([]);
    const dead = await receiveAtLeast(moto.sqs, dlq, 2);
    const reasons = dead.map((record) => record.messageAttributes['failure-reason']?.stringValue).sort();
    expect(dead.map((record) => record.messageAttributes['failure-code']?.stringValue)).toEqual([
      'INVALID_INPUT',
      'INVALID_INPUT',
    ]);
    expect(reasons[0]).toMatch(/^INVALID_INPUT: job body is not JSON/);
    expect(reasons[1]).toMatch(/^INVALID_INPUT: job does not match schema v1/);
  });

  it('reports exactly the failing record of a partial batch; the other three are gone once deleted as Lambda would', async () => {
    // Prepare
    const { source, dlq } = await queuesWithDlq(5);
    for (let i = 0; i < 4; i++) await send(source, serialiseJob(job(i)));
    const records = await receiveAtLeast(moto.sqs, source, 4);
    expect(records).toHaveLength(4);
    const failing = records.find((record) => describeJob(parseJob(record.body)) === describeJob(job(2)));
    expect(failing).toBeDefined();

    // Act
    const response = await processSqsBatch(
      records,
      deps(source, dlq, {
        handleJob: async (received) => {
          if (received.type === 'recording' && received.recording.recordingId === 'rec-2')
            throw new TransientError('timeout');
        },
      }),
    );
    await deleteSucceeded(moto.sqs, source, records, response);

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: failing?.messageId }]);
    expect(await counts(source)).toEqual({ visible: 0, inFlight: 1 });
    await sleep(2300);
    const back = await receiveRecords(moto.sqs, source);
    expect(back.map((record) => record.messageId)).toEqual([failing?.messageId]);
  });

  it.each([
    ['AlreadyArchivedError', () => new AlreadyArchivedError('another worker completed it')],
    ['GoneAtSourceError', () => new GoneAtSourceError('the source no longer lists it')],
  ])('treats %s as done: neither retried nor dead-lettered', async (_name, error) => {
    // Prepare
    const { source, dlq } = await queuesWithDlq(5);
    await send(source, serialiseJob(job(1)));
    const records = await receiveRecords(moto.sqs, source);

    // Act
    const response = await processSqsBatch(
      records,
      deps(source, dlq, {
        handleJob: async () => {
          throw error();
        },
      }),
    );
    await deleteSucceeded(moto.sqs, source, records, response);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(await counts(source)).toEqual({ visible: 0, inFlight: 0 });
    expect(await counts(dlq)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('reports a record as failed, keeping it on its queue, when the dead-letter send fails', async () => {
    // Prepare: a DLQ URL that does not exist on the server.
    const { source } = await queuesWithDlq(5);
    await send(source, serialiseJob(job(4)));
    const records = await receiveRecords(moto.sqs, source);
    const missingDlq = {
      url: source.url.replace(/jobs-\d+$/, 'no-such-dlq'),
      arn: 'arn:aws:sqs:us-east-1:123456789012:no-such-dlq',
    };

    // Act
    const response = await processSqsBatch(
      records,
      deps(source, missingDlq, {
        handleJob: async () => {
          throw new PermanentError('gone');
        },
      }),
    );
    await deleteSucceeded(moto.sqs, source, records, response);

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[0]?.messageId }]);
    expect(await counts(source)).toEqual({ visible: 0, inFlight: 1 });
  });

  it('does not start records once the deadline has fired; they come back after about a second', async () => {
    // Prepare
    const { source, dlq } = await queuesWithDlq(5);
    for (let i = 0; i < 3; i++) await send(source, serialiseJob(job(i)));
    const records = await receiveAtLeast(moto.sqs, source, 3);
    const deadline = new AbortController();
    deadline.abort();
    let calls = 0;

    // Act
    const response = await processSqsBatch(
      records,
      deps(source, dlq, {
        deadline: deadline.signal,
        handleJob: async () => {
          calls++;
        },
      }),
    );

    // Assess
    expect(calls).toBe(0);
    expect(response.batchItemFailures.map((failure) => failure.itemIdentifier).sort()).toEqual(
      records.map((record) => record.messageId).sort(),
    );
    await sleep(1300);
    expect(await receiveAtLeast(moto.sqs, source, 3)).toHaveLength(3);
  });

  it('processes records concurrently, never more than the bound', async () => {
    // Prepare
    const { source, dlq } = await queuesWithDlq(5);
    for (let i = 0; i < 6; i++) await send(source, serialiseJob(job(i)));
    const records: SQSRecord[] = await receiveAtLeast(moto.sqs, source, 6);
    let running = 0;
    let peak = 0;

    // Act
    const response = await processSqsBatch(
      records,
      deps(source, dlq, {
        concurrency: 3,
        handleJob: async () => {
          running++;
          peak = Math.max(peak, running);
          await sleep(50);
          running--;
        },
      }),
    );

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(peak).toBe(3);
  });

  it('retries a granted (fetch-now) job within seconds even under a policy of minutes', async () => {
    // Prepare: the policy would wait 10 minutes; FETCH_NOW_RETRY_POLICY waits 2 s (random() = 1).
    const { source, dlq } = await queuesWithDlq(5);
    await send(source, serialiseJob(grantedJob(1)));
    const records = await receiveRecords(moto.sqs, source);
    const slow: RetryPolicy = { ...FAST_POLICY, transientBaseSeconds: 600, transientMaxSeconds: 600 };

    // Act
    const response = await processSqsBatch(
      records,
      deps(source, dlq, {
        retryPolicy: slow,
        handleJob: async () => {
          throw new TransientError('connection reset');
        },
      }),
    );

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[0]?.messageId }]);
    await sleep(2300);
    const again = await receiveRecords(moto.sqs, source);
    expect(again.map((record) => record.messageId)).toEqual([records[0]?.messageId]);
  });

  it('dead-letters EXPIRED_BEFORE_FETCH at once, tells the caller, and no attribute holds the token', async () => {
    // Prepare
    const { source, dlq } = await queuesWithDlq(5);
    await send(source, serialiseJob(grantedJob(2)));
    const records = await receiveRecords(moto.sqs, source);
    const reported: string[] = [];

    // Act
    const response = await processSqsBatch(
      records,
      deps(source, dlq, {
        onDeadLettered: (code) => void reported.push(code),
        handleJob: async () => {
          throw new ExpiredBeforeFetchError('expired-before-fetch: media.example.com answered 401');
        },
      }),
    );
    await deleteSucceeded(moto.sqs, source, records, response);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(reported).toEqual(['EXPIRED_BEFORE_FETCH']);
    const dead = await receiveAtLeast(moto.sqs, dlq, 1);
    expect(dead[0]?.messageAttributes['failure-code']?.stringValue).toBe('EXPIRED_BEFORE_FETCH');
    expect(dead[0]?.messageAttributes.attempts?.stringValue).toBe('1');
    for (const attribute of Object.values(dead[0]?.messageAttributes ?? {})) {
      expect(attribute.stringValue ?? '').not.toContain(GRANT_TOKEN);
    }
  });
});
