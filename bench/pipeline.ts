/**
 * Measurement 3: a burst of webhooks for small recordings through the whole pipeline, in local mode and on
 * the production adapters, counting wall time until every recording is archived and any duplicate.
 *
 * - local: `startLocalHost` with a FsArchiveStore in a temp folder and the in-process queue; webhooks are
 *   POSTed to its HTTP server with bounded concurrency.
 * - aws: the webhook handler → SQS (moto) → the archive worker handler fed what ReceiveMessage returns, by
 *   a few concurrent "invocations" (batch size and concurrency as deployed) → S3 (moto), versioned bucket.
 *
 * The Telphin sandbox is the platform in both; every archived copy is checked against its SHA-256.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  PutBucketVersioningCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { createArchiveWorkerHandler } from '../functions/archive-worker';
import { createAwsRuntime } from '../functions/composition/aws-runtime';
import { parseConfig } from '../functions/config';
import { recordingKey } from '../functions/core/keys';
import { silentLog } from '../functions/core/ports';
import { startLocalHost } from '../functions/local/local-host';
import { createWebhookHandler } from '../functions/webhook';
import {
  type SandboxRecording,
  startTelphinSandbox,
  type TelphinSandbox,
  telphinHangupWebhookBody,
} from '../sandbox/providers/telphin-sandbox';
import { startMoto, TEST_CREDENTIALS, TEST_REGION } from '../test/support/moto';
import {
  createQueue,
  deleteSucceeded,
  queueDepth,
  receiveRecords,
  type TestQueue,
} from '../test/support/sqs-records';
import { onCleanup } from './lib/processes';
import { round, summarise } from './lib/stats';

const SOURCE_ID = 'bench';
const WEBHOOK_SECRET = 'bench-webhook-secret-0123456789abcdef';
const BUCKET = 'callvault-bench-pipeline';
/** As deployed: cdk/worker-sizing.ts WORKER_BATCH_SIZE, config worker.maxConcurrency default. */
const SQS_BATCH_SIZE = 2;
const SHORT_RETRIES = {
  transientBaseSeconds: 1,
  transientMaxSeconds: 2,
  notReadyBaseSeconds: 1,
  notReadyMaxSeconds: 2,
};

export interface PipelineOptions {
  recordings: number;
  runs: number;
  webhookConcurrency: number;
  /** Concurrent worker "invocations" on the AWS path. */
  invocations: number;
  modes: readonly ('local' | 'aws')[];
}

export interface PipelineSample {
  mode: 'local' | 'aws';
  run: number;
  recordings: number;
  totalBytes: number;
  wallSeconds: number;
  recordingsPerSecond: number;
  /** Time until every webhook was answered (they are accepted faster than archived). */
  webhooksSeconds: number;
  webhookLatencyMsP50: number;
  webhookLatencyMsP95: number;
  webhookErrors: number;
  archived: number;
  /** Objects or versions beyond one per recording (and sidecar); must be 0. */
  duplicates: number;
  missing: number;
  hashMismatches: number;
  deadLetters: number;
  /** AWS path: messages reported failed and retried (not-ready, rate limits). */
  retriedMessages?: number;
  leftovers: number;
}

/** 20–100 KB, spread deterministically; start times spread over the last 20 hours like a day of calls. */
function addRecordings(sandbox: TelphinSandbox, count: number): SandboxRecording[] {
  const now = Date.now();
  return Array.from({ length: count }, (_, index) =>
    sandbox.addRecording({
      startedAt: new Date(now - 10 * 60_000 - Math.floor((index * 20 * 3_600_000) / count)),
      durationSeconds: 30 + ((index * 37) % 240),
      flow: index % 2 ? 'in' : 'out',
      size: 20_000 + ((index * 7_919) % 80_001),
    }),
  );
}

/** Telphin lists call times in whole seconds; the key uses the listed start. */
function keyOf(recording: SandboxRecording): string {
  return recordingKey({
    provider: 'telphin',
    sourceId: SOURCE_ID,
    recordingId: recording.recordUuid,
    startedAt: new Date(Math.floor(recording.startedAt.getTime() / 1000) * 1000),
    fileExtension: 'mp3',
  });
}

/** Runs `task` over `items` with at most `limit` at once; returns each call's latency in ms. */
async function withConcurrency<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        const started = performance.now();
        await task(item);
        latencies.push(performance.now() - started);
      }
    }),
  );
  return latencies;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function sourceConfig(sandbox: TelphinSandbox) {
  return {
    provider: 'telphin' as const,
    id: SOURCE_ID,
    apiUrl: sandbox.url,
    allowedDownloadHosts: [new URL(sandbox.url).hostname, new URL(sandbox.storageOrigin).hostname],
  };
}

async function countFiles(directory: string): Promise<{ recordings: string[]; sidecars: number }> {
  const recordings: string[] = [];
  let sidecars = 0;
  const entries = await readdir(directory, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    if (entry.name.endsWith('.json')) sidecars += 1;
    else recordings.push(join(entry.parentPath, entry.name));
  }
  return { recordings, sidecars };
}

// ---------------------------------------------------------------- local mode

async function runLocal(options: PipelineOptions, run: number): Promise<PipelineSample> {
  const scratch = await mkdtemp(join(tmpdir(), 'callvault-bench-local-'));
  const sandbox = await startTelphinSandbox();
  const removeSandbox = onCleanup('telphin sandbox', () => sandbox.close());
  try {
    const recordings = addRecordings(sandbox, options.recordings);
    const config = parseConfig({
      sources: [
        {
          ...sourceConfig(sandbox),
          clientId: sandbox.clientId,
          clientSecret: sandbox.clientSecret,
          webhookSecret: WEBHOOK_SECRET,
        },
      ],
      local: { port: 0, archiveDir: join(scratch, 'archive'), stateDir: join(scratch, 'state') },
      sweep: { enabled: false },
    });
    const host = await startLocalHost({
      config,
      log: silentLog,
      scheduleSweep: false,
      retryPolicy: SHORT_RETRIES,
    });
    const removeHost = onCleanup('local host', () => host.stop());
    try {
      const hookUrl = `${host.webhookUrl}/webhooks/telphin/${SOURCE_ID}?token=${WEBHOOK_SECRET}`;
      let webhookErrors = 0;
      const started = performance.now();
      const latencies = await withConcurrency(recordings, options.webhookConcurrency, async (recording) => {
        const response = await fetch(hookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: telphinHangupWebhookBody(recording),
        });
        await response.arrayBuffer();
        if (response.status !== 200) webhookErrors += 1;
      });
      const webhooksSeconds = (performance.now() - started) / 1000;
      await host.idle();
      const wallSeconds = (performance.now() - started) / 1000;

      let hashMismatches = 0;
      let missing = 0;
      for (const recording of recordings) {
        const sidecar = await host.store.readSidecar(keyOf(recording));
        if (!sidecar) missing += 1;
        else if (sidecar.sha256 !== sandbox.expectedSha256(recording.recordUuid)) hashMismatches += 1;
      }
      const files = await countFiles(join(scratch, 'archive', 'recordings'));
      const leftovers = (await readdir(join(scratch, 'archive', '.callvault-tmp')).catch(() => [])).length;
      const deadLetters = (await readdir(join(scratch, 'state', 'dead-letter')).catch(() => [])).length;
      const totalBytes = recordings.reduce((sum, recording) => sum + recording.size, 0);
      return {
        mode: 'local',
        run,
        recordings: recordings.length,
        totalBytes,
        wallSeconds: round(wallSeconds, 2),
        recordingsPerSecond: round(recordings.length / wallSeconds),
        webhooksSeconds: round(webhooksSeconds, 2),
        webhookLatencyMsP50: round(percentile(latencies, 50), 2),
        webhookLatencyMsP95: round(percentile(latencies, 95), 2),
        webhookErrors,
        archived: host.progress().archived,
        duplicates:
          Math.max(0, files.recordings.length - (recordings.length - missing)) +
          Math.max(0, files.sidecars - (recordings.length - missing)),
        missing,
        hashMismatches,
        deadLetters,
        leftovers,
      };
    } finally {
      await removeHost();
    }
  } finally {
    await removeSandbox();
    await rm(scratch, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- production adapters on moto

async function* listVersions(s3: S3Client, prefix: string): AsyncIterable<ListObjectVersionsCommandOutput> {
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  for (;;) {
    const page = await s3.send(
      new ListObjectVersionsCommand({
        Bucket: BUCKET,
        Prefix: prefix,
        KeyMarker: keyMarker,
        VersionIdMarker: versionIdMarker,
      }),
    );
    yield page;
    if (!page.IsTruncated) return;
    keyMarker = page.NextKeyMarker;
    versionIdMarker = page.NextVersionIdMarker;
  }
}

async function runAws(options: PipelineOptions, run: number): Promise<PipelineSample> {
  const moto = await startMoto();
  const removeMoto = onCleanup('moto (pipeline)', () => moto.stop());
  const sandbox = await startTelphinSandbox();
  const removeSandbox = onCleanup('telphin sandbox', () => sandbox.close());
  try {
    const recordings = addRecordings(sandbox, options.recordings);
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    // As deployed: the archive bucket is versioned, so an overwrite would show as a second version.
    await moto.s3.send(
      new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    const deadLetters = await createQueue(moto.sqs, 'callvault-telphin-dlq');
    const queue: TestQueue = await createQueue(moto.sqs, 'callvault-telphin', {
      deadLetter: deadLetters,
      maxReceiveCount: 10,
    });
    const secrets = new SecretsManagerClient({
      endpoint: moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
    const secret = await secrets.send(
      new CreateSecretCommand({
        Name: `callvault/bench/${SOURCE_ID}`,
        SecretString: JSON.stringify({
          clientId: sandbox.clientId,
          clientSecret: sandbox.clientSecret,
          webhookSecret: WEBHOOK_SECRET,
        }),
      }),
    );
    const config = parseConfig({ sources: [sourceConfig(sandbox)] });
    const runtime = createAwsRuntime(
      {
        config,
        bucket: BUCKET,
        queueUrls: { telphin: queue.url },
        deadLetterQueueUrls: { telphin: deadLetters.url },
        sourceSecrets: { [SOURCE_ID]: secret.ARN ?? '' },
      },
      { s3: moto.s3, sqs: moto.sqs, secrets },
    );
    const webhook = createWebhookHandler(() => runtime);
    const worker = createArchiveWorkerHandler(() => runtime, { retryPolicy: SHORT_RETRIES });
    const event = (body: string): APIGatewayProxyEventV2 => ({
      version: '2.0',
      routeKey: 'POST /webhooks/telphin/{sourceId}',
      rawPath: `/webhooks/telphin/${SOURCE_ID}`,
      rawQueryString: `token=${WEBHOOK_SECRET}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      pathParameters: { sourceId: SOURCE_ID },
      requestContext: { http: { method: 'POST' } } as APIGatewayProxyEventV2['requestContext'],
      body: Buffer.from(body).toString('base64'),
      isBase64Encoded: true,
    });
    const depth = (target: TestQueue) => queueDepth(moto.sqs, target);

    let webhookErrors = 0;
    let webhooksDone = false;
    let retriedMessages = 0;
    let lastBatchEnded = performance.now();
    const started = performance.now();
    const webhooks = withConcurrency(recordings, options.webhookConcurrency, async (recording) => {
      const response = await webhook(event(telphinHangupWebhookBody(recording)));
      if (response.statusCode !== 200) webhookErrors += 1;
    }).finally(() => {
      webhooksDone = true;
    });
    // Lambda's event source: a few concurrent pollers, each invoking the handler with one batch at a time.
    const invocation = async () => {
      let idlePolls = 0;
      for (;;) {
        const records = await receiveRecords(moto.sqs, queue, {
          maxMessages: SQS_BATCH_SIZE,
          waitTimeSeconds: 1,
        });
        if (records.length === 0) {
          if (webhooksDone && (await depth(queue)) === 0 && ++idlePolls >= 2) return;
          continue;
        }
        idlePolls = 0;
        const response = await worker({ Records: records }, { getRemainingTimeInMillis: () => 900_000 });
        retriedMessages += response.batchItemFailures.length;
        await deleteSucceeded(moto.sqs, queue, records, response);
        lastBatchEnded = performance.now();
      }
    };
    const latencies = await webhooks;
    const webhooksSeconds = (performance.now() - started) / 1000;
    await Promise.all(Array.from({ length: options.invocations }, invocation));
    const wallSeconds = (lastBatchEnded - started) / 1000;

    // Every version under recordings/: one per recording and one per sidecar, nothing else.
    const versions = new Map<string, number>();
    let deleteMarkers = 0;
    for await (const page of listVersions(moto.s3, 'recordings/')) {
      for (const version of page.Versions ?? []) {
        if (version.Key) versions.set(version.Key, (versions.get(version.Key) ?? 0) + 1);
      }
      deleteMarkers += page.DeleteMarkers?.length ?? 0;
    }
    let duplicates = deleteMarkers;
    for (const count of versions.values()) duplicates += count - 1;
    const expectedKeys = new Set(
      recordings.flatMap((recording) => [keyOf(recording), `${keyOf(recording)}.json`]),
    );
    for (const key of versions.keys()) if (!expectedKeys.has(key)) duplicates += 1;

    let missing = 0;
    let hashMismatches = 0;
    await withConcurrency(recordings, 16, async (recording) => {
      try {
        const head = await moto.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: keyOf(recording) }));
        if (head.Metadata?.sha256 !== sandbox.expectedSha256(recording.recordUuid)) hashMismatches += 1;
        if (!versions.has(`${keyOf(recording)}.json`)) missing += 1;
      } catch {
        missing += 1;
      }
    });
    const uploads = await moto.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
    return {
      mode: 'aws',
      run,
      recordings: recordings.length,
      totalBytes: recordings.reduce((sum, recording) => sum + recording.size, 0),
      wallSeconds: round(wallSeconds, 2),
      recordingsPerSecond: round(recordings.length / wallSeconds),
      webhooksSeconds: round(webhooksSeconds, 2),
      webhookLatencyMsP50: round(percentile(latencies, 50), 2),
      webhookLatencyMsP95: round(percentile(latencies, 95), 2),
      webhookErrors,
      archived: recordings.length - missing,
      duplicates,
      missing,
      hashMismatches,
      deadLetters: await depth(deadLetters),
      retriedMessages,
      leftovers: uploads.Uploads?.length ?? 0,
    };
  } finally {
    await removeSandbox();
    await removeMoto();
  }
}

// ---------------------------------------------------------------- measurement

export interface PipelineSummary {
  mode: 'local' | 'aws';
  runs: number;
  recordings: number;
  wallSeconds: ReturnType<typeof summarise>;
  recordingsPerSecond: ReturnType<typeof summarise>;
  webhookLatencyMsP50: number;
  /** Summed over runs: every one must be 0. */
  duplicates: number;
  missing: number;
  hashMismatches: number;
  deadLetters: number;
  leftovers: number;
  verdict: { noDuplicates: boolean; nothingMissing: boolean };
}

export async function measurePipeline(
  options: PipelineOptions,
  progress: (line: string) => void,
): Promise<{ samples: PipelineSample[]; summaries: PipelineSummary[] }> {
  const samples: PipelineSample[] = [];
  for (let run = 1; run <= options.runs; run++) {
    for (const mode of options.modes) {
      const sample = mode === 'local' ? await runLocal(options, run) : await runAws(options, run);
      samples.push(sample);
      progress(
        `pipeline ${mode} run ${run}: ${sample.recordings} recordings in ${sample.wallSeconds} s ` +
          `(${sample.recordingsPerSecond}/s), duplicates ${sample.duplicates}, missing ${sample.missing}`,
      );
    }
  }
  const summaries = options.modes.map((mode): PipelineSummary => {
    const mine = samples.filter((sample) => sample.mode === mode);
    const total = (field: 'duplicates' | 'missing' | 'hashMismatches' | 'deadLetters' | 'leftovers') =>
      mine.reduce((sum, sample) => sum + sample[field], 0);
    return {
      mode,
      runs: mine.length,
      recordings: options.recordings,
      wallSeconds: summarise(mine.map((sample) => sample.wallSeconds)),
      recordingsPerSecond: summarise(mine.map((sample) => sample.recordingsPerSecond)),
      webhookLatencyMsP50: summarise(mine.map((sample) => sample.webhookLatencyMsP50)).median,
      duplicates: total('duplicates'),
      missing: total('missing'),
      hashMismatches: total('hashMismatches'),
      deadLetters: total('deadLetters'),
      leftovers: total('leftovers'),
      verdict: {
        noDuplicates: total('duplicates') === 0,
        nothingMissing: total('missing') + total('hashMismatches') === 0,
      },
    };
  });
  return { samples, summaries };
}
