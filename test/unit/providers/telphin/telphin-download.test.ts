import { afterEach, describe, expect, it } from 'vitest';
import { NotReadyError, PermanentError, TransientError } from '../../../../functions/core/errors';
import type { SourceRecording } from '../../../../functions/core/recording';
import { DisallowedUrlError } from '../../../../functions/providers/http';
import type { SandboxRecording } from '../../../../functions/sandbox/telphin-sandbox';
import { collect, consumeVerified, JAN_2024, startHarness, type TelphinHarness } from './telphin-fixture';

const window = { from: JAN_2024, to: new Date('2024-01-11T00:00:00Z') };

async function listedOne(
  harness: TelphinHarness,
  size = 300_000,
): Promise<{ added: SandboxRecording; recording: SourceRecording }> {
  const added = harness.sandbox.addRecording({ startedAt: JAN_2024, size });
  const [recording] = await collect(harness.source.listRecordings(window));
  if (!recording) throw new Error('the sandbox did not list the recording');
  return { added, recording };
}

describe('TelphinSource.openDownload', () => {
  let harness: TelphinHarness | undefined;
  afterEach(async () => harness?.sandbox.close());

  it('prefers the storage URL and fetches it without the token', async () => {
    // Prepare
    harness = await startHarness();
    const { added, recording } = await listedOne(harness);

    // Act
    const download = await harness.source.openDownload(recording);
    const summary = await consumeVerified(download, recording.size);

    // Assess
    expect(summary).toMatchObject({
      size: added.size,
      sha256: harness.sandbox.expectedSha256(added.recordUuid),
    });
    expect(download.contentType).toBe('audio/mpeg');
    expect(harness.sandbox.counters).toMatchObject({
      storageUrlRequests: 1,
      storageDownloads: 1,
      fileDownloads: 0,
    });
  });

  it('downloads directly with the token when configured to', async () => {
    // Prepare
    harness = await startHarness({ config: { download: 'direct' } });
    const { added, recording } = await listedOne(harness);

    // Act
    const summary = await consumeVerified(await harness.source.openDownload(recording), recording.size);

    // Assess
    expect(summary.sha256).toBe(harness.sandbox.expectedSha256(added.recordUuid));
    expect(harness.sandbox.counters).toMatchObject({ storageUrlRequests: 0, fileDownloads: 1 });
  });

  it.each([
    [
      'the storage_url call answers 503',
      { kind: 'server-error', status: 503 } as const,
      'storage-url' as const,
    ],
    ['the storage host answers 502', { kind: 'server-error', status: 502 } as const, 'storage' as const],
  ])('falls back to the direct route when %s', async (_name, fault, route) => {
    // Prepare
    harness = await startHarness();
    const { added, recording } = await listedOne(harness);
    harness.sandbox.injectFault(fault, { routes: route, recordUuid: added.recordUuid });

    // Act
    const summary = await consumeVerified(await harness.source.openDownload(recording), recording.size);

    // Assess
    expect(summary.sha256).toBe(harness.sandbox.expectedSha256(added.recordUuid));
    expect(harness.sandbox.counters.fileDownloads).toBe(1);
    expect(
      harness.log.lines.some((line) => line.level === 'warn' && /falling back|directly/.test(line.message)),
    ).toBe(true);
  });

  it('refuses a storage URL on a host that is not allowed, without falling back', async () => {
    // Prepare: storage URLs point at `localhost`, only 127.0.0.1 (the API) is allowed.
    harness = await startHarness({ config: { allowedDownloadHosts: ['127.0.0.1'] } });
    const { added, recording } = await listedOne(harness);
    const storageKey =
      new URL(harness.sandbox.storageUrlFor(added.recordUuid)).pathname.split('/').pop() ?? '';

    // Act
    const failure = await harness.source.openDownload(recording).catch((error: unknown) => error);

    // Assess
    expect(storageKey.length).toBeGreaterThan(40);
    expect(failure).toBeInstanceOf(DisallowedUrlError);
    expect(failure).toBeInstanceOf(PermanentError);
    expect((failure as Error).message).toMatch(/localhost.*not in the allowed hosts/);
    expect((failure as Error).message).not.toContain(storageKey);
    expect(harness.sandbox.counters).toMatchObject({ storageDownloads: 0, fileDownloads: 0 });
  });

  it('reports NotReady when the listed recording has no file (404 on both routes)', async () => {
    // Prepare
    harness = await startHarness();
    const { added, recording } = await listedOne(harness);
    harness.sandbox.setListedAt(added.recordUuid, new Date(Date.now() + 3_600_000));

    // Act
    const failure = await harness.source.openDownload(recording).catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(NotReadyError);
    expect(harness.sandbox.counters).toMatchObject({ storageUrlRequests: 1, fileDownloads: 1 });
  });

  it('retries the direct download once with a new token after a 401', async () => {
    // Prepare
    harness = await startHarness({ config: { download: 'direct' } });
    const { added, recording } = await listedOne(harness);
    harness.sandbox.revokeTokens();

    // Act
    const summary = await consumeVerified(await harness.source.openDownload(recording), recording.size);

    // Assess
    expect(summary.sha256).toBe(harness.sandbox.expectedSha256(added.recordUuid));
    expect(harness.sandbox.counters.tokenRequests).toBe(2);
  });

  it.each([
    [
      'a connection reset mid-body',
      { kind: 'reset-mid-body', afterBytes: 100_000 } as const,
      /closed mid-body|ECONNRESET|aborted/,
    ],
    ['a short body', { kind: 'short-body', afterBytes: 100_000 } as const, /closed mid-body|ended|aborted/],
    ['a stalled body', { kind: 'stall', afterBytes: 65_536 } as const, /stalled/],
    ['an HTML page with status 200', { kind: 'html-page' } as const, /not audio or video|announces/],
  ])('fails the download on %s', async (_name, fault, pattern) => {
    // Prepare
    harness = await startHarness({ tuning: { idleTimeoutMs: 300 } });
    const { added, recording } = await listedOne(harness);
    harness.sandbox.injectFault(fault, { recordUuid: added.recordUuid });

    // Act
    const failure = await harness.source
      .openDownload(recording)
      .then((download) => consumeVerified(download, recording.size))
      .catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(TransientError);
    expect((failure as Error).message).toMatch(pattern);
  });

  it('still completes a throttled body that keeps moving', async () => {
    // Prepare: 40 kB at 100 kB/s with a 300 ms stall limit: slow but never silent that long.
    harness = await startHarness({ tuning: { idleTimeoutMs: 300 } });
    const { added, recording } = await listedOne(harness, 40_000);
    harness.sandbox.injectFault(
      { kind: 'slow-body', bytesPerSecond: 100_000 },
      { recordUuid: added.recordUuid },
    );

    // Act
    const started = Date.now();
    const summary = await consumeVerified(await harness.source.openDownload(recording), recording.size);

    // Assess
    expect(summary.sha256).toBe(harness.sandbox.expectedSha256(added.recordUuid));
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });
});

describe('TelphinSource.deleteRecording', () => {
  let harness: TelphinHarness | undefined;
  afterEach(async () => harness?.sandbox.close());

  it('deletes one record, then reports it already gone, never using the range delete', async () => {
    // Prepare
    harness = await startHarness();
    const { added, recording } = await listedOne(harness);
    const other = harness.sandbox.addRecording({ startedAt: JAN_2024 });

    // Act
    const first = await harness.source.deleteRecording(recording);
    const second = await harness.source.deleteRecording(recording);

    // Assess
    expect([first, second]).toEqual(['deleted', 'already-gone']);
    expect(harness.sandbox.deletedIds()).toEqual([added.recordUuid]);
    expect(harness.sandbox.recording(other.recordUuid)).toBeDefined();
    expect(harness.sandbox.counters).toMatchObject({ deleteCalls: 2, rangeDeleteCalls: 0 });
  });

  it('surfaces a 5xx on delete as transient', async () => {
    // Prepare
    harness = await startHarness();
    const { recording } = await listedOne(harness);
    harness.sandbox.injectFault({ kind: 'server-error', status: 500 }, { routes: 'delete' });

    // Act
    const failure = await harness.source.deleteRecording(recording).catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(TransientError);
    expect(harness.sandbox.deletedIds()).toEqual([]);
  });
});
