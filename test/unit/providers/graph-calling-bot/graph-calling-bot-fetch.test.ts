import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../../functions/adapters/fs-archive-store';
import {
  FsExpiredBeforeFetchLog,
  FsGoneAtSourceLog,
} from '../../../../functions/adapters/gone-at-source-logs';
import { ExpiredBeforeFetchError, PermanentError, TransientError } from '../../../../functions/core/errors';
import { handleArchiveJob, type JobDependencies } from '../../../../functions/core/handle-job';
import {
  type ArchiveJob,
  FETCH_NOW_RETRY_POLICY,
  type FetchNowJob,
  parseJob,
  REDACTED,
  redactJobSecrets,
  retryPolicyForJob,
  serialiseJob,
} from '../../../../functions/core/jobs';
import { DEFAULT_RETRY_POLICY, decideRetry } from '../../../../functions/core/retry-policy';
import { fixedSourceRegistry } from '../../../support/fixed-source-registry';
import {
  type GraphHarness,
  notificationRequest,
  recordingLog,
  SOURCE_ID,
  startGraphHarness,
} from './graph-calling-bot-fixture';

const DAY_PREFIX = `recordings/msgraph/${SOURCE_ID}/2026/03/31`;

/** Every file under a folder, relative to it. */
async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(root.length + 1))
    .sort();
}

describe('msgraph fetch-now jobs', () => {
  let harness: GraphHarness | undefined;
  let root: string;
  let store: FsArchiveStore;
  let deps: JobDependencies;
  let workerLog: ReturnType<typeof recordingLog>;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'callvault-msgraph-'));
  });
  afterEach(async () => {
    await harness?.sandbox.close();
    await rm(root, { recursive: true, force: true });
  });

  async function start(options: Parameters<typeof startGraphHarness>[0] = {}): Promise<GraphHarness> {
    harness = await startGraphHarness(options);
    const source = harness.source;
    workerLog = recordingLog();
    store = new FsArchiveStore({ root, log: workerLog });
    deps = {
      sources: fixedSourceRegistry([{ provider: 'msgraph', id: SOURCE_ID }], () => source),
      store,
      queue: { enqueue: async () => {} },
      goneAtSource: new FsGoneAtSourceLog({ root }),
      expiredBeforeFetch: new FsExpiredBeforeFetchLog({ root }),
      clock: harness.clock,
      log: workerLog,
    };
    return harness;
  }

  /** The job the webhook makes for a completed recording, as it comes off the queue. */
  async function jobFor(
    recording: ReturnType<GraphHarness['sandbox']['addRecording']>,
  ): Promise<FetchNowJob> {
    if (!harness) throw new Error('no harness');
    const token = await harness.sandbox.signNotificationToken();
    const outcome = await harness.source.handleWebhook(
      notificationRequest(harness.sandbox.completedNotification(recording), token),
    );
    const [job] = outcome.jobs;
    if (!job) throw new Error('the notification made no job');
    return parseJob(serialiseJob(job)) as FetchNowJob;
  }

  it('archives a chunked WAV without Content-Length under the operation id, with a token-free sidecar', async () => {
    // Prepare
    const { sandbox } = await start();
    const recording = sandbox.addRecording({ size: 160_696 });
    const job = await jobFor(recording);

    // Act
    const outcome = await handleArchiveJob(job, deps);

    // Assess
    const key = `${DAY_PREFIX}/${recording.operationId}.wav`;
    expect(outcome).toEqual({ status: 'archived', key, size: 160_696, sha256: recording.sha256 });
    const copy = await store.inspect(key);
    expect(copy).toMatchObject({
      size: 160_696,
      sha256: recording.sha256,
      contentType: 'audio/wav',
      hasSidecar: true,
    });
    const sidecar = await store.readSidecar(key);
    expect(sidecar).toMatchObject({
      provider: 'msgraph',
      sourceId: SOURCE_ID,
      recordingId: recording.operationId,
      callId: recording.callId.replaceAll('-', '').toUpperCase(),
      startedAt: '2026-03-31T23:59:00.000Z',
      size: 160_696,
      sourceReportedSize: null,
      contentType: 'audio/wav',
      raw: {
        operationId: recording.operationId,
        clientContext: recording.clientContext,
        resultInfo: { code: 200, subcode: 8515, message: 'Action completed, max record duration reached.' },
        notificationReceivedAt: '2026-03-31T23:59:00.000Z',
        notification: {
          resourceData: {
            id: recording.operationId,
            status: 'completed',
            recordingLocation: recording.recordingLocation,
          },
        },
      },
    });
    const notification = (sidecar!.raw as { notification: { resourceData: Record<string, unknown> } })
      .notification;
    expect(notification.resourceData).not.toHaveProperty('recordingAccessToken');
    // Nothing written anywhere in the archive holds the token.
    for (const file of await filesUnder(root)) {
      expect(await readFile(join(root, file), 'latin1')).not.toContain(recording.recordingAccessToken);
    }
    expect(workerLog.text()).not.toContain(recording.recordingAccessToken);
    expect(harness?.log.text()).not.toContain(recording.recordingAccessToken);
  });

  it('leaves one object when the notification is delivered twice', async () => {
    // Prepare
    const { sandbox } = await start();
    const recording = sandbox.addRecording();
    const first = await jobFor(recording);
    const second = await jobFor(recording);

    // Act
    const outcomes = [await handleArchiveJob(first, deps), await handleArchiveJob(second, deps)];

    // Assess
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['archived', 'already-archived']);
    expect((await filesUnder(root)).filter((file) => file.startsWith('recordings/'))).toEqual([
      `${DAY_PREFIX}/${recording.operationId}.wav`,
      `${DAY_PREFIX}/${recording.operationId}.wav.json`,
    ]);
    // The duplicate was caught before any byte was fetched.
    expect(sandbox.counters.recordingRequests).toBe(1);
  });

  it('survives a slow body', async () => {
    const { sandbox } = await start();
    const recording = sandbox.addRecording({ size: 4_000 });
    sandbox.injectFault({ kind: 'slow-body', bytesPerSecond: 20_000 });
    const outcome = await handleArchiveJob(await jobFor(recording), deps);
    expect(outcome).toMatchObject({ status: 'archived', sha256: recording.sha256 });
  });

  it.each([
    ['the token has expired by the clock', 'clock'],
    ['the host answers that the token expired', 'fault'],
    ['the platform has discarded the file', 'discard'],
  ] as const)('fails with expired-before-fetch, dead-lettered at once, when %s', async (_name, how) => {
    // Prepare
    const { sandbox, clock } = await start({ sandbox: { recordingTokenTtlSeconds: 120 } });
    const recording = sandbox.addRecording();
    const job = await jobFor(recording);
    if (how === 'clock') clock.advance(121_000);
    if (how === 'fault') sandbox.injectFault({ kind: 'expired-token' });
    if (how === 'discard') sandbox.discard(recording.operationId);

    // Act
    const error = await handleArchiveJob(job, deps).catch((thrown: unknown) => thrown);

    // Assess
    expect(error).toBeInstanceOf(ExpiredBeforeFetchError);
    expect(error).toMatchObject({ code: 'EXPIRED_BEFORE_FETCH', retryable: false });
    const decision = decideRetry(
      error as ExpiredBeforeFetchError,
      1,
      retryPolicyForJob(job, DEFAULT_RETRY_POLICY),
    );
    expect(decision.action).toBe('dead-letter');
    expect(decision.reason).toMatch(/^EXPIRED_BEFORE_FETCH: expired-before-fetch: /);
    expect(decision.reason).not.toContain(recording.recordingAccessToken);
    expect(await filesUnder(root).then((files) => files.filter((f) => f.startsWith('recordings/')))).toEqual(
      [],
    );
    // The loss is recorded for status, dated like the recording's key, without the token.
    const records = await filesUnder(join(root, 'audit/expired-before-fetch'));
    expect(records).toEqual([`msgraph/${SOURCE_ID}/2026/03/31/${recording.operationId}.wav.json`]);
    const record = await readFile(join(root, 'audit/expired-before-fetch', records[0] ?? ''), 'utf8');
    expect(JSON.parse(record)).toMatchObject({ recordingId: recording.operationId, provider: 'msgraph' });
    expect(record).not.toContain(recording.recordingAccessToken);
  });

  it('lets the verifier refuse an HTML page served with 200, storing nothing', async () => {
    // Prepare
    const { sandbox } = await start();
    const recording = sandbox.addRecording();
    sandbox.injectFault({ kind: 'html-page' });

    // Act
    const error = await handleArchiveJob(await jobFor(recording), deps).catch((thrown: unknown) => thrown);

    // Assess
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(/not audio or video: it starts like an HTML\/XML document/);
    expect(await filesUnder(root).then((files) => files.filter((f) => f.startsWith('recordings/')))).toEqual(
      [],
    );
  });

  it('retries a body reset mid-way within seconds, and archives on the next attempt', async () => {
    // Prepare
    const { sandbox } = await start();
    const recording = sandbox.addRecording({ size: 200_000 });
    sandbox.injectFault({ kind: 'reset-mid-body', afterBytes: 50_000 });
    const job = await jobFor(recording);

    // Act
    const error = await handleArchiveJob(job, deps).catch((thrown: unknown) => thrown);
    const decision = decideRetry(
      error as TransientError,
      1,
      retryPolicyForJob(job, DEFAULT_RETRY_POLICY),
      () => 1,
    );
    const retried = await handleArchiveJob(job, deps);

    // Assess
    expect(error).toBeInstanceOf(TransientError);
    expect(decision).toMatchObject({ action: 'retry' });
    expect(decision.action === 'retry' && decision.delaySeconds).toBeLessThanOrEqual(
      FETCH_NOW_RETRY_POLICY.transientBaseSeconds,
    );
    expect(retried).toMatchObject({ status: 'archived', sha256: recording.sha256 });
  });

  it('refuses a grant whose host is no longer allowed, without fetching', async () => {
    const { sandbox } = await start();
    const recording = sandbox.addRecording();
    const job = await jobFor(recording);
    const moved: FetchNowJob = { ...job, grant: { ...job.grant, url: 'https://evil.example.net/x' } };

    const error = await handleArchiveJob(moved, deps).catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(PermanentError);
    expect(sandbox.counters.recordingRequests).toBe(0);
  });

  it('redacts the token from a job written outside the queue', async () => {
    const { sandbox } = await start();
    const recording = sandbox.addRecording();
    const job: ArchiveJob = await jobFor(recording);

    const redacted = redactJobSecrets(job);

    expect(serialiseJob(redacted)).not.toContain(recording.recordingAccessToken);
    expect(redacted).toMatchObject({
      type: 'fetch-now',
      grant: { bearerToken: REDACTED, url: recording.recordingLocation },
    });
    expect(parseJob(serialiseJob(redacted))).toEqual(redacted);
    // A redacted job cannot fetch, and says why.
    await expect(handleArchiveJob(redacted, deps)).rejects.toBeInstanceOf(ExpiredBeforeFetchError);
  });
});

describe('GraphCallingBotSource outside webhooks', () => {
  let harness: GraphHarness | undefined;
  afterEach(async () => harness?.sandbox.close());

  it('declares itself webhook-only: nothing listed, delete and plain downloads refused loudly', async () => {
    harness = await startGraphHarness();
    const { source } = harness;
    const listed = [];
    for await (const recording of source.listRecordings({ from: new Date(0), to: new Date() }))
      listed.push(recording);
    const recording = {
      provider: 'msgraph' as const,
      sourceId: SOURCE_ID,
      recordingId: 'op',
      startedAt: new Date(),
      direction: 'unknown' as const,
      fileExtension: 'wav',
      raw: {},
    };

    expect(source.capabilities).toEqual({ list: false, delete: false });
    expect(listed).toEqual([]);
    await expect(source.deleteRecording(recording)).rejects.toThrow(/capabilities.delete is false/);
    await expect(source.openDownload(recording)).rejects.toBeInstanceOf(PermanentError);
  });
});
