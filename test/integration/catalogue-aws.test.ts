/**
 * The catalogue on S3 (moto): one conditional PUT per archived recording, compaction in the bucket, and
 * the Athena path's API shape (moto answers Athena with seeded results; it runs no SQL: the SQL's meaning
 * is tested against DuckDB in test/unit/catalogue/local-catalogue.test.ts).
 */
import { AthenaClient, CreateWorkGroupCommand } from '@aws-sdk/client-athena';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AthenaCatalogue } from '../../functions/adapters/athena-catalogue';
import { S3CatalogueStorage } from '../../functions/adapters/catalogue-storage';
import { S3ArchiveStore } from '../../functions/adapters/s3-archive-store';
import { telphinSourceSchema } from '../../functions/providers/telphin/telphin-config';
import { archiveRecording } from '../../functions/core/archive-recording';
import { catalogueRecordFromSidecar } from '../../functions/core/catalogue';
import { COMPACTED_NAME, catalogueLines, compactClosedDays } from '../../functions/core/catalogue-compaction';
import { FIND_COLUMNS, findQuery } from '../../functions/core/catalogue-query';
import { recordingKey } from '../../functions/core/keys';
import { silentLog, systemClock } from '../../functions/core/ports';
import type { SourceRecording } from '../../functions/core/recording';
import { TelphinSource } from '../../functions/providers/telphin/telphin-source';
import { startTelphinSandbox, type TelphinSandbox } from '../../functions/sandbox/telphin-sandbox';
import { type MotoServer, motoAvailable, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../support/moto';

const BUCKET = 'catalogue-test';

describe.skipIf(!motoAvailable())('the catalogue on S3 and Athena (moto)', () => {
  let moto: MotoServer;
  let sandbox: TelphinSandbox;
  let s3: S3Client;
  let puts: string[];

  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    s3?.destroy();
    await sandbox?.close();
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    s3 = new S3Client({
      endpoint: moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
      forcePathStyle: true,
    });
    puts = [];
    // Counts PUT-class requests per key, as S3 bills them.
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Key?: string };
        if (
          /^(PutObject|CompleteMultipartUpload|CreateMultipartUpload|UploadPart|PutObjectTagging)Command$/.test(
            context.commandName ?? '',
          )
        )
          puts.push(`${context.commandName} ${input.Key}`);
        return next(args);
      },
      { step: 'initialize', name: 'countPuts' },
    );
  });

  it('writes one catalogue PUT per archived recording, conditionally, and compacts a day in the bucket', async () => {
    sandbox = await startTelphinSandbox();
    sandbox.generateRecordings({
      count: 3,
      from: new Date('2026-03-03T08:00:00Z'),
      to: new Date('2026-03-03T20:00:00Z'),
      size: 20_000,
    });
    const source = new TelphinSource({
      config: telphinSourceSchema.parse({
        provider: 'telphin',
        id: 'hq',
        apiUrl: sandbox.url,
        allowedDownloadHosts: [new URL(sandbox.url).hostname, new URL(sandbox.storageOrigin).hostname],
      }),
      credentials: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret },
    });
    const listed: SourceRecording[] = [];
    for await (const recording of source.listRecordings({
      from: new Date('2026-03-03T00:00:00Z'),
      to: new Date('2026-03-04T00:00:00Z'),
    }))
      listed.push(recording);
    expect(listed).toHaveLength(3);
    const store = new S3ArchiveStore({
      client: s3,
      bucket: BUCKET,
      partSizeBytes: 5 * 1024 ** 2,
      partsInFlight: 2,
    });
    const catalogue = new S3CatalogueStorage({ client: s3, bucket: BUCKET });
    for (const recording of listed)
      await archiveRecording(recording, { source, store, catalogue, clock: systemClock, log: silentLog });

    const catalogPuts = puts.filter((put) => put.includes(' catalog/'));
    expect(catalogPuts).toHaveLength(3);
    // Sidecar schema 2 PUTs per single-part recording: the recording and its sidecar; the catalogue adds one.
    expect(puts).toHaveLength(3 * 3);

    // Written once: the same record again is left as it is.
    const sidecar = await store.readSidecar(recordingKey(listed[0] as SourceRecording));
    expect(await catalogue.record(catalogueRecordFromSidecar(sidecar!))).toBe('exists');

    const report = await compactClosedDays(catalogue, { beforeDay: '2026-03-04', log: silentLog });
    expect(report).toMatchObject({ compacted: 1, recordsRemoved: 3 });
    const listing = await s3.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'catalog/recordings/' }),
    );
    const keys = (listing.Contents ?? []).map((object) => object.Key);
    expect(keys).toEqual([`catalog/recordings/provider=telphin/source=hq/date=2026-03-03/${COMPACTED_NAME}`]);
    const compacted = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: keys[0] }));
    const lines = catalogueLines(
      keys[0] as string,
      Buffer.from(await compacted.Body!.transformToByteArray()),
    );
    expect(lines.map((line) => JSON.parse(line).recording_id).sort()).toEqual(
      listed.map((recording) => recording.recordingId).sort(),
    );
  });

  it('starts the query in the workgroup with the question as execution parameters, waits, and pages the results', async () => {
    const athena = new AthenaClient({
      endpoint: moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
    const sent: Record<string, unknown>[] = [];
    athena.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'StartQueryExecutionCommand')
          sent.push(args.input as Record<string, unknown>);
        return next(args);
      },
      { step: 'initialize', name: 'captureStart' },
    );
    await athena.send(
      new CreateWorkGroupCommand({
        Name: 'callvault-Test',
        Configuration: { ResultConfiguration: { OutputLocation: 's3://results/athena-results/' } },
      }),
    );
    const row = (values: (string | null)[]) => ({
      Data: values.map((value) => (value === null ? {} : { VarCharValue: value })),
    });
    const hit = FIND_COLUMNS.map((column) =>
      column === 'status'
        ? 'archived'
        : column === 'object_key'
          ? 'recordings/telphin/hq/2026/03/03/r1.mp3'
          : column === 'reason'
            ? null
            : `${column}-value`,
    );
    const seeded = await fetch(`${moto.endpoint}/moto-api/static/athena/query-results`, {
      method: 'POST',
      body: JSON.stringify({
        account_id: '123456789012',
        region: TEST_REGION,
        results: [
          {
            rows: [row([...FIND_COLUMNS]), row(hit)],
            column_info: FIND_COLUMNS.map((name) => ({
              Name: name,
              Type: 'varchar',
              CatalogName: 'hive',
              SchemaName: '',
              TableName: '',
              Label: name,
            })),
          },
        ],
      }),
    });
    expect(seeded.ok).toBe(true);

    const progress: string[] = [];
    const catalogue = new AthenaCatalogue({
      client: athena,
      workgroup: 'callvault-Test',
      database: 'callvault_test',
      pollIntervalMs: 10,
      onProgress: (update) => progress.push(update.state),
    });
    const filters = { from: '2026-03-03', to: '2026-03-17', number: '+16505550101' };
    const answer = await catalogue.find(filters);
    expect(answer.queryExecutionId).toBeTruthy();
    expect(progress.at(-1)).toBe('SUCCEEDED');
    expect(answer.rows).toHaveLength(1);
    expect(answer.rows[0]).toMatchObject({
      status: 'archived',
      object_key: 'recordings/telphin/hq/2026/03/03/r1.mp3',
      reason: null,
      sha256: 'sha256-value',
    });

    const expected = findQuery(filters, '"callvault_test"."recordings"');
    expect(sent).toEqual([
      {
        QueryString: expected.sql,
        WorkGroup: 'callvault-Test',
        QueryExecutionContext: { Database: 'callvault_test' },
        ExecutionParameters: ["'2026-03-03'", "'2026-03-17'", "'+16505550101'", "'16505550101'"],
      },
    ]);
    athena.destroy();
  });
});
