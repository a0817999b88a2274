/**
 * Property-based fuzzing of the webhook handler on the production adapters (SQS on moto): whatever
 * arrives, bad input gets a 4xx (never a 5xx, never an exception) and enqueues nothing; a valid event
 * with the right token gets 200 and exactly one job. About 260 cases in all.
 */
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJob } from '../../functions/core/jobs';
import { motoAvailable } from '../support/moto';
import {
  type Pipeline,
  type PipelineHarness,
  SOURCE_ID,
  startPipelineHarness,
  WEBHOOK_SECRET,
} from '../support/pipeline-harness';

const SEED = 424_242;
const MAX_BODY = 256 * 1024;
/** What SQS accepts in a message body (SendMessage docs): anything else is InvalidMessageContents. */
const SQS_MESSAGE_CHARACTERS = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

// ------------------------------------------------------------------ tokens

const percentEncodeEveryByte = (text: string) =>
  [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');

/** Query strings that carry the right secret, however it is spelt on the wire. */
const rightTokenQuery = fc.constantFrom(
  `token=${WEBHOOK_SECRET}`,
  `token=${percentEncodeEveryByte(WEBHOOK_SECRET)}`,
  `token=${percentEncodeEveryByte(WEBHOOK_SECRET).toUpperCase()}`,
  `a=1&token=${WEBHOOK_SECRET}&b=2`,
  `token=${WEBHOOK_SECRET}&token=not-the-secret`,
);

/** Query strings that do not: missing, empty, near misses, other lengths, wrong encodings, wrong places. */
const wrongTokenQuery = fc.oneof(
  fc.constantFrom(
    '',
    'token=',
    'token',
    `Token=${WEBHOOK_SECRET}`,
    `TOKEN=${WEBHOOK_SECRET}`,
    `tok en=${WEBHOOK_SECRET}`,
    `token=${WEBHOOK_SECRET.toUpperCase()}`,
    `token=${encodeURIComponent(percentEncodeEveryByte(WEBHOOK_SECRET))}`,
    `token=%20${WEBHOOK_SECRET}`,
    `token=${WEBHOOK_SECRET}%00`,
    `token=${WEBHOOK_SECRET}+`,
    `token=not-the-secret&token=${WEBHOOK_SECRET}`,
    `secret=${WEBHOOK_SECRET}`,
  ),
  fc
    .integer({ min: 0, max: WEBHOOK_SECRET.length - 1 })
    .map((length) => `token=${WEBHOOK_SECRET.slice(0, length)}`),
  fc
    .string({ minLength: 1, maxLength: 8 })
    .map((extra) => `token=${WEBHOOK_SECRET}${encodeURIComponent(extra)}`),
  fc
    .tuple(fc.integer({ min: 0, max: WEBHOOK_SECRET.length - 1 }), fc.constantFrom('0', 'x', 'Z', '-', '%25'))
    .filter(([index, char]) => WEBHOOK_SECRET[index] !== char)
    .map(
      ([index, char]) => `token=${WEBHOOK_SECRET.slice(0, index)}${char}${WEBHOOK_SECRET.slice(index + 1)}`,
    ),
  fc
    .string({ maxLength: 80 })
    .filter((token) => token !== WEBHOOK_SECRET)
    .map((token) => `token=${encodeURIComponent(token)}`),
);

// ------------------------------------------------------------------ bodies

const CONTENT_TYPES = [
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=windows-1251',
  'application/json',
  'application/json; charset=utf-16',
  'text/plain',
  'text/html',
  'multipart/form-data; boundary=----x',
  'application/octet-stream',
  '',
];
const contentType = fc.oneof(fc.constantFrom(...CONTENT_TYPES), fc.string({ maxLength: 40 }));
/** Header maps: the content type under some spelling, plus random others. */
const headers = fc
  .tuple(
    contentType,
    fc.constantFrom('content-type', 'Content-Type', 'CONTENT-TYPE'),
    fc.dictionary(
      fc.string({ minLength: 1, maxLength: 12 }).filter((name) => !/^content-type$/i.test(name)),
      fc.string({ maxLength: 30 }),
      { maxKeys: 3 },
    ),
  )
  .map(([type, name, others]) => ({ ...others, [name]: type }));

/** Microseconds since the epoch, as Telphin sends EventTime, for an instant in the last day. */
const eventTimeMicros = fc
  .integer({ min: 0, max: 86_400 })
  .map((secondsAgo) => String(BigInt(Date.now() - secondsAgo * 1000) * 1000n));

const garbageFieldName = fc.oneof(
  fc.string({ minLength: 1, maxLength: 20 }),
  fc.constantFrom(
    'CallID',
    'RecID',
    'Duration',
    'CallerExtensionID',
    'token',
    '__proto__',
    'constructor',
    'eventtime ',
  ),
);
const garbageValue = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  // Characters JSON leaves as they are but SQS refuses in a message body.
  fc.constantFrom('\uffff', 'a\ufffeb', '\u0001\u001f', '\ud800'),
  fc.nat(120_000).map((length) => 'x'.repeat(length)),
);
const garbageFields = fc.dictionary(
  garbageFieldName.filter((name) => !/^event(type|time)$/i.test(name)),
  garbageValue,
  { maxKeys: 6 },
);

/** A hangup event with extra fields: what the handler must accept. */
const validEvent = fc
  .record({
    time: eventTimeMicros,
    extra: garbageFields,
    // A field that is copied into the job, with whatever characters it holds.
    hinted: fc.dictionary(fc.constantFrom('CallID', 'RecID', 'CalledExtension', 'CallStatus'), garbageValue, {
      maxKeys: 2,
    }),
    typeSpelling: fc.constantFrom('hangup', 'HANGUP', ' hangup '),
    json: fc.boolean(),
  })
  .filter(({ extra, hinted }) => JSON.stringify({ ...extra, ...hinted }).length < MAX_BODY / 2)
  .map(({ time, extra, hinted, typeSpelling, json }) => {
    const fields = { ...extra, ...hinted, EventType: typeSpelling, EventTime: time };
    return json
      ? { body: Buffer.from(JSON.stringify(fields)), headers: { 'content-type': 'application/json' }, time }
      : {
          body: Buffer.from(new URLSearchParams(fields).toString()),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          time,
        };
  });

/** Bodies that cannot be a valid event, by construction. */
const badBody: fc.Arbitrary<Buffer> = fc.oneof(
  // Random bytes, including invalid UTF-8 (never both field names).
  fc
    .uint8Array({ maxLength: 2000 })
    .map((bytes) => Buffer.from(bytes))
    .filter((bytes) => !/eventtype/i.test(bytes.toString('latin1'))),
  // Form bodies missing EventType or EventTime, or with an EventTime that is not microseconds since 1970.
  fc
    .record({
      extra: garbageFields,
      type: fc.option(fc.constantFrom('hangup', 'dial-in', ''), { nil: undefined }),
      time: fc.option(
        fc.oneof(
          fc.constantFrom(
            '',
            'yesterday',
            '-1',
            '1.5e15',
            '0x1F',
            '１２３４５６７８９０',
            '99999999999999999999',
          ),
          fc.integer({ min: 1_000_000_000, max: 1_999_999_999 }).map(String), // seconds
          fc.integer({ min: 0, max: 978_307_199 }).map((seconds) => `${seconds}000000`), // before 2001
        ),
        { nil: undefined },
      ),
    })
    .filter(({ type, time }) => !type || time === undefined || !/^\d{16}$/.test(time))
    .map(({ extra, type, time }) => {
      const fields: Record<string, string> = { ...extra };
      if (type !== undefined) fields.EventType = type;
      if (time !== undefined) fields.EventTime = time;
      return Buffer.from(new URLSearchParams(fields).toString());
    }),
  // JSON that is not an object, or an object whose fields are missing, nested or null.
  fc
    .oneof(
      fc.constantFrom(
        'null',
        '[]',
        '"hangup"',
        '42',
        'true',
        '{',
        '{"EventType":',
        '[{"EventType":"hangup"}]',
      ),
      fc.json({ maxDepth: 3 }).filter((text) => !/eventtype/i.test(text)),
      eventTimeMicros.map((time) => JSON.stringify({ EventType: { value: 'hangup' }, EventTime: time })),
      eventTimeMicros.map((time) => JSON.stringify({ EventType: null, EventTime: time })),
      fc.constant(JSON.stringify({ EventType: 'hangup', EventTime: [] })),
    )
    .map((text) => Buffer.from(text)),
  // A valid event in the wrong encoding: UTF-16 (NULs between the letters) or base64 twice over.
  eventTimeMicros.map((time) => Buffer.from(`EventType=hangup&EventTime=${time}`, 'utf16le')),
  eventTimeMicros.map((time) =>
    Buffer.from(Buffer.from(`EventType=hangup&EventTime=${time}`).toString('base64')),
  ),
  // Invalid UTF-8 inside the field names.
  eventTimeMicros.map((time) =>
    Buffer.concat([
      Buffer.from('Event'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(`Type=hangup&EventTime=${time}`),
    ]),
  ),
  // Over the size limit.
  fc.integer({ min: MAX_BODY + 1, max: MAX_BODY + 4096 }).map((length) => Buffer.alloc(length, 'a')),
);

describe.skipIf(!motoAvailable())('webhook fuzzing', () => {
  let harness: PipelineHarness;
  let pipeline: Pipeline;

  beforeAll(async () => {
    harness = await startPipelineHarness();
    pipeline = await harness.pipeline();
  });

  afterAll(async () => {
    await harness?.stop();
  });

  async function receiveAll() {
    const { Messages } = await pipeline.moto.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: pipeline.queue.url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
      }),
    );
    for (const message of Messages ?? []) {
      await pipeline.moto.sqs.send(
        new DeleteMessageCommand({ QueueUrl: pipeline.queue.url, ReceiptHandle: message.ReceiptHandle }),
      );
    }
    return Messages ?? [];
  }

  const expectRefused = async (status: number) => {
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(500);
    expect(await pipeline.depth()).toBe(0);
  };

  it('refuses every delivery without the right token with 401/403 (413 when oversized), enqueuing nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        wrongTokenQuery,
        fc.oneof(
          validEvent.map((event) => event.body),
          badBody,
        ),
        headers,
        async (query, body, requestHeaders) => {
          const response = await pipeline.post(query, body, requestHeaders);
          if (body.length > MAX_BODY) expect(response.statusCode).toBe(413);
          else expect([401, 403]).toContain(response.statusCode);
          await expectRefused(response.statusCode ?? 0);
        },
      ),
      { seed: SEED, numRuns: 90 },
    );
  });

  it('refuses every malformed body that carries the right token with a 4xx, enqueuing nothing', async () => {
    await fc.assert(
      fc.asyncProperty(rightTokenQuery, badBody, headers, async (query, body, requestHeaders) => {
        const response = await pipeline.post(query, body, requestHeaders);
        await expectRefused(response.statusCode ?? 0);
      }),
      { seed: SEED, numRuns: 110 },
    );
  });

  it('accepts every valid event with the right token, however noisy, with 200 and exactly one job', async () => {
    await fc.assert(
      fc.asyncProperty(rightTokenQuery, validEvent, async (query, event) => {
        const response = await pipeline.post(query, event.body, event.headers);

        expect(response.statusCode).toBe(200);
        const messages = await receiveAll();
        expect(messages).toHaveLength(1);
        // moto does not check it, AWS does: a body outside SQS's character set is refused there.
        expect(messages[0]?.Body).toMatch(SQS_MESSAGE_CHARACTERS);
        const job = parseJob(messages[0]?.Body ?? '');
        expect(job).toMatchObject({
          type: 'hint',
          provider: 'telphin',
          sourceId: SOURCE_ID,
          eventTime: new Date(Number(BigInt(event.time) / 1000n)).toISOString(),
        });
        expect(await pipeline.depth()).toBe(0);
      }),
      { seed: SEED, numRuns: 60 },
    );
  });
});
