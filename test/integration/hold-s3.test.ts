/**
 * Legal hold on moto, with and without Object Lock on the bucket: recordings archived from the Telphin
 * sandbox are held by `applyHold` through the S3 adapter (Object Lock legal hold where the bucket has it,
 * callvault's hold record everywhere, both objects retagged out of their lifecycle class), retention then
 * refuses to delete a held recording at the source while it deletes the others, and release undoes it all.
 */
import {
  CreateBucketCommand,
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  GetObjectTaggingCommand,
  PutObjectTaggingCommand,
} from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { S3ArchiveStore } from '../../functions/adapters/s3-archive-store';
import { S3AuditLog } from '../../functions/adapters/s3-audit-log';
import { S3HoldAuditLog, S3HoldStore } from '../../functions/adapters/s3-legal-hold';
import { retentionSettingsSchema } from '../../functions/config';
import { applyRetentionToSource, auditKey } from '../../functions/core/apply-retention-to-source';
import { archiveRecording } from '../../functions/core/archive-recording';
import { recordingKey, sidecarKey } from '../../functions/core/keys';
import {
  applyHold,
  HELD_RETENTION_CLASS,
  type HoldAuditEntry,
  type HoldTarget,
  holdRecordKey,
} from '../../functions/core/legal-hold';
import { type AuditEntry, silentLog, systemClock } from '../../functions/core/ports';
import type { SourceRecording } from '../../functions/core/recording';
import { telphinSourceSchema } from '../../functions/providers/telphin/telphin-config';
import { TelphinSource } from '../../functions/providers/telphin/telphin-source';
import { startTelphinSandbox, type TelphinSandbox } from '../../sandbox/providers/telphin-sandbox';
import { type MotoServer, motoAvailable, startMoto } from '../support/moto';

const BUCKET = 'callvault-hold';
const DAY = 86_400_000;

describe.skipIf(!motoAvailable())('legal hold on moto', () => {
  let moto: MotoServer;
  let sandbox: TelphinSandbox;
  let source: TelphinSource;
  let store: S3ArchiveStore;

  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });
  afterEach(async () => {
    await sandbox?.close();
  });

  async function setUp(objectLock: boolean) {
    await moto.reset();
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET, ObjectLockEnabledForBucket: objectLock }));
    sandbox = await startTelphinSandbox();
    source = new TelphinSource({
      config: telphinSourceSchema.parse({
        provider: 'telphin',
        id: 'hq',
        apiUrl: sandbox.url,
        allowedDownloadHosts: [new URL(sandbox.url).hostname, new URL(sandbox.storageOrigin).hostname],
      }),
      credentials: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret },
    });
    store = new S3ArchiveStore({
      client: moto.s3,
      bucket: BUCKET,
      partSizeBytes: 5 * 1024 * 1024,
      partsInFlight: 2,
    });
    sandbox.generateRecordings({
      count: 3,
      from: new Date(Date.now() - 60 * DAY),
      to: new Date(Date.now() - 59 * DAY),
      size: 30_000,
    });
    const recordings: SourceRecording[] = [];
    for await (const recording of source.listRecordings({
      from: new Date(Date.now() - 90 * DAY),
      to: new Date(),
    }))
      recordings.push(recording);
    for (const recording of recordings)
      await archiveRecording(recording, { source, store, clock: systemClock, log: silentLog });
    return recordings;
  }

  const target = (recording: SourceRecording): HoldTarget => ({
    objectKey: recordingKey(recording),
    sidecarKey: sidecarKey(recordingKey(recording)),
    provider: recording.provider,
    sourceId: recording.sourceId,
    recordingId: recording.recordingId,
    startedAt: recording.startedAt.toISOString(),
  });

  async function tagsOf(key: string): Promise<Record<string, string>> {
    const answer = await moto.s3.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: key }));
    return Object.fromEntries((answer.TagSet ?? []).map((tag) => [tag.Key, tag.Value]));
  }

  async function retention() {
    const runId = `hold-${Math.random().toString(16).slice(2, 8)}`;
    let startedAt: Date | undefined;
    const audit = new S3AuditLog({ client: moto.s3, bucket: BUCKET });
    const report = await applyRetentionToSource(
      source,
      retentionSettingsSchema.parse({ deleteFromSourceAfterDays: 30, dryRun: false, gracePeriodHours: 0 }),
      {
        store,
        queue: { enqueue: async () => {} },
        audit: {
          open: (id, at) => {
            startedAt = at;
            return audit.open(id, at);
          },
        },
        killSwitch: { engaged: async () => false },
        clock: systemClock,
        log: silentLog,
        holds: new S3HoldStore({ client: moto.s3, bucket: BUCKET }),
      },
      { runId },
    );
    const object = await moto.s3.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: auditKey(runId, startedAt ?? new Date()) }),
    );
    const entries = ((await object.Body?.transformToString()) ?? '')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as AuditEntry);
    return { report, entries };
  }

  for (const objectLock of [true, false]) {
    it(`holds, protects from retention and releases ${objectLock ? 'with' : 'without'} Object Lock`, async () => {
      const [held, other, alsoHeld] = await setUp(objectLock);
      const holds = new S3HoldStore({ client: moto.s3, bucket: BUCKET });
      const holdAudit = new S3HoldAuditLog({ client: moto.s3, bucket: BUCKET });
      expect(await holds.protection()).toBe(objectLock ? 'object-lock-legal-hold' : 'callvault-hold-record');

      const dry = await applyHold(
        { targets: [target(held!)], release: false, dryRun: true, actor: 'alice', query: { number: '+1' } },
        { store: holds, audit: holdAudit, clock: systemClock },
      );
      expect(dry.counts).toEqual({ 'would-hold': 1 });
      expect(await holds.isHeld(target(held!).objectKey)).toBe(false);

      const report = await applyHold(
        {
          targets: [target(held!), target(alsoHeld!)],
          release: false,
          dryRun: false,
          actor: 'alice',
          reason: 'case 42',
          query: { from: '2026-01-01' },
        },
        { store: holds, audit: holdAudit, clock: systemClock },
      );
      expect(report.counts).toEqual({ held: 2 });
      for (const key of [target(held!).objectKey, target(held!).sidecarKey]) {
        const tags = await tagsOf(key);
        expect(tags['retention-class']).toBe(HELD_RETENTION_CLASS);
        expect(tags['held-from-class']).toBe('standard');
        expect(tags['legal-hold']).toBe('true');
        if (objectLock) {
          const legal = await moto.s3.send(new GetObjectLegalHoldCommand({ Bucket: BUCKET, Key: key }));
          expect(legal.LegalHold?.Status).toBe('ON');
        }
      }
      // The sha256 tag survives the retag: retention still verifies the other copies.
      expect((await tagsOf(target(held!).objectKey)).sha256).toMatch(/^[0-9a-f]{64}$/);
      const record = await moto.s3.send(
        new GetObjectCommand({ Bucket: BUCKET, Key: holdRecordKey(target(held!).objectKey) }),
      );
      expect(JSON.parse((await record.Body?.transformToString()) ?? '{}')).toMatchObject({
        heldBy: 'alice',
        reason: 'case 42',
        query: { from: '2026-01-01' },
      });
      const entries: HoldAuditEntry[] = [];
      for await (const entry of holdAudit.entries()) entries.push(entry);
      expect(entries[0]).toMatchObject({ type: 'action', action: 'hold', actor: 'alice', phase: 'finished' });
      expect(entries.filter((entry) => entry.type === 'recording').map((entry) => entry.outcome)).toEqual([
        'held',
        'held',
      ]);

      // The hold record alone stops retention too, even if someone strips the tag.
      if (!objectLock) {
        const tags = await tagsOf(target(alsoHeld!).objectKey);
        delete tags['legal-hold'];
        await moto.s3.send(
          new PutObjectTaggingCommand({
            Bucket: BUCKET,
            Key: target(alsoHeld!).objectKey,
            Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
          }),
        );
      }

      const first = await retention();
      const decisions = (recording: SourceRecording) =>
        first.entries
          .filter((entry) => entry.recordingId === recording.recordingId)
          .map((entry) => `${entry.decision}${entry.reason ? `:${entry.reason}` : ''}`);
      expect(decisions(held!)).toEqual(['skipped:legal-hold']);
      expect(decisions(alsoHeld!)).toEqual(['skipped:legal-hold']);
      expect(decisions(other!)).toEqual(['deleting', 'deleted']);
      expect(sandbox.deletedIds().includes(held!.recordingId)).toBe(false);
      expect(sandbox.deletedIds().includes(alsoHeld!.recordingId)).toBe(false);

      const released = await applyHold(
        { targets: [target(held!)], release: true, dryRun: false, actor: 'bob', query: {} },
        { store: holds, audit: holdAudit, clock: systemClock },
      );
      expect(released.counts).toEqual({ released: 1 });
      const tags = await tagsOf(target(held!).objectKey);
      expect(tags['retention-class']).toBe('standard');
      expect(tags['legal-hold']).toBeUndefined();
      expect(tags['held-from-class']).toBeUndefined();
      if (objectLock) {
        const legal = await moto.s3.send(
          new GetObjectLegalHoldCommand({ Bucket: BUCKET, Key: target(held!).objectKey }),
        );
        expect(legal.LegalHold?.Status).toBe('OFF');
      }
      const second = await retention();
      expect(
        second.entries
          .filter((entry) => entry.recordingId === held!.recordingId)
          .map((entry) => entry.decision),
      ).toEqual(['deleting', 'deleted']);
      expect(sandbox.deletedIds().includes(held!.recordingId)).toBe(true);
      expect(sandbox.deletedIds().includes(alsoHeld!.recordingId)).toBe(false);
    });
  }
});
