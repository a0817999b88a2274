/**
 * callvault's promise, checked after every fault scenario against what S3, SQS and the platform hold:
 * - every source recording is archived exactly once, byte for byte (one object version at its key,
 *   nothing stray under recordings/, a sidecar that agrees), or, if someone deleted it at the source
 *   before it could be copied, recorded as gone there (and nothing written at its key);
 * - no multipart upload is left open;
 * - nothing was deleted at the source without a copy that verifies;
 * - the dead-letter queue holds only permanent failures, each with its failure-reason.
 */
import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  type MultipartUpload,
} from '@aws-sdk/client-s3';
import { expect } from 'vitest';
import { S3ArchiveStore } from '../../functions/adapters/s3-archive-store';
import { parseJob } from '../../functions/core/jobs';
import { goneAtSourceKey, sidecarKey } from '../../functions/core/keys';
import type { GoneAtSourceRecord } from '../../functions/core/ports';
import { parseSidecar, sidecarChecksum } from '../../functions/core/sidecar';
import { verifyArchivedCopy } from '../../functions/core/verify-archived-copy';
import type { SandboxRecording } from '../../sandbox/providers/telphin-sandbox';
import {
  BUCKET,
  type DeadLetter,
  type Pipeline,
  SOURCE_ID,
  sourceRecordingOf,
} from '../support/pipeline-harness';

export interface InvariantOptions {
  /** Every recording the platform held during the scenario, deleted ones included. */
  recordings: readonly SandboxRecording[];
  /**
   * Recordings whose S3 copy the scenario corrupted on purpose. They are left out of the archive checks,
   * and must still be at the source.
   */
  tampered?: readonly string[];
  /**
   * Recordings the scenario deleted at the source behind callvault's back (`removeRecording`) before they
   * were archived. Each must have its gone-at-source record and nothing at its key.
   */
  goneAtSource?: readonly string[];
  /** Recording ids expected in the dead-letter queue (permanent failures the scenario provokes). */
  expectedDeadLetters?: readonly string[];
  /**
   * Incomplete multipart uploads the scenario leaves on purpose (a worker killed mid-upload): allowed
   * only at these keys; the bucket's lifecycle rule aborts them.
   */
  allowOrphanUploadsAt?: readonly string[];
}

export interface InvariantReport {
  orphanUploads: MultipartUpload[];
  deadLetters: DeadLetter[];
}

export async function assertInvariants(
  pipeline: Pipeline,
  options: InvariantOptions,
): Promise<InvariantReport> {
  const s3 = pipeline.moto.s3;
  // Reads moto directly, never through a fault proxy the scenario may have put in front of it.
  const store = new S3ArchiveStore({
    client: s3,
    bucket: BUCKET,
    partSizeBytes: 5 * 1024 * 1024,
    partsInFlight: 1,
  });
  const tampered = new Set(options.tampered ?? []);
  const gone = new Set(options.goneAtSource ?? []);
  const intact = options.recordings.filter(
    (recording) => !tampered.has(recording.recordUuid) && !gone.has(recording.recordUuid),
  );

  // Gone at the source: removed there by the scenario, recorded as gone, never written to the archive.
  const removed = new Set(pipeline.sandbox.removedIds());
  for (const id of gone) {
    const recording = options.recordings.find((candidate) => candidate.recordUuid === id);
    if (!recording) throw new Error(`recording ${id} is expected gone but is not one of the scenario's`);
    expect(removed.has(id), `recording ${id} expected gone is still at the source`).toBe(true);
    const key = pipeline.keyOf(recording);
    const record = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: goneAtSourceKey(key) }));
    expect(
      JSON.parse(await record.Body!.transformToString()) as GoneAtSourceRecord,
      `gone-at-source record of ${id}`,
    ).toMatchObject({ recordingId: id, objectKey: key, sourceId: SOURCE_ID });
    const listing = await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: key }));
    expect([...(listing.Versions ?? []), ...(listing.DeleteMarkers ?? [])], `objects at ${key}`).toEqual([]);
  }

  // Exactly once, byte for byte, with a sidecar that agrees.
  const expectedKeys = new Set<string>();
  for (const recording of intact) {
    const key = pipeline.keyOf(recording);
    const expectedSha = pipeline.sandbox.expectedSha256(recording.recordUuid);
    expectedKeys.add(key);
    expectedKeys.add(sidecarKey(key));
    const listing = await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: key }));
    const versions = (listing.Versions ?? []).filter((version) => version.Key === key);
    const markers = (listing.DeleteMarkers ?? []).filter((marker) => marker.Key === key);
    expect(versions, `object versions at ${key}`).toHaveLength(1);
    expect(markers, `delete markers at ${key}`).toHaveLength(0);
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    const bytes = await object.Body!.transformToByteArray();
    expect(createHash('sha256').update(bytes).digest('hex'), `bytes of ${key}`).toBe(expectedSha);
    expect(bytes.length, `size of ${key}`).toBe(recording.size);
    // Recorded with the object: in the tag always, in the metadata too where the copy was a single put.
    const copy = await store.inspect(key);
    expect(copy?.taggedSha256, `sha256 tag of ${key}`).toBe(expectedSha);
    const singlePut = recording.size <= (pipeline.options.partSizeMiB ?? 5) * 1024 * 1024;
    expect(copy?.sha256, `sha256 metadata of ${key}`).toBe(singlePut ? expectedSha : undefined);
    const sidecar = parseSidecar(
      await (
        await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: sidecarKey(key) }))
      ).Body!.transformToString(),
    );
    expect(sidecar, `sidecar of ${key}`).toMatchObject({
      recordingId: recording.recordUuid,
      objectKey: key,
      sha256: expectedSha,
      size: recording.size,
    });
    // The checksum S3 verified on write (moto: computed from the bytes it stored) is the one the sidecar recorded.
    expect(copy?.checksum, `stored checksum of ${key}`).toBeDefined();
    expect(sidecarChecksum(sidecar), `checksum in the sidecar of ${key}`).toEqual(copy?.checksum);
  }

  // Nothing stray beside them (a duplicate at another key, a half-written object).
  const stray: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'recordings/', ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) {
      const key = object.Key ?? '';
      const ofTampered = options.recordings.some(
        (recording) => tampered.has(recording.recordUuid) && key.startsWith(pipeline.keyOf(recording)),
      );
      if (!expectedKeys.has(key) && !ofTampered) stray.push(key);
    }
    token = page.NextContinuationToken;
  } while (token);
  expect(stray, 'unexpected objects under recordings/').toEqual([]);

  // No open multipart upload (except a deliberate orphan the lifecycle rule covers).
  const uploads = (await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? [];
  const allowed = options.allowOrphanUploadsAt ?? [];
  const orphanUploads = uploads.filter((upload) => upload.Key !== undefined && allowed.includes(upload.Key));
  expect(
    uploads.filter((upload) => !orphanUploads.includes(upload)).map((upload) => upload.Key),
    'incomplete multipart uploads',
  ).toEqual([]);

  // Nothing deleted at the source without a copy that verifies, by the same rule retention applies
  // (grace period aside) and by re-reading the bytes.
  for (const id of pipeline.sandbox.deletedIds()) {
    const recording = options.recordings.find((candidate) => candidate.recordUuid === id);
    if (!recording)
      throw new Error(`recording ${id} was deleted at the source but is not one of the scenario's`);
    expect(tampered.has(id), `recording ${id} with a tampered copy was deleted at the source`).toBe(false);
    const verification = await verifyArchivedCopy(sourceRecordingOf(recording), pipeline.runtime.store, {
      now: new Date(),
      gracePeriodHours: 0,
      deep: true,
    });
    expect(verification, `copy vouching for the deletion of ${id}`).toMatchObject({ verified: true });
  }

  // Every job finished; the dead-letter queue holds only permanent failures, each with its reason.
  expect(await pipeline.depth(pipeline.queue), 'messages left on the job queue').toBe(0);
  const deadLetters = await pipeline.drainDeadLetters();
  for (const letter of deadLetters) {
    expect(letter.attributes['failure-reason'], 'failure-reason of a dead letter').toBeTruthy();
    expect(
      ['PERMANENT', 'INVALID_INPUT'],
      `failure-code of a dead letter (${letter.attributes['failure-reason']})`,
    ).toContain(letter.attributes['failure-code']);
  }
  const deadIds = deadLetters.map((letter) => {
    try {
      const job = parseJob(letter.body);
      return job.type === 'hint' ? `hint@${job.eventTime}` : job.recording.recordingId;
    } catch {
      return '(malformed job)';
    }
  });
  expect(deadIds.sort(), 'dead-lettered jobs').toEqual([...(options.expectedDeadLetters ?? [])].sort());

  return { orphanUploads, deadLetters };
}

/** HeadObject that answers undefined for a missing key. */
export async function headOrUndefined(pipeline: Pipeline, key: string) {
  try {
    return await pipeline.moto.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
  } catch {
    return undefined;
  }
}
