import { afterEach, describe, expect, it } from 'vitest';
import { GoneAtSourceError, NotReadyError, TransientError } from '../../../../functions/core/errors';
import type { SourceRecording } from '../../../../functions/core/recording';
import type { SandboxRecording } from '../../../../sandbox/providers/telphin-sandbox';
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

  it('downloads directly, never contacting a storage host that is not allowed, and warns once', async () => {
    // Prepare: storage URLs point at `localhost`, only 127.0.0.1 (the API) is allowed.
    harness = await startHarness({ config: { allowedDownloadHosts: ['127.0.0.1'] } });
    const first = harness.sandbox.addRecording({ startedAt: JAN_2024, size: 200_000 });
    const second = harness.sandbox.addRecording({ startedAt: new Date(JAN_2024.getTime() + 60_000) });
    const recordings = await collect(harness.source.listRecordings(window));
    const storageKey =
      new URL(harness.sandbox.storageUrlFor(first.recordUuid)).pathname.split('/').pop() ?? '';
    const storageHost = new URL(harness.sandbox.storageOrigin).host;

    // Act
    const summaries = [];
    for (const recording of recordings)
      summaries.push(await consumeVerified(await harness.source.openDownload(recording), recording.size));

    // Assess
    expect(summaries.map((summary) => summary.sha256)).toEqual([
      harness.sandbox.expectedSha256(first.recordUuid),
      harness.sandbox.expectedSha256(second.recordUuid),
    ]);
    expect(harness.sandbox.counters).toMatchObject({
      storageUrlRequests: 2,
      storageDownloads: 0,
      fileDownloads: 2,
    });
    const warnings = harness.log.lines.filter((line) => line.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toContain(storageHost);
    expect(warnings[0]?.message).toContain('sources[id=telphin-test].allowedDownloadHosts');
    expect(JSON.stringify(harness.log.lines)).not.toContain(storageKey);
  });

  it('never follows a storage link off loopback over plain http, and downloads directly', async () => {
    // Prepare: the API hands out http links to a public-looking host (allowed by name, refused by scheme).
    harness = await startHarness({
      sandbox: { storageOrigin: 'http://storage.telphin.ru' },
      config: { allowedDownloadHosts: ['127.0.0.1', 'storage.telphin.ru'] },
    });
    const { added, recording } = await listedOne(harness);

    // Act
    const summary = await consumeVerified(await harness.source.openDownload(recording), recording.size);

    // Assess
    expect(summary.sha256).toBe(harness.sandbox.expectedSha256(added.recordUuid));
    expect(harness.sandbox.counters).toMatchObject({ storageDownloads: 0, fileDownloads: 1 });
    const warning = harness.log.lines.find((line) => line.level === 'warn');
    expect(warning?.message).toMatch(/storage\.telphin\.ru.*would not help.*https is required/);
  });

  it('with no allowedDownloadHosts, fetches storage links on the apiUrl host', async () => {
    // Prepare: storage links on the API's own host and port, the hosts left to their defaults.
    harness = await startHarness({
      sandbox: { storageHost: '127.0.0.1' },
      config: { allowedDownloadHosts: undefined },
    });
    const { added, recording } = await listedOne(harness);

    // Act
    const summary = await consumeVerified(await harness.source.openDownload(recording), recording.size);

    // Assess
    expect(harness.config.allowedDownloadHosts).toEqual([new URL(harness.sandbox.url).host, '*.telphin.ru']);
    expect(summary.sha256).toBe(harness.sandbox.expectedSha256(added.recordUuid));
    expect(harness.sandbox.counters).toMatchObject({ storageDownloads: 1, fileDownloads: 0 });
  });

  it('reports NotReady when a recording it still lists has no file (404 on both routes)', async () => {
    // Prepare
    harness = await startHarness();
    const { added, recording } = await listedOne(harness);
    harness.sandbox.injectFault({ kind: 'not-found' }, { recordUuid: added.recordUuid, times: Infinity });
    const listCallsBefore = harness.sandbox.counters.listCalls;

    // Act
    const failure = await harness.source.openDownload(recording).catch((error: unknown) => error);

    // Assess: one re-list found it still there.
    expect(failure).toBeInstanceOf(NotReadyError);
    expect(harness.sandbox.counters).toMatchObject({ storageUrlRequests: 1, fileDownloads: 1 });
    expect(harness.sandbox.counters.listCalls - listCallsBefore).toBe(1);
  });

  it.each(['storage_url', 'direct'] as const)(
    'reports GoneAtSource when a 404 (%s) is confirmed by a re-list that no longer shows the recording',
    async (download) => {
      // Prepare: listed, then deleted at the source by someone else.
      harness = await startHarness({ config: { download } });
      const { added, recording } = await listedOne(harness);
      harness.sandbox.removeRecording(added.recordUuid);
      const listCallsBefore = harness.sandbox.counters.listCalls;

      // Act
      const failure = await harness.source.openDownload(recording).catch((error: unknown) => error);

      // Assess
      expect(failure).toBeInstanceOf(GoneAtSourceError);
      expect(failure).toMatchObject({ code: 'GONE_AT_SOURCE', retryable: false });
      expect((failure as Error).message).toContain(added.recordUuid);
      expect(harness.sandbox.counters.fileDownloads).toBe(1);
      expect(harness.sandbox.counters.listCalls - listCallsBefore).toBe(1);
    },
  );

  it('keeps the other recordings of the window out of the verdict: only the id counts', async () => {
    // Prepare: a neighbour a few seconds later stays listed; the recording itself is removed.
    harness = await startHarness();
    const { added, recording } = await listedOne(harness);
    harness.sandbox.addRecording({ startedAt: new Date(JAN_2024.getTime() + 5_000) });
    harness.sandbox.removeRecording(added.recordUuid);

    // Act
    const failure = await harness.source.openDownload(recording).catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(GoneAtSourceError);
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
