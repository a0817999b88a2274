/**
 * The plain logic of continuations (core/continuation.ts): what a checkpoint may hold, how a resumed
 * Range answer and the store's parts are judged against it, the job that carries it, and that a SHA-256
 * and CRC32 carried across a checkpoint end where one uninterrupted pass ends. The flows on moto and a
 * loopback server are in test/integration/download-continuation.test.ts.
 */
import { createHash } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { resumableSha256 } from '../../../functions/adapters/resumable-sha256';
import {
  CONTINUATION_MESSAGE_BUDGET_BYTES,
  continuationJob,
  continuationSchema,
  identityOf,
  maxUploadAgeMs,
  PLANNED_FLOOR_BYTES_PER_SECOND,
  partsDigest,
  partsDisagreement,
  rangeRefusal,
  resumableThreshold,
  type SourceIdentity,
  UPLOAD_AGE_MARGIN_MS,
  type UploadCheckpoint,
  type UploadedPart,
} from '../../../functions/core/continuation';
import { parseJob, type RecordingJob, recordingJob } from '../../../functions/core/jobs';
import type { DownloadStream } from '../../../functions/core/ports';
import type { SourceRecording } from '../../../functions/core/recording';
import { RecordingVerifier } from '../../../functions/core/verify-stream';
import { syntheticMp3 } from '../../support/synthetic-media';

const MiB = 1024 * 1024;
const PART = 5 * MiB;

const recording: SourceRecording = {
  provider: 'telphin',
  sourceId: 'office',
  recordingId: 'rec-1',
  startedAt: new Date('2026-12-01T10:00:00Z'),
  direction: 'inbound',
  size: 3 * PART + 123,
  contentType: 'audio/mpeg',
  fileExtension: 'mp3',
  raw: {},
};

/** Parts 1..count of PART bytes each, as ListParts reports them. */
function parts(count: number): UploadedPart[] {
  return Array.from(
    { length: count },
    (_, index): UploadedPart => [index + 1, `etag-${index + 1}`, `crc-${index + 1}==`, PART],
  );
}

const identity: SourceIdentity = {
  size: 3 * PART + 123,
  etag: '"v1"',
  lastModified: 'Sat, 05 Dec 2026 08:00:00 GMT',
};

function checkpoint(done: UploadedPart[] = parts(2)): UploadCheckpoint {
  return {
    key: 'telphin/office/2026/12/01/rec-1.mp3',
    uploadId: 'upload-1',
    contentType: 'audio/mpeg',
    offset: done.reduce((sum, part) => sum + part[3], 0),
    partCount: done.length,
    partsDigest: partsDigest(done),
    sha256State: 'c3RhdGU=',
    crc32: 123_456,
    source: identity,
    createdAt: '2026-12-05T08:00:00.000Z',
  };
}

/** A download answer as providers/http.ts reads one, without a body worth reading. */
function answer(fields: Partial<DownloadStream>): DownloadStream {
  return { body: Readable.from([]), ...fields };
}

describe('the continuation carried in a job', () => {
  it('survives the queue: a continued job parses back to itself', () => {
    const next = continuationJob(recordingJob(recording), checkpoint(), parts(2));
    const parsed = parseJob(JSON.stringify(next)) as RecordingJob;
    expect(parsed.continuation).toEqual({ count: 1, upload: { ...checkpoint(), parts: parts(2) } });
    expect(parsed.continuation?.upload?.parts).toHaveLength(2);
  });

  it.each([
    ['an offset of zero (nothing to continue)', { offset: 0 }],
    ['a fractional offset', { offset: 1.5 }],
    ['no parts', { partCount: 0 }],
    ['more parts than S3 allows', { partCount: 10_001 }],
    ['a digest that is not a SHA-256', { partsDigest: 'abc' }],
    ['a CRC32 past 32 bits', { crc32: 2 ** 32 }],
    ['a negative CRC32', { crc32: -1 }],
    ['an empty SHA-256 state', { sha256State: '' }],
    ['a creation time that is not a date', { createdAt: 'yesterday' }],
    ['a negative source size', { source: { size: -1 } }],
    ['an empty upload id', { uploadId: '' }],
  ] as const)('refuses a checkpoint with %s', (_, change) => {
    const upload = { ...checkpoint(), ...change };
    expect(continuationSchema.safeParse({ count: 1, upload }).success).toBe(false);
    const job = { ...recordingJob(recording), continuation: { count: 1, upload } };
    expect(() => parseJob(JSON.stringify(job))).toThrow();
  });

  it('refuses a part whose number S3 could not have given', () => {
    const listed = [[0, 'etag', '', PART]];
    expect(
      continuationSchema.safeParse({ count: 1, upload: { ...checkpoint(), parts: listed } }).success,
    ).toBe(false);
  });

  it('counts the continuations of a chain, and a restart without an upload asks for a fresh start', () => {
    const first = continuationJob(recordingJob(recording), checkpoint(), parts(2));
    const second = continuationJob(first, checkpoint(parts(3)), parts(3));
    expect(second.continuation?.count).toBe(2);
    expect(second.continuation?.upload?.partCount).toBe(3);

    const restarted = continuationJob(second, undefined);
    expect(restarted.continuation).toEqual({ count: 3 });
    expect(restarted.recording).toEqual(second.recording);
  });

  it('leaves the parts to ListParts when they would not fit a queue message, keeping their digest', () => {
    const many = Array.from(
      { length: 10_000 },
      (_, index): UploadedPart => [
        index + 1,
        createHash('md5').update(String(index)).digest('hex'),
        'AAAAAA==',
        PART,
      ],
    );
    const next = continuationJob(recordingJob(recording), checkpoint(many), many);
    expect(next.continuation?.upload?.parts).toBeUndefined();
    expect(next.continuation?.upload?.partsDigest).toBe(partsDigest(many));
    expect(Buffer.byteLength(JSON.stringify(next))).toBeLessThanOrEqual(CONTINUATION_MESSAGE_BUDGET_BYTES);
    // SQS's limit is 256 KiB; the budget keeps room for the message's attributes.
    expect(CONTINUATION_MESSAGE_BUDGET_BYTES).toBeLessThan(256 * 1024);
  });
});

describe('the store parts a continuation finds (ListParts)', () => {
  it('agree when they are the saved parts 1..n holding exactly the offset', () => {
    expect(partsDisagreement(checkpoint(), parts(2))).toBeUndefined();
  });

  it('disagree when the count differs', () => {
    expect(partsDisagreement(checkpoint(), parts(1))).toMatch(/holds 1 parts, the checkpoint 2/);
  });

  it('disagree when a part is missing from the numbering', () => {
    const gap: UploadedPart[] = [parts(1)[0] as UploadedPart, [3, 'etag-3', 'crc-3==', PART]];
    expect(partsDisagreement(checkpoint(), gap)).toMatch(/part numbers are not 1\.\.n/);
  });

  it('disagree when the offset is not on the boundary of the parts', () => {
    const saved = { ...checkpoint(), offset: 2 * PART - 1 };
    expect(partsDisagreement(saved, parts(2))).toMatch(/hold \d+ bytes, the checkpoint \d+/);
  });

  it('disagree when a part was replaced (another ETag)', () => {
    const replaced = parts(2);
    replaced[1] = [2, 'another-etag', 'crc-2==', PART];
    expect(partsDisagreement(checkpoint(), replaced)).toMatch(/differ from the checkpoint's/);
  });

  it('disagree when a part holds other bytes of the same count (another CRC32)', () => {
    const replaced = parts(2);
    replaced[0] = [1, 'etag-1', 'other==', PART];
    expect(partsDisagreement(checkpoint(), replaced)).toMatch(/differ from the checkpoint's/);
  });
});

describe('the Range answer a continuation gets', () => {
  const offset = 2 * PART;
  const rest = { start: offset, end: identity.size - 1, total: identity.size };

  it('continues a 206 for exactly the rest of the same file', () => {
    const ok = answer({ contentRange: rest, etag: identity.etag, lastModified: identity.lastModified });
    expect(rangeRefusal(identity, offset, ok)).toBeUndefined();
    // A server that does not know the total ("bytes a-b/*") is judged on the rest.
    const unknownTotal = answer({ ...ok, contentRange: { ...rest, total: undefined } });
    expect(rangeRefusal(identity, offset, unknownTotal)).toBeUndefined();
  });

  it('restarts when the Range request is answered with 200 (the whole file)', () => {
    const whole = answer({ contentLength: identity.size, etag: identity.etag, acceptRanges: true });
    expect(rangeRefusal(identity, offset, whole)).toMatch(/whole file \(200\)/);
  });

  it('restarts when the file changed size, even under the same ETag', () => {
    const grown = answer({
      contentRange: { start: offset, end: identity.size + 99, total: identity.size + 100 },
      etag: identity.etag,
      lastModified: identity.lastModified,
    });
    expect(rangeRefusal(identity, offset, grown)).toMatch(/size changed/);
  });

  it('restarts when the ETag or Last-Modified changed', () => {
    const retagged = answer({ contentRange: rest, etag: '"v2"', lastModified: identity.lastModified });
    expect(rangeRefusal(identity, offset, retagged)).toMatch(/ETag changed/);
    const untagged = answer({ contentRange: rest, lastModified: identity.lastModified });
    expect(rangeRefusal(identity, offset, untagged)).toMatch(/ETag changed/);
    const touched = answer({
      contentRange: rest,
      etag: identity.etag,
      lastModified: 'Sun, 06 Dec 2026 08:00:00 GMT',
    });
    expect(rangeRefusal(identity, offset, touched)).toMatch(/Last-Modified changed/);
  });

  it('restarts when the source answers another range than the one asked for', () => {
    const early = answer({
      contentRange: { ...rest, start: offset - 1 },
      etag: identity.etag,
      lastModified: identity.lastModified,
    });
    expect(rangeRefusal(identity, offset, early)).toMatch(/answered bytes/);
    const short = answer({
      contentRange: { ...rest, end: identity.size - 2 },
      etag: identity.etag,
      lastModified: identity.lastModified,
    });
    expect(rangeRefusal(identity, offset, short)).toMatch(/answered bytes/);
  });
});

describe('what the first answer says about the file', () => {
  it('names the size, ETag and Last-Modified of a source that serves ranges', () => {
    const first = answer({
      contentLength: identity.size,
      acceptRanges: true,
      etag: identity.etag,
      lastModified: identity.lastModified,
    });
    expect(identityOf(first, undefined)).toEqual(identity);
    // Without Content-Length, the size the listing reported.
    expect(identityOf(answer({ acceptRanges: true }), 42)).toEqual({ size: 42 });
  });

  it('refuses a source that does not advertise Accept-Ranges, or names no size', () => {
    expect(identityOf(answer({ contentLength: 10 }), 10)).toEqual({
      refused: 'the source does not advertise Accept-Ranges: bytes',
    });
    expect(identityOf(answer({ acceptRanges: true }), undefined)).toEqual({
      refused: 'the source announced no size',
    });
  });
});

describe('sizing', () => {
  it('hashes resumably above what the planned floor rate fetches before the checkpoint', () => {
    expect(resumableThreshold(60_000)).toBe(60 * PLANNED_FLOOR_BYTES_PER_SECOND);
    expect(resumableThreshold(-5)).toBe(0);
  });

  it('stops continuing an upload a margin before the lifecycle rule may abort it', () => {
    expect(maxUploadAgeMs(1)).toBe(86_400_000 - UPLOAD_AGE_MARGIN_MS);
    expect(maxUploadAgeMs(7)).toBe(7 * 86_400_000 - UPLOAD_AGE_MARGIN_MS);
    expect(maxUploadAgeMs(1)).toBeGreaterThan(0);
  });
});

describe('checksums carried across a checkpoint', () => {
  const size = 3 * PART + 12_345;
  const bytes = syntheticMp3(size, 21);

  async function verify(verifier: RecordingVerifier, chunks: Buffer[]): Promise<void> {
    const sink = new PassThrough();
    sink.resume();
    await pipeline(Readable.from(chunks), verifier, sink);
  }

  /** Odd-sized chunks, so part boundaries fall inside them. */
  function chunksOf(buffer: Buffer, size = 777_777): Buffer[] {
    const chunks: Buffer[] = [];
    for (let at = 0; at < buffer.length; at += size) chunks.push(buffer.subarray(at, at + size));
    return chunks;
  }

  it('end with the SHA-256 and CRC32 of one uninterrupted pass, from a state saved at a part boundary', async () => {
    const first = new RecordingVerifier({
      sourceSize: size,
      resumable: { hash: await resumableSha256.create(), partSizeBytes: PART },
    });
    // The first invocation read past the second part's end before it was stopped.
    await verify(first, chunksOf(bytes.subarray(0, 2 * PART + 4_000))).catch(() => undefined);
    const saved = first.snapshotAt(2 * PART);
    expect(saved).toBeDefined();
    // Only part boundaries are kept: there is nothing to continue from elsewhere.
    expect(first.snapshotAt(2 * PART + 4_000)).toBeUndefined();
    expect(first.snapshotAt(PART + 1)).toBeUndefined();
    if (!saved) return;

    const carried = JSON.parse(JSON.stringify(saved)) as typeof saved;
    const second = new RecordingVerifier({
      sourceSize: size,
      resumable: {
        hash: await resumableSha256.create(carried.sha256State),
        partSizeBytes: PART,
        from: { offset: 2 * PART, crc32: carried.crc32 },
      },
    });
    await verify(second, chunksOf(bytes.subarray(2 * PART), 1_000_003));

    expect(second.summary()).toEqual({
      size,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      crc32: crc32(bytes),
    });
  });

  it('hand on the state they started from when an invocation passed no whole part before its checkpoint', async () => {
    const first = new RecordingVerifier({
      sourceSize: size,
      resumable: { hash: await resumableSha256.create(), partSizeBytes: PART },
    });
    await verify(first, chunksOf(bytes.subarray(0, PART))).catch(() => undefined);
    const atFirstPart = first.snapshotAt(PART);
    if (!atFirstPart) throw new Error('no state at the first part boundary');

    // A slow invocation: it resumes at the first part, reads less than a part, and is stopped.
    const resumeFrom = async (state: typeof atFirstPart) =>
      new RecordingVerifier({
        sourceSize: size,
        resumable: {
          hash: await resumableSha256.create(state.sha256State),
          partSizeBytes: PART,
          from: { offset: PART, crc32: state.crc32 },
        },
      });
    const slow = await resumeFrom(atFirstPart);
    await verify(slow, chunksOf(bytes.subarray(PART, PART + 4_000))).catch(() => undefined);
    const handedOn = slow.snapshotAt(PART);
    expect(handedOn).toEqual(atFirstPart);
    if (!handedOn) return;

    // The next invocation continues from what the slow one handed on and ends where one pass ends.
    const next = await resumeFrom(JSON.parse(JSON.stringify(handedOn)) as typeof handedOn);
    await verify(next, chunksOf(bytes.subarray(PART), 999_999));
    expect(next.summary()).toEqual({
      size,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      crc32: crc32(bytes),
    });
  });

  it('a continuation still refuses a rest that runs past or ends short of the whole size', async () => {
    const first = new RecordingVerifier({
      sourceSize: size,
      resumable: { hash: await resumableSha256.create(), partSizeBytes: PART },
    });
    await verify(first, chunksOf(bytes.subarray(0, PART + 1))).catch(() => undefined);
    const saved = first.snapshotAt(PART);
    if (!saved) throw new Error('no state at the first part boundary');
    const resumed = async () =>
      new RecordingVerifier({
        sourceSize: size,
        resumable: {
          hash: await resumableSha256.create(saved.sha256State),
          partSizeBytes: PART,
          from: { offset: PART, crc32: saved.crc32 },
        },
      });

    await expect(verify(await resumed(), [bytes.subarray(PART), Buffer.alloc(1)])).rejects.toThrow(
      /ran past/,
    );
    await expect(verify(await resumed(), [bytes.subarray(PART, size - 1)])).rejects.toThrow(/ended after/);
  });
});
