/**
 * Export on moto: recordings archived into a bucket with Object Lock (one of them then put on legal hold)
 * are produced into another bucket's prefix, streamed through the S3 target, re-read and hashed, with
 * the Object Lock legal hold state in the index; a rerun skips what it verified.
 */
import { createHash } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { S3CatalogueStorage } from '../../functions/adapters/catalogue-storage';
import { S3ArchiveStore } from '../../functions/adapters/s3-archive-store';
import { S3HoldAuditLog, S3HoldStore } from '../../functions/adapters/s3-legal-hold';
import { archiveRecording } from '../../functions/core/archive-recording';
import { catalogueRecordFromSidecar } from '../../functions/core/catalogue';
import { FIND_COLUMNS, type FindRow } from '../../functions/core/catalogue-query';
import { recordingKey } from '../../functions/core/keys';
import { applyHold, holdTargetsFromRows } from '../../functions/core/legal-hold';
import { silentLog, systemClock } from '../../functions/core/ports';
import type { SourceRecording } from '../../functions/core/recording';
import { type ManifestFile, runExport } from '../../functions/ops/export';
import { S3ExportTarget } from '../../functions/ops/export-targets';
import { telphinSourceSchema } from '../../functions/providers/telphin/telphin-config';
import { TelphinSource } from '../../functions/providers/telphin/telphin-source';
import { startTelphinSandbox, type TelphinSandbox } from '../../sandbox/providers/telphin-sandbox';
import { type MotoServer, motoAvailable, startMoto } from '../support/moto';

const ARCHIVE = 'callvault-archive';
const PRODUCTION = 'production-bucket';
const DAY = 86_400_000;

describe.skipIf(!motoAvailable())('export on moto', () => {
  let moto: MotoServer;
  let sandbox: TelphinSandbox;

  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });
  afterEach(async () => {
    await sandbox?.close();
  });

  it('exports from an Object Lock bucket into an S3 prefix, verified, with the legal hold state', async () => {
    await moto.reset();
    await moto.s3.send(new CreateBucketCommand({ Bucket: ARCHIVE, ObjectLockEnabledForBucket: true }));
    await moto.s3.send(new CreateBucketCommand({ Bucket: PRODUCTION }));
    sandbox = await startTelphinSandbox();
    const source = new TelphinSource({
      config: telphinSourceSchema.parse({
        provider: 'telphin',
        id: 'hq',
        apiUrl: sandbox.url,
        allowedDownloadHosts: [new URL(sandbox.url).hostname, new URL(sandbox.storageOrigin).hostname],
      }),
      credentials: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret },
    });
    // Above one part: the recordings are multipart uploads, streamed out again by the export.
    const store = new S3ArchiveStore({
      client: moto.s3,
      bucket: ARCHIVE,
      partSizeBytes: 5 * 1024 * 1024,
      partsInFlight: 2,
    });
    sandbox.generateRecordings({
      count: 2,
      from: new Date(Date.now() - 10 * DAY),
      to: new Date(Date.now() - 9 * DAY),
      size: 6 * 1024 * 1024,
    });
    const recordings: SourceRecording[] = [];
    for await (const recording of source.listRecordings({
      from: new Date(Date.now() - 30 * DAY),
      to: new Date(),
    }))
      recordings.push(recording);
    const rows: FindRow[] = [];
    for (const recording of recordings) {
      await archiveRecording(recording, { source, store, clock: systemClock, log: silentLog });
      const sidecar = await store.readSidecar(recordingKey(recording));
      if (!sidecar) throw new Error('no sidecar');
      const record = catalogueRecordFromSidecar(sidecar);
      rows.push(
        Object.fromEntries(
          FIND_COLUMNS.map((column) => {
            const value =
              column === 'source' ? record.source_id : (record as Record<string, unknown>)[column];
            return [column, value === null || value === undefined ? null : String(value)];
          }),
        ) as FindRow,
      );
    }
    const holds = new S3HoldStore({ client: moto.s3, bucket: ARCHIVE });
    const holdAudit = new S3HoldAuditLog({ client: moto.s3, bucket: ARCHIVE });
    await applyHold(
      {
        targets: holdTargetsFromRows(rows.slice(0, 1)).targets,
        release: false,
        dryRun: false,
        actor: 'arn:aws:iam::123456789012:user/counsel',
        query: {},
      },
      { store: holds, audit: holdAudit, clock: systemClock },
    );

    const catalogue = new S3CatalogueStorage({ client: moto.s3, bucket: ARCHIVE });
    const target = new S3ExportTarget({ client: moto.s3, bucket: PRODUCTION, prefix: 'case-12/' });
    const sources = { store, holds, holdAudit, readObject: (key: string) => catalogue.read(key) };
    const request = {
      rows,
      filters: { sourceId: 'hq' },
      actor: 'counsel',
      where: 'test',
      now: () => new Date(),
      progress: () => {},
    };
    const report = await runExport(request, sources, target);
    expect(report).toMatchObject({ recordings: 2, files: 4, copied: 4, skipped: 0, problems: [] });

    const text = async (key: string) =>
      (await (
        await moto.s3.send(new GetObjectCommand({ Bucket: PRODUCTION, Key: key }))
      ).Body?.transformToString()) ?? '';
    const manifest = JSON.parse(await text('case-12/manifest.json')) as { files: ManifestFile[] };
    for (const file of manifest.files) {
      const object = await moto.s3.send(
        new GetObjectCommand({ Bucket: PRODUCTION, Key: `case-12/${file.path}` }),
      );
      const bytes = Buffer.from((await object.Body?.transformToByteArray()) ?? []);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(file.sha256);
      expect(file.verified).toBe(true);
      if (file.kind === 'recording') {
        expect(file.size).toBe(6 * 1024 * 1024);
        expect(file.sha256).toBe(
          sandbox.expectedSha256(file.objectKey.split('/').at(-1)?.split('.')[0] ?? ''),
        );
      }
    }
    const index = (await text('case-12/index.csv')).trim().split('\n');
    expect(index.find((line) => line.startsWith(rows[0]?.recording_id ?? '?'))).toContain('legal hold ON');
    expect(index.find((line) => line.startsWith(rows[1]?.recording_id ?? '?'))).toContain('legal hold OFF');
    expect(await text('case-12/audit-trail.jsonl')).toContain('"event":"held"');

    const again = await runExport(request, sources, target);
    expect(again).toMatchObject({ copied: 0, skipped: 4, problems: [] });
  }, 120_000);
});
