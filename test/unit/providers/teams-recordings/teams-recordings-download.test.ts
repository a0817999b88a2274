import { afterEach, describe, expect, it } from 'vitest';
import {
  GoneAtSourceError,
  NotReadyError,
  PermanentError,
  TransientError,
} from '../../../../functions/core/errors';
import { detectMediaKind } from '../../../../functions/core/media-signature';
import type { SourceRecording } from '../../../../functions/core/recording';
import { DisallowedUrlError } from '../../../../functions/providers/http';
import { collect, consumeVerified, startHarness, type TeamsHarness } from './teams-recordings-fixture';

const MiB = 1024 * 1024;

describe('TeamsRecordingsSource.openDownload', () => {
  let harness: TeamsHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  async function listedRecording(h: TeamsHarness, createdAt: Date, size = 300_000): Promise<SourceRecording> {
    const added = h.sandbox.addRecording({ organizerId: h.alice.id, createdAt, size });
    const listed = await collect(
      h.source.listRecordings({
        from: new Date(createdAt.getTime() - 1),
        to: new Date(createdAt.getTime() + 1),
      }),
    );
    const recording = listed.find((candidate) => candidate.recordingId === added.id);
    if (!recording) throw new Error('the sandbox recording was not listed');
    return recording;
  }

  it('follows the 302 to the content host without the Graph token and streams the MP4 the verifier accepts', async () => {
    // Prepare
    harness = await startHarness();
    const recording = await listedRecording(harness, new Date('2024-03-12T09:30:00Z'));

    // Act
    const download = await harness.source.openDownload(recording);
    const summary = await consumeVerified(download);

    // Assess
    expect(download.contentType).toBe('video/mp4');
    expect(download.contentLength).toBe(300_000);
    expect(summary).toMatchObject({
      size: 300_000,
      sha256: harness.sandbox.expectedSha256(recording.recordingId),
    });
    const steps = harness.sandbox.requestLog.filter(
      (entry) => entry.route === 'content' || entry.route === 'download',
    );
    expect(steps).toEqual([
      expect.objectContaining({ server: 'graph', route: 'content', status: 302, authorization: 'Bearer' }),
      expect.objectContaining({
        server: 'content',
        route: 'download',
        status: 200,
        authorization: undefined,
      }),
    ]);
  });

  it('never contacts a content host that is not allowed', async () => {
    // Prepare: the allow-list names only the Graph host.
    harness = await startHarness({ config: { allowedDownloadHosts: ['graph.microsoft.com'] } });
    const recording = await listedRecording(harness, new Date('2024-03-12T09:30:00Z'));

    // Act
    const error = await harness.source.openDownload(recording).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(DisallowedUrlError);
    expect(harness.sandbox.counters.contentRequests).toBe(1);
    expect(harness.sandbox.counters.downloads).toBe(0);
    expect(harness.sandbox.requestLog.some((entry) => entry.server === 'content')).toBe(false);
  });

  it('treats missing content with metadata still there as not ready (Teams is still processing it)', async () => {
    // Prepare
    harness = await startHarness();
    const recording = await listedRecording(harness, new Date());
    harness.sandbox.setReady(recording.recordingId, false);

    // Act
    const first = await harness.source.openDownload(recording).catch((caught: unknown) => caught);
    harness.sandbox.setReady(recording.recordingId, true);
    const summary = await consumeVerified(await harness.source.openDownload(recording));

    // Assess
    expect(first).toBeInstanceOf(NotReadyError);
    expect(summary.sha256).toBe(harness.sandbox.expectedSha256(recording.recordingId));
  });

  it('gives up on content that never appears once contentWaitHours have passed', async () => {
    // Prepare
    harness = await startHarness({ config: { contentWaitHours: 2 } });
    const recording = await listedRecording(harness, new Date(Date.now() - 3 * 3_600_000));
    harness.sandbox.setReady(recording.recordingId, false);

    // Act
    const error = await harness.source.openDownload(recording).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(PermanentError);
    expect(String(error)).toContain('2 hours');
  });

  it('calls a recording whose metadata answers 404 too gone at the source (expired)', async () => {
    // Prepare
    harness = await startHarness();
    const recording = await listedRecording(harness, new Date('2024-03-12T09:30:00Z'));
    harness.sandbox.expire(recording.recordingId);

    // Act
    const error = await harness.source.openDownload(recording).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(GoneAtSourceError);
    expect(
      harness.sandbox.requestLog.filter((entry) => entry.route === 'metadata').map((entry) => entry.status),
    ).toEqual([404]);
  });

  it('fails a body reset mid-way with a TransientError, and the retry streams it whole', async () => {
    // Prepare
    harness = await startHarness();
    const recording = await listedRecording(harness, new Date('2024-03-12T09:30:00Z'), 2 * MiB);
    harness.sandbox.injectFault({ kind: 'reset-mid-body', afterBytes: MiB });

    // Act
    const broken = await consumeVerified(await harness.source.openDownload(recording)).catch(
      (caught: unknown) => caught,
    );
    const whole = await consumeVerified(await harness.source.openDownload(recording));

    // Assess
    expect(broken).toBeInstanceOf(TransientError);
    expect(whole).toMatchObject({
      size: 2 * MiB,
      sha256: harness.sandbox.expectedSha256(recording.recordingId),
    });
  });

  it('refuses deletes: Graph has none for these recordings', async () => {
    // Prepare
    harness = await startHarness();
    const recording = await listedRecording(harness, new Date('2024-03-12T09:30:00Z'));

    // Act
    const error = await harness.source.deleteRecording(recording).catch((caught: unknown) => caught);

    // Assess
    expect(harness.source.capabilities).toEqual({ list: true, delete: false });
    expect(error).toBeInstanceOf(PermanentError);
    expect(String(error)).toContain('no delete');
  });

  it('streams a 64 MiB recording with flat memory: bytes are produced only as fast as they are consumed', async () => {
    // Prepare
    harness = await startHarness();
    const size = 64 * MiB;
    const recording = await listedRecording(harness, new Date('2024-03-12T09:30:00Z'), size);
    const expectedSha256 = harness.sandbox.expectedSha256(recording.recordingId);
    const { sandbox } = harness;
    let maxAhead = 0;
    let first: Buffer | undefined;

    // Act
    const download = await harness.source.openDownload(recording);
    download.body.once('data', (chunk: Buffer) => {
      first = Buffer.from(chunk.subarray(0, 12));
    });
    const summary = await consumeVerified(download, (consumed) => {
      maxAhead = Math.max(maxAhead, sandbox.counters.contentBytesSent - consumed);
    });

    // Assess: the verifier saw every byte of an MP4. The sandbox writes a chunk only once the socket took
    // the previous one, so what it has sent minus what the sink consumed is everything held in between
    // (socket buffers, stream buffers, anything the adapter kept): it stays a few MiB, not the file size.
    // (Heap figures are not asserted: uncollected garbage makes them noise, not a measure of buffering.)
    expect(summary).toMatchObject({ size, sha256: expectedSha256 });
    expect(first && detectMediaKind(first)).toBe('mp4');
    expect(maxAhead).toBeLessThan(8 * MiB);
  }, 60_000);
});
