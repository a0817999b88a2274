/**
 * Retention against the Telphin sandbox and S3/SQS on moto: only recordings whose archived copy
 * verifies are deleted at the source, one at a time, and every decision is in the audit.
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
} from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { S3ArchiveStore } from '../../functions/adapters/s3-archive-store';
import { S3AuditLog } from '../../functions/adapters/s3-audit-log';
import { SqsJobQueue } from '../../functions/adapters/sqs-job-queue';
import { type RetentionSettings, retentionSettingsSchema } from '../../functions/config';
import { applyRetentionToSource, auditKey } from '../../functions/core/apply-retention-to-source';
import { archiveRecording } from '../../functions/core/archive-recording';
import { recordingKey, sidecarKey } from '../../functions/core/keys';
import {
  type AuditEntry,
  type AuditLog,
  type KillSwitch,
  silentLog,
  systemClock,
} from '../../functions/core/ports';
import type { SourceRecording } from '../../functions/core/recording';
import { telphinSourceSchema } from '../../functions/providers/telphin/telphin-config';
import { TelphinSource } from '../../functions/providers/telphin/telphin-source';
import { syntheticAudioChunks } from '../../sandbox/providers/synthetic-audio';
import {
  type SandboxRecording,
  startTelphinSandbox,
  type TelphinSandbox,
} from '../../sandbox/providers/telphin-sandbox';
import { archiveTheOldWay } from '../support/legacy-archive';
import { type MotoServer, motoAvailable, startMoto } from '../support/moto';
import { createQueue, type TestQueue } from '../support/sqs-records';

const BUCKET = 'callvault-retention';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * The starts of two consecutive UTC months such that the later one begins at least two hours before the
 * retention cutoff of a run started at `now`: a recording an hour into either month is due, and the
 * month chunks list the earlier one first.
 */
function consecutiveMonthsBeforeCutoff(now: Date, deleteAfterDays: number): { earlier: Date; later: Date } {
  const latest = new Date(now.getTime() - deleteAfterDays * DAY - 2 * HOUR);
  const later = new Date(Date.UTC(latest.getUTCFullYear(), latest.getUTCMonth(), 1));
  const earlier = new Date(Date.UTC(later.getUTCFullYear(), later.getUTCMonth() - 1, 1));
  return { earlier, later };
}

describe.skipIf(!motoAvailable())('retention on moto and the Telphin sandbox', () => {
  let moto: MotoServer;
  let sandbox: TelphinSandbox;
  let source: TelphinSource;
  let store: S3ArchiveStore;
  let queue: TestQueue;
  let jobs: SqsJobQueue;

  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  beforeEach(async () => {
    await moto.reset();
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    queue = await createQueue(moto.sqs, 'callvault-telphin');
    jobs = new SqsJobQueue({ client: moto.sqs, queueUrls: { telphin: queue.url } });
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
  });

  afterEach(async () => {
    await sandbox?.close();
  });

  /** Old calls at the source, `daysAgo` before now. */
  function oldRecordings(count: number, daysAgo = 60): SandboxRecording[] {
    return sandbox.generateRecordings({
      count,
      from: new Date(Date.now() - daysAgo * DAY),
      to: new Date(Date.now() - (daysAgo - 1) * DAY),
      size: 40_000,
    });
  }

  /** The recordings as the adapter lists them (the API is the truth). */
  async function listed(): Promise<Map<string, SourceRecording>> {
    const byId = new Map<string, SourceRecording>();
    for await (const recording of source.listRecordings({
      from: new Date(Date.now() - 500 * DAY),
      to: new Date(),
    })) {
      byId.set(recording.recordingId, recording);
    }
    return byId;
  }

  async function archive(recordings: readonly SandboxRecording[]): Promise<Map<string, SourceRecording>> {
    const all = await listed();
    for (const recording of recordings) {
      const parsed = all.get(recording.recordUuid);
      if (!parsed) throw new Error(`sandbox recording ${recording.recordUuid} not listed`);
      await archiveRecording(parsed, { source, store, clock: systemClock, log: silentLog });
    }
    return all;
  }

  const settings = (overrides: Partial<RetentionSettings> = {}): RetentionSettings =>
    retentionSettingsSchema.parse({
      deleteFromSourceAfterDays: 30,
      dryRun: false,
      gracePeriodHours: 0,
      ...overrides,
    });

  async function run(
    retention: RetentionSettings,
    options: { killSwitch?: KillSwitch; audit?: (inner: AuditLog) => AuditLog } = {},
  ) {
    const runId = `test-${Math.random().toString(16).slice(2, 8)}`;
    const inner = new S3AuditLog({ client: moto.s3, bucket: BUCKET });
    // The audit key carries the day the run started on: take it from the run, not from a clock read
    // beside it, which can fall on the other side of midnight.
    let startedAt: Date | undefined;
    const seenOpening: AuditLog = {
      open(openedRunId, runStartedAt) {
        startedAt = runStartedAt;
        return inner.open(openedRunId, runStartedAt);
      },
    };
    const report = await applyRetentionToSource(
      source,
      retention,
      {
        store,
        queue: jobs,
        audit: options.audit ? options.audit(seenOpening) : seenOpening,
        killSwitch: options.killSwitch ?? { engaged: async () => false },
        clock: systemClock,
        log: silentLog,
        random: () => 0,
      },
      { runId },
    );
    if (!startedAt) throw new Error('the run never opened its audit trail');
    return { report, audit: await readAudit(runId, startedAt) };
  }

  async function readAudit(runId: string, startedAt: Date): Promise<AuditEntry[]> {
    const object = await moto.s3.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: auditKey(runId, startedAt) }),
    );
    const text = (await object.Body?.transformToString()) ?? '';
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as AuditEntry);
  }

  const decisionsFor = (audit: AuditEntry[], recordingId: string) =>
    audit
      .filter((entry) => entry.recordingId === recordingId)
      .map((entry) => `${entry.decision}${entry.reason ? `:${entry.reason}` : ''}`);

  async function queued(): Promise<number> {
    const { Attributes } = await moto.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
  }

  const keyOf = (all: Map<string, SourceRecording>, recording: SandboxRecording) => {
    const parsed = all.get(recording.recordUuid);
    if (!parsed) throw new Error('not listed');
    return recordingKey(parsed);
  };

  it('deletes only recordings whose copy verifies, and audits why each other one was kept', async () => {
    const [wrongSize, noSidecar, shaMismatch, legalHold, neverArchived, good] = oldRecordings(6);
    const all = await archive([wrongSize!, noSidecar!, shaMismatch!, legalHold!, good!]);
    // Tamper with the copies the way corruption, a partial restore or a human would.
    const tampered = keyOf(all, wrongSize!);
    const original = await moto.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: tampered }));
    await moto.s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: tampered,
        Body: Buffer.from('ID3 truncated copy'),
        Metadata: original.Metadata,
      }),
    );
    await moto.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: sidecarKey(keyOf(all, noSidecar!)) }));
    const sidecarKeyOfMismatch = sidecarKey(keyOf(all, shaMismatch!));
    const sidecar = JSON.parse(
      (await (
        await moto.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: sidecarKeyOfMismatch }))
      ).Body?.transformToString()) ?? '{}',
    );
    await moto.s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: sidecarKeyOfMismatch,
        Body: JSON.stringify({ ...sidecar, sha256: 'f'.repeat(64) }),
      }),
    );
    const holdKey = keyOf(all, legalHold!);
    const tags =
      (await moto.s3.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: holdKey }))).TagSet ?? [];
    await moto.s3.send(
      new PutObjectTaggingCommand({
        Bucket: BUCKET,
        Key: holdKey,
        Tagging: { TagSet: [...tags, { Key: 'legal-hold', Value: 'true' }] },
      }),
    );

    const { report, audit } = await run(settings());

    expect(sandbox.deletedIds()).toEqual([good!.recordUuid]);
    expect(decisionsFor(audit, good!.recordUuid)).toEqual(['deleting', 'deleted']);
    expect(decisionsFor(audit, wrongSize!.recordUuid)).toEqual(['skipped:size-mismatch']);
    expect(decisionsFor(audit, noSidecar!.recordUuid)).toEqual(['skipped:no-sidecar']);
    expect(decisionsFor(audit, shaMismatch!.recordUuid)).toEqual(['skipped:sha256-mismatch']);
    expect(decisionsFor(audit, legalHold!.recordUuid)).toEqual(['skipped:legal-hold']);
    expect(decisionsFor(audit, neverArchived!.recordUuid)).toEqual(['skipped:not-archived']);
    expect(report).toMatchObject({ due: 6, deleted: 1, skipped: 5, dueButNotArchived: 2 });
    // The unarchived and the sidecar-less recordings are sent back to the worker.
    expect(await queued()).toBe(2);
    const deleted = audit.find((entry) => entry.decision === 'deleted');
    expect(deleted).toMatchObject({
      objectKey: keyOf(all, good!),
      size: 40_000,
      sha256: sandbox.expectedSha256(good!.recordUuid),
    });
  });

  it('never deletes a copy younger than the grace period', async () => {
    const recordings = oldRecordings(3);
    await archive(recordings);

    const { report, audit } = await run(settings({ gracePeriodHours: 24 }));

    expect(sandbox.deletedIds()).toEqual([]);
    expect(report.skipped).toBe(3);
    expect(audit.every((entry) => entry.decision === 'skipped' && entry.reason === 'too-young')).toBe(true);
  });

  it('deletes nothing in dry run but still writes the audit', async () => {
    const recordings = oldRecordings(3);
    await archive(recordings);

    const { report, audit } = await run(settings({ dryRun: true }));

    expect(sandbox.deletedIds()).toEqual([]);
    expect(sandbox.counters.deleteCalls).toBe(0);
    expect(report).toMatchObject({ wouldDelete: 3, deleted: 0, dryRun: true });
    expect(audit.map((entry) => entry.decision)).toEqual(['would-delete', 'would-delete', 'would-delete']);
    expect(audit.every((entry) => entry.dryRun && entry.sha256?.length === 64)).toBe(true);
  });

  it('honours the per-run cap on deletes', async () => {
    await archive(oldRecordings(5));

    const { report, audit } = await run(settings({ maxDeletesPerRun: 2 }));

    expect(sandbox.deletedIds()).toHaveLength(2);
    expect(report).toMatchObject({ deleted: 2, stoppedBy: 'cap' });
    expect(audit.filter((entry) => entry.decision === 'deleted')).toHaveLength(2);
    expect(audit.at(-1)).toMatchObject({ decision: 'stopped', reason: 'cap' });
  });

  it('stops midway when the kill switch is thrown, checked before each delete', async () => {
    await archive(oldRecordings(5));
    let checks = 0;
    const killSwitch: KillSwitch = { engaged: async () => ++checks > 2 };

    const { report, audit } = await run(settings(), { killSwitch });

    expect(sandbox.deletedIds()).toHaveLength(2);
    expect(report).toMatchObject({ deleted: 2, stoppedBy: 'kill-switch' });
    expect(audit.at(-1)).toMatchObject({ decision: 'stopped', reason: 'kill-switch' });
  });

  it('does not delete a recording that appears at the source during the run', async () => {
    // The run lists its window one UTC month after another. Two archived recordings sit in one month and
    // the late one in the next, both before the cutoff, wherever "now" falls in the calendar.
    const { earlier, later } = consecutiveMonthsBeforeCutoff(
      new Date(),
      settings().deleteFromSourceAfterDays,
    );
    const archived = sandbox.generateRecordings({
      count: 2,
      from: new Date(earlier.getTime() + HOUR),
      to: new Date(earlier.getTime() + 2 * HOUR),
      size: 40_000,
    });
    await archive(archived);
    let late: SandboxRecording | undefined;
    // The first decision (about a recording of the earlier month) adds an unarchived recording in the
    // later month, which the run has not listed yet.
    const injectLateRecording = (inner: AuditLog): AuditLog => ({
      open(runId, startedAt) {
        const trail = inner.open(runId, startedAt);
        return {
          async record(entry, options) {
            late ??= sandbox.addRecording({ startedAt: new Date(later.getTime() + HOUR), size: 40_000 });
            await trail.record(entry, options);
          },
          close: () => trail.close(),
        };
      },
    });

    const { report, audit } = await run(settings(), { audit: injectLateRecording });

    expect(late).toBeDefined();
    expect(sandbox.deletedIds().sort()).toEqual(archived.map((recording) => recording.recordUuid).sort());
    expect(decisionsFor(audit, late!.recordUuid)).toEqual(['skipped:not-archived']);
    expect(report.dueButNotArchived).toBe(1);
  });

  it('records a recording deleted by someone else meanwhile as already gone (delete 404)', async () => {
    const [recording] = oldRecordings(1);
    await archive([recording!]);
    // Between the intent and the delete call, someone removes the recording at the platform.
    const removeAtSource = (inner: AuditLog): AuditLog => ({
      open(runId, startedAt) {
        const trail = inner.open(runId, startedAt);
        return {
          async record(entry, options) {
            await trail.record(entry, options);
            if (entry.decision === 'deleting') await deleteAtSandbox(recording!.recordUuid);
          },
          close: () => trail.close(),
        };
      },
    });

    const { report, audit } = await run(settings(), { audit: removeAtSource });

    expect(report).toMatchObject({ deleted: 0, alreadyGone: 1 });
    expect(decisionsFor(audit, recording!.recordUuid)).toEqual(['deleting', 'already-gone']);
  });

  it('stops the run on a 429 from the delete endpoint and deletes nothing more', async () => {
    await archive(oldRecordings(3));
    sandbox.injectFault(
      { kind: 'hourly-quota', resetSeconds: 1800 },
      { routes: 'delete', times: Number.POSITIVE_INFINITY },
    );

    const { report, audit } = await run(settings());

    expect(sandbox.deletedIds()).toEqual([]);
    expect(report).toMatchObject({ deleted: 0, failed: 1, stoppedBy: 'rate-limited' });
    expect(audit.map((entry) => `${entry.decision}:${entry.reason ?? ''}`)).toEqual([
      'deleting:',
      'failed:rate-limited',
    ]);
  });

  it('refuses a copy rewritten at the same size from its stored checksum alone, and by deep verification when the checksum was kept', async () => {
    const [intact, rewritten, rotten] = oldRecordings(3);
    const all = await archive([intact!, rewritten!, rotten!]);
    // Same size, one byte changed, metadata kept. S3 records the new bytes' own checksum for the rewrite;
    // the rot keeps the recorded checksum (moto stores a checksum it is sent without checking it, as a
    // stand-in for bytes that went bad under an unchanged checksum), which only re-reading the bytes finds.
    for (const [recording, keepChecksum] of [
      [rewritten!, false],
      [rotten!, true],
    ] as const) {
      const key = keyOf(all, recording);
      const object = await moto.s3.send(
        new GetObjectCommand({ Bucket: BUCKET, Key: key, ChecksumMode: 'ENABLED' }),
      );
      const bytes = Buffer.from((await object.Body?.transformToByteArray()) ?? []);
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
      await moto.s3.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: key,
          Body: bytes,
          Metadata: object.Metadata,
          ...(keepChecksum ? { ChecksumAlgorithm: 'SHA256', ChecksumSHA256: object.ChecksumSHA256 } : {}),
        }),
      );
    }

    const { report, audit } = await run(settings({ deepVerifySampleRate: 1 }));

    expect(sandbox.deletedIds()).toEqual([intact!.recordUuid]);
    expect(report.deepVerified).toBe(1);
    expect(decisionsFor(audit, rewritten!.recordUuid)).toEqual(['skipped:checksum-mismatch']);
    expect(decisionsFor(audit, rotten!.recordUuid)).toEqual(['skipped:deep-verify-failed']);
  });

  it('verifies and deletes copies archived the old way (staged and copied, SHA-256 in metadata, schema-1 sidecar), and completes one left without its sidecar', async () => {
    // Prepare: one single-put and one multipart copy written as earlier versions wrote them; a third
    // whose old worker stopped before the sidecar.
    const old = (size: number, hour: number) =>
      sandbox.addRecording({ startedAt: new Date(Date.now() - 60 * DAY + hour * 3_600_000), size });
    const [small, large, unfinished] = [
      old(40_000, 1),
      old(12 * 1024 * 1024 + 5, 2),
      old(6 * 1024 * 1024, 3),
    ];
    const all = await listed();
    const tags = { provider: 'telphin', source: 'hq', 'retention-class': 'standard' };
    for (const recording of [small!, large!, unfinished!]) {
      const parsed = all.get(recording.recordUuid)!;
      await archiveTheOldWay(moto.s3, BUCKET, parsed, {
        key: recordingKey(parsed),
        bytes: Buffer.concat([...syntheticAudioChunks(recording.seed, recording.size)]),
        contentType: 'audio/mpeg',
        tags,
        withSidecar: recording !== unfinished,
      });
    }
    const legacy = await store.inspect(keyOf(all, large!));
    expect(legacy).toMatchObject({ sha256: sandbox.expectedSha256(large!.recordUuid), tags });
    expect(legacy?.taggedSha256).toBeUndefined();

    // Act: the unfinished one is due but has no sidecar; the worker completes it, the next run deletes it.
    const first = await run(settings());
    const outcome = await archiveRecording(all.get(unfinished!.recordUuid)!, {
      source,
      store,
      clock: systemClock,
      log: silentLog,
    });
    const second = await run(settings());

    // Assess
    expect(decisionsFor(first.audit, small!.recordUuid)).toEqual(['deleting', 'deleted']);
    expect(decisionsFor(first.audit, large!.recordUuid)).toEqual(['deleting', 'deleted']);
    expect(decisionsFor(first.audit, unfinished!.recordUuid)).toEqual(['skipped:no-sidecar']);
    expect(outcome.status).toBe('sidecar-written');
    expect(decisionsFor(second.audit, unfinished!.recordUuid)).toEqual(['deleting', 'deleted']);
    expect(sandbox.deletedIds().sort()).toEqual(
      [small!, large!, unfinished!].map((r) => r.recordUuid).sort(),
    );
    expect(second.audit.find((entry) => entry.decision === 'deleted')).toMatchObject({
      sha256: sandbox.expectedSha256(unfinished!.recordUuid),
    });
  });

  async function deleteAtSandbox(recordUuid: string): Promise<void> {
    const token = await fetch(`${sandbox.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: sandbox.clientId,
        client_secret: sandbox.clientSecret,
      }),
    }).then((response) => response.json() as Promise<{ access_token: string }>);
    const response = await fetch(`${sandbox.url}/api/ver1.0/client/@me/record/${recordUuid}/`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token.access_token}` },
    });
    if (response.status !== 200 && response.status !== 204)
      throw new Error(`sandbox delete answered ${response.status}`);
  }
});
