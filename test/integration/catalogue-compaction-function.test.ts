/**
 * The catalogue compaction function (functions/catalogue-compaction.ts) against moto: it compacts every
 * closed day of the bucket's catalogue and leaves open days alone, a second run changes nothing, and a
 * run finding the lease held does nothing.
 */
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { S3CatalogueStorage } from '../../functions/adapters/catalogue-storage';
import { S3RunLeases } from '../../functions/adapters/s3-run-leases';
import { createCatalogueCompactionHandler } from '../../functions/catalogue-compaction';
import { createCatalogueCompactionRuntime } from '../../functions/composition/catalogue-compaction-runtime';
import { catalogueRecordFromGone } from '../../functions/core/catalogue';
import { COMPACTED_NAME, catalogueLines } from '../../functions/core/catalogue-compaction';
import type { Clock } from '../../functions/core/ports';
import { type MotoServer, motoAvailable, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../support/moto';

const BUCKET = 'compaction-function-test';
const NOW = new Date('2026-03-20T03:00:00Z');
const clock: Clock = { now: () => new Date(NOW) };

describe.skipIf(!motoAvailable())('the catalogue compaction function (moto)', () => {
  let moto: MotoServer;
  let s3: S3Client;

  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    s3?.destroy();
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
  });

  async function seed(day: string, count: number): Promise<void> {
    const storage = new S3CatalogueStorage({ client: s3, bucket: BUCKET });
    for (let index = 0; index < count; index += 1) {
      const recordingId = `${day}-${index}`;
      await storage.record(
        catalogueRecordFromGone({
          v: 1,
          provider: 'telphin',
          sourceId: 'hq',
          recordingId,
          startedAt: `${day}T10:00:0${index}Z`,
          objectKey: `recordings/telphin/hq/${day.replaceAll('-', '/')}/${recordingId}.mp3`,
          detectedAt: `${day}T12:00:00Z`,
          reason: 'not found',
          listed: {
            provider: 'telphin',
            sourceId: 'hq',
            recordingId,
            startedAt: `${day}T10:00:0${index}Z`,
            direction: 'inbound',
            fileExtension: 'mp3',
            raw: {},
          },
        }),
      );
    }
  }

  async function keys(): Promise<string[]> {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'catalog/' }));
    return (listed.Contents ?? []).map((object) => object.Key as string).sort();
  }

  it('compacts the closed days, leaves the open ones, and changes nothing when run again', async () => {
    await seed('2026-03-10', 3);
    await seed('2026-03-17', 2);
    await seed('2026-03-19', 2); // open: the sweep still looks 48 h back
    const handler = createCatalogueCompactionHandler(() =>
      createCatalogueCompactionRuntime(BUCKET, { s3, clock }),
    );

    const first = await handler({}, { getRemainingTimeInMillis: () => 120_000 });
    expect(first).toMatchObject({ beforeDay: '2026-03-18', compacted: 2, recordsRemoved: 5, left: 0 });
    const after = await keys();
    const prefix = 'catalog/recordings/provider=telphin/source=hq/date=';
    expect(after).toEqual(
      [
        `${prefix}2026-03-10/${COMPACTED_NAME}`,
        `${prefix}2026-03-17/${COMPACTED_NAME}`,
        ...['0', '1'].map((index) => `${prefix}2026-03-19/2026-03-19-${index}.gone-at-source.json`),
      ].sort(),
    );
    const storage = new S3CatalogueStorage({ client: s3, bucket: BUCKET });
    const compactedKey = `${prefix}2026-03-10/${COMPACTED_NAME}`;
    expect(catalogueLines(compactedKey, (await storage.read(compactedKey)) as Buffer)).toHaveLength(3);

    const second = await handler({}, { getRemainingTimeInMillis: () => 120_000 });
    expect(second).toMatchObject({ compacted: 0, recordsRemoved: 0 });
    expect(await keys()).toEqual(after);
    // The lease was given back: nothing of the run is left under state/ but the lease object itself.
    expect(
      await new S3RunLeases({ client: s3, bucket: BUCKET }).acquire(
        'catalogue-compaction',
        'x',
        1000,
        NOW.getTime(),
      ),
    ).toBe(true);
  });

  it('does nothing while another run holds the lease', async () => {
    await seed('2026-03-10', 2);
    const before = await keys();
    await new S3RunLeases({ client: s3, bucket: BUCKET }).acquire(
      'catalogue-compaction',
      'other-run',
      600_000,
      NOW.getTime(),
    );
    const handler = createCatalogueCompactionHandler(() =>
      createCatalogueCompactionRuntime(BUCKET, { s3, clock }),
    );
    const result = await handler({}, { getRemainingTimeInMillis: () => 120_000 });
    expect(result).toMatchObject({ skipped: expect.stringContaining('lease') });
    expect(await keys()).toEqual(before);
  });
});
