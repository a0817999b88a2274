/**
 * The console's --aws backend against moto: the stack found by its CloudFormation outputs, the find
 * question through Athena (moto answers with seeded rows; it runs no SQL), each copy played from a
 * presigned GET of at most an hour that serves byte ranges, and the sidecar read from the bucket.
 */
import { AthenaClient, CreateWorkGroupCommand } from '@aws-sdk/client-athena';
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config';
import { FIND_COLUMNS } from '../../functions/core/catalogue-query';
import { openAwsConsoleBackend } from '../../functions/ops/console-aws';
import { type MotoServer, motoAvailable, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../support/moto';

const BUCKET = 'console-aws';
const KEY = 'recordings/telphin/hq/2026/03/03/r1.mp3';

describe.skipIf(!motoAvailable())('the console over a deployed stack (moto)', () => {
  let moto: MotoServer;
  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it('finds through Athena, presigns each copy for at most an hour, and reads the sidecar', async () => {
    const clients = { endpoint: moto.endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS };
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await moto.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: Buffer.alloc(1000, 7) }));
    await moto.s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: `${KEY}.json`,
        Body: JSON.stringify({ recordingId: 'r1' }),
      }),
    );
    await new CloudFormationClient(clients).send(
      new CreateStackCommand({
        StackName: 'Callvault',
        TemplateBody: JSON.stringify({
          Resources: { Queue: { Type: 'AWS::SQS::Queue' } },
          Outputs: {
            BucketName: { Value: BUCKET },
            CatalogDatabase: { Value: 'callvault_callvault' },
            CatalogWorkgroup: { Value: 'callvault-Callvault' },
          },
        }),
      }),
    );
    await new AthenaClient(clients).send(
      new CreateWorkGroupCommand({
        Name: 'callvault-Callvault',
        Configuration: { ResultConfiguration: { OutputLocation: 's3://results/athena/' } },
      }),
    );
    const row = (values: (string | null)[]) => ({
      Data: values.map((value) => (value === null ? {} : { VarCharValue: value })),
    });
    const values: Record<string, string | null> = {
      status: 'archived',
      provider: 'telphin',
      source: 'hq',
      recording_id: 'r1',
      object_key: KEY,
      sidecar_key: `${KEY}.json`,
      content_type: 'audio/mpeg',
    };
    const seeded = await fetch(`${moto.endpoint}/moto-api/static/athena/query-results`, {
      method: 'POST',
      body: JSON.stringify({
        account_id: '123456789012',
        region: TEST_REGION,
        results: [
          {
            rows: [row([...FIND_COLUMNS]), row(FIND_COLUMNS.map((column) => values[column] ?? null))],
            column_info: FIND_COLUMNS.map((name) => ({ Name: name, Type: 'varchar', Label: name })),
          },
        ],
      }),
    });
    expect(seeded.ok).toBe(true);

    const config = parseConfig({
      sources: [{ provider: 'telphin', id: 'hq', clientId: 'x', clientSecret: 'y' }],
    });
    const backend = await openAwsConsoleBackend({
      config,
      stackName: 'Callvault',
      log: () => {},
      clients: { ...clients, forcePathStyle: true },
    });
    expect(backend.where).toBe(`stack Callvault, bucket ${BUCKET} (Athena)`);
    expect(backend.mediaOrigins).toEqual([new URL(moto.endpoint).origin]);

    const hits = await backend.find({ number: '+16505550101' }, 10);
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ recording_id: 'r1', object_key: KEY, held: false });
    const play = new URL(hits[0]?.play ?? '');
    expect(Number(play.searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(3600);
    const ranged = await fetch(play, { headers: { range: 'bytes=100-199' } });
    expect(ranged.status).toBe(206);
    expect((await ranged.arrayBuffer()).byteLength).toBe(100);
    expect(await backend.sidecar(`${KEY}.json`)).toEqual({ recordingId: 'r1' });
    expect(await backend.sidecar('recordings/none.mp3.json')).toBeUndefined();
  }, 120_000);
});
