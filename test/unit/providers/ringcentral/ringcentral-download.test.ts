import { afterEach, describe, expect, it } from 'vitest';
import { GoneAtSourceError, NotReadyError, TransientError } from '../../../../functions/core/errors';
import { type HintJob, JOB_VERSION } from '../../../../functions/core/jobs';
import { detectMediaKind } from '../../../../functions/core/media-signature';
import { RecordingVerifier } from '../../../../functions/core/verify-stream';
import { DisallowedUrlError } from '../../../../functions/providers/http';
import {
  collect,
  consumeVerified,
  JAN_2024,
  JAN_WINDOW,
  manualClock,
  type RingCentralHarness,
  startHarness,
} from './ringcentral-fixture';

describe('RingCentralSource.openDownload', () => {
  let harness: RingCentralHarness | undefined;
  afterEach(async () => harness?.sandbox.close());

  it('streams an MP3 from the media host with the Bearer token in the header, never in the URL', async () => {
    // Prepare
    harness = await startHarness();
    const call = harness.sandbox.addCall({ startedAt: JAN_2024, size: 300_000 });
    const [recording] = await collect(harness.source.listRecordings(JAN_WINDOW));

    // Act
    const download = await harness.source.openDownload(recording!);
    const summary = await consumeVerified(download);

    // Assess
    expect(download.contentType).toBe('audio/mpeg');
    expect(download.contentLength).toBe(300_000);
    expect(summary).toMatchObject({
      size: 300_000,
      sha256: harness.sandbox.expectedSha256(call.recording!.id),
    });
    const content = harness.sandbox.requestLog.filter((entry) => entry.route === 'content');
    expect(content).toEqual([
      expect.objectContaining({
        server: 'media',
        method: 'GET',
        query: '',
        authorization: 'Bearer',
        status: 200,
      }),
    ]);
    expect(harness.sandbox.requestLog.every((entry) => !entry.query.includes('access_token'))).toBe(true);
  });

  it('asks for the rest from a byte (a continuation) with a Range header on the same Heavy request', async () => {
    // Prepare
    harness = await startHarness();
    harness.sandbox.addCall({ startedAt: JAN_2024, size: 300_000 });
    const [recording] = await collect(harness.source.listRecordings(JAN_WINDOW));
    const readAll = async (body: AsyncIterable<Buffer>) => {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk);
      return Buffer.concat(chunks);
    };
    const whole = await readAll((await harness.source.openDownload(recording!)).body);

    // Act
    const rest = await harness.source.openDownload(recording!, undefined, { fromByte: 100_000 });
    const bytes = await readAll(rest.body);

    // Assess
    expect(rest.acceptRanges).toBe(true);
    expect(rest.contentRange).toEqual({ start: 100_000, end: 299_999, total: 300_000 });
    expect(bytes.equals(whole.subarray(100_000))).toBe(true);
    const content = harness.sandbox.requestLog.filter((entry) => entry.route === 'content');
    expect(content.map((entry) => entry.status)).toEqual([200, 206]);
    expect(content.every((entry) => entry.server === 'media' && entry.authorization === 'Bearer')).toBe(true);
  });

  it('recognises WAV by its RIFF/WAVE header and the verifier accepts it', async () => {
    // Prepare
    harness = await startHarness({ sandbox: { recordingFormat: 'wav' }, config: { recordingFormat: 'wav' } });
    const call = harness.sandbox.addCall({ startedAt: JAN_2024, size: 64_044 });
    const [recording] = await collect(harness.source.listRecordings(JAN_WINDOW));

    // Act
    const download = await harness.source.openDownload(recording!);
    const chunks: Buffer[] = [];
    const verifier = new RecordingVerifier({ contentLength: download.contentLength });
    download.body.pipe(verifier);
    for await (const chunk of verifier) chunks.push(chunk as Buffer);

    // Assess
    const bytes = Buffer.concat(chunks);
    expect(recording).toMatchObject({ fileExtension: 'wav' });
    expect(download.contentType).toBe('audio/wav');
    expect(bytes.subarray(0, 4).toString('ascii')).toBe('RIFF');
    expect(bytes.subarray(8, 12).toString('ascii')).toBe('WAVE');
    expect(detectMediaKind(bytes.subarray(0, 12))).toBe('wav');
    expect(verifier.summary()).toMatchObject({
      size: 64_044,
      sha256: harness.sandbox.expectedSha256(call.recording!.id),
    });
    expect(harness.log.lines.filter((line) => line.level === 'warn')).toEqual([]);
  });

  it('hands on the served type of a WAV account whatever recordingFormat says, with no request to learn it', async () => {
    // Prepare: the account records WAV, the configuration says mp3 (the default).
    harness = await startHarness({ sandbox: { recordingFormat: 'wav' } });
    const call = harness.sandbox.addCall({ startedAt: JAN_2024 });
    const [recording] = await collect(harness.source.listRecordings(JAN_WINDOW));
    const before = harness.sandbox.requestLog.length;

    // Act
    const download = await harness.source.openDownload(recording!);
    const summary = await consumeVerified(download);

    // Assess: the hint stays a hint; the download itself says WAV, and it was the only request.
    expect(recording?.fileExtension).toBe('mp3');
    expect(download.contentType).toBe('audio/wav');
    expect(summary.sha256).toBe(harness.sandbox.expectedSha256(call.recording!.id));
    expect(harness.sandbox.requestLog.slice(before).map((entry) => entry.route)).toEqual(['content']);
  });

  it('refuses a content URI outside the allowed hosts before sending anything', async () => {
    // Prepare
    harness = await startHarness({ config: { allowedDownloadHosts: ['media.ringcentral.com'] } });
    harness.sandbox.addCall({ startedAt: JAN_2024 });
    const [recording] = await collect(harness.source.listRecordings(JAN_WINDOW));

    // Act
    const failure = await harness.source.openDownload(recording!).catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(DisallowedUrlError);
    expect(harness.sandbox.counters.contentRequests).toBe(0);
  });

  it('fails a download that breaks mid-body so that it is retried', async () => {
    // Prepare
    harness = await startHarness();
    harness.sandbox.addCall({ startedAt: JAN_2024, size: 200_000 });
    const [recording] = await collect(harness.source.listRecordings(JAN_WINDOW));
    harness.sandbox.injectFault({ kind: 'reset-mid-body', afterBytes: 70_000 });

    // Act
    const download = await harness.source.openDownload(recording!);
    const failure = await consumeVerified(download).catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(TransientError);
  });

  it('refuses an error page served with status 200', async () => {
    // Prepare
    harness = await startHarness();
    harness.sandbox.addCall({ startedAt: JAN_2024 });
    const [recording] = await collect(harness.source.listRecordings(JAN_WINDOW));
    harness.sandbox.injectFault({ kind: 'html-page' });

    // Act
    const download = await harness.source.openDownload(recording!);
    const failure = await consumeVerified(download).catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(TransientError);
    expect((failure as Error).message).toMatch(/HTML/);
  });

  it('is not ready while the content is not downloadable after hang-up, then downloads it', async () => {
    // Prepare: the event arrives at hang-up; the media host serves the file 90 s later.
    const clock = manualClock();
    harness = await startHarness({ clock, sandbox: { clock, recordingReadyDelayMs: 90_000 } });
    const call = harness.sandbox.startCall({ startedAt: new Date(clock.now().getTime() - 60_000) });
    await harness.sandbox.hangUp(call.telephonySessionId);
    const job: HintJob = {
      v: JOB_VERSION,
      type: 'hint',
      provider: 'ringcentral',
      sourceId: 'rc-test',
      eventTime: clock.now().toISOString(),
      hint: { telephonySessionId: call.telephonySessionId, recordingIds: call.recording!.id },
    };
    const [recording] = await harness.source.resolveHint(job);

    // Act
    const early = await harness.source.openDownload(recording!).catch((error: unknown) => error);
    clock.advance(30_000);
    const stillEarly = await harness.source.openDownload(recording!).catch((error: unknown) => error);
    clock.advance(61_000);
    const summary = await consumeVerified(await harness.source.openDownload(recording!));

    // Assess
    expect(early).toBeInstanceOf(NotReadyError);
    expect((early as Error).message).toMatch(/no content yet/);
    expect(stillEarly).toBeInstanceOf(NotReadyError);
    expect(summary.sha256).toBe(harness.sandbox.expectedSha256(call.recording!.id));
    // Within the first hour a 404 is taken as "not ready" without asking the call log again.
    expect(harness.sandbox.counters.callLogCalls).toBe(1);
  });

  it('asks the call log about a late 404: still listed is not ready, no longer listed is gone at the source', async () => {
    // Prepare: two old recordings whose content answers 404; one is still in the call log.
    harness = await startHarness({
      sandbox: { recordingReadyDelayMs: 24 * 3_600_000 },
      tuning: { goneCheckAfterMs: 0 },
    });
    const listedCall = harness.sandbox.addCall({ startedAt: new Date(Date.now() - 3_600_000) });
    const goneCall = harness.sandbox.addCall({ startedAt: new Date(Date.now() - 3_600_000) });
    const window = { from: new Date(Date.now() - 2 * 3_600_000), to: new Date() };
    const recordings = await collect(harness.source.listRecordings(window));
    const listed = recordings.find((recording) => recording.recordingId === listedCall.recording?.id);
    const gone = recordings.find((recording) => recording.recordingId === goneCall.recording?.id);
    harness.sandbox.expireRecording(goneCall.recording!.id);

    // Act
    const notReady = await harness.source.openDownload(listed!).catch((error: unknown) => error);
    const goneFailure = await harness.source.openDownload(gone!).catch((error: unknown) => error);

    // Assess
    expect(notReady).toBeInstanceOf(NotReadyError);
    expect((notReady as Error).message).toMatch(/lists recording .* but serves no content/);
    expect(goneFailure).toBeInstanceOf(GoneAtSourceError);
    expect((goneFailure as Error).message).toMatch(/gone at the source/);
    const lookups = harness.sandbox.requestLog.filter((entry) => entry.route === 'call-log').slice(1);
    expect(lookups.map((entry) => new URLSearchParams(entry.query).get('telephonySessionId'))).toEqual([
      listedCall.telephonySessionId,
      goneCall.telephonySessionId,
    ]);
  });
});
