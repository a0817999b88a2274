/**
 * Issue 16 item 8, a burst of Graph calling-bot recordings against their short-lived download tokens.
 *
 * 200 calls end within one minute (the burst the Graph worker is sized for: GRAPH_BURST_RECORDINGS in
 * functions/providers/graph-calling-bot/descriptor.ts). Each call's recording appears on the Graph sandbox's
 * recording host when the call ends, with a `recordingAccessToken` that expires GRAPH_FETCH_WITHIN_SECONDS
 * later (the lifetime the worker is sized and alarmed for; the sandbox refuses an expired token with 401
 * as Graph does), and its signed `recordOperation` notification goes at once to the webhook handler.
 * The production adapters on moto: webhook handler → the msgraph SQS queue → the archive-worker handler,
 * fed what ReceiveMessage returns by as many concurrent "invocations" as the stack gives the Graph worker
 * (its batch size and maxConcurrency read from cdk/worker-sizing.ts, as the stack reads them) → S3 on
 * moto, versioned as deployed. Every recording is a 2-minute WAV (recordResponse's longest: 16 kHz,
 * 16-bit mono, 3.84 MB), downloaded over loopback HTTP from the sandbox at whatever pace it serves.
 *
 * Two shapes: the calls' ends spread evenly over the minute, and all 200 at once (the sizing's worst case).
 * Measured: the age of each message when a worker received it (now − SentTimestamp, what SQS's
 * ApproximateAgeOfOldestMessage reports for the oldest), each token's age when its job ended, every job's
 * duration, expired-token refusals at the sandbox, dead letters, and each copy's SHA-256 against the
 * sandbox's.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import { CreateBucketCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { workerEventSourceSettings } from '../cdk/worker-sizing';
import { createArchiveWorkerHandler } from '../functions/archive-worker';
import { createAwsRuntime } from '../functions/composition/aws-runtime';
import { parseConfig } from '../functions/config';
import { recordingKey } from '../functions/core/keys';
import { METRICS_NAMESPACE } from '../functions/observability/names';
import {
  GRAPH_BURST_RECORDINGS,
  GRAPH_FETCH_WITHIN_SECONDS,
  GRAPH_JOB_SECONDS,
} from '../functions/providers/graph-calling-bot/descriptor';
import { createWebhookHandler } from '../functions/webhook';
import {
  type GraphSandboxRecording,
  graphBotSourceFields,
  startGraphSandbox,
} from '../sandbox/providers/graph-calling-bot-sandbox';
import { startMoto } from '../test/support/moto';
import { createQueue, deleteSucceeded, queueDepth, receiveRecords } from '../test/support/sqs-records';
import { TWO_MINUTE_WAV_BYTES } from './graph-calling-bot';
import { onCleanup } from './lib/processes';
import { round, type Summary, summarise } from './lib/stats';

const SOURCE_ID = 'bench-burst';
const BUCKET = 'callvault-bench-burst';

export type BurstShape = 'spread over 60 s' | 'all at once';

export interface BurstRun {
  shape: BurstShape;
  recordings: number;
  /** Copies whose sidecar SHA-256 matches the sandbox's body. */
  verified: number;
  expiredTokenRefusals: number;
  deadLetters: number;
  /** Oldest age a message had when a worker received it. */
  oldestMessageAgeSeconds: number;
  /** Oldest token (call end → job end) among the fetched recordings. */
  oldestTokenAtJobEndSeconds: number;
  jobSeconds: Summary;
  /** First call end → last job end. */
  wallSeconds: number;
}

export interface BurstBenchSummary {
  recordings: number;
  recordingBytes: number;
  tokenLifetimeSeconds: number;
  concurrency: number;
  batchSize: number;
  /** The planning time per job the concurrency was derived from, and what the concurrency allows. */
  planningJobSeconds: number;
  toleratedJobSeconds: number;
  runs: BurstRun[];
}

export async function measureBurst(
  options: { shapes: readonly BurstShape[] },
  log: (line: string) => void,
): Promise<BurstBenchSummary> {
  const recordings = GRAPH_BURST_RECORDINGS;
  const tokenLifetimeSeconds = GRAPH_FETCH_WITHIN_SECONDS;
  const moto = await startMoto();
  const removeMoto = onCleanup('moto (burst)', () => moto.stop());
  const runs: BurstRun[] = [];
  let sizing = { batchSize: 0, maxConcurrency: 0 };
  // The handlers' single metrics would print an EMF line per recording (each one reads this variable
  // when it is made); the bench reads none of them.
  const metricsWere = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  try {
    for (const shape of options.shapes) {
      await moto.reset();
      const sandbox = await startGraphSandbox({
        host: '127.0.0.1',
        recordingTokenTtlSeconds: tokenLifetimeSeconds,
      });
      const removeSandbox = onCleanup('graph sandbox (burst)', () => sandbox.close());
      try {
        const config = parseConfig({
          sources: [graphBotSourceFields(sandbox, SOURCE_ID)],
        });
        sizing = workerEventSourceSettings('msgraph', config, config.sources);
        await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
        await moto.s3.send(
          new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }),
        );
        const deadLetters = await createQueue(moto.sqs, 'callvault-msgraph-dlq');
        const queue = await createQueue(moto.sqs, 'callvault-msgraph', {
          deadLetter: deadLetters,
          maxReceiveCount: config.worker.maxReceiveCount,
          visibilityTimeoutSeconds: 120,
        });
        const runtime = createAwsRuntime(
          {
            config,
            bucket: BUCKET,
            queueUrls: { msgraph: queue.url },
            deadLetterQueueUrls: { msgraph: deadLetters.url },
            sourceSecrets: {},
          },
          { s3: moto.s3, sqs: moto.sqs },
        );
        const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'callvault-bench' });
        const webhook = createWebhookHandler(() => runtime, metrics);
        const worker = createArchiveWorkerHandler(() => runtime, {}, metrics);
        const event = (body: string, token: string): APIGatewayProxyEventV2 => ({
          version: '2.0',
          routeKey: 'POST /webhooks/msgraph/{sourceId}',
          rawPath: `/webhooks/msgraph/${SOURCE_ID}`,
          rawQueryString: '',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          pathParameters: { sourceId: SOURCE_ID },
          requestContext: { http: { method: 'POST' } } as APIGatewayProxyEventV2['requestContext'],
          body: Buffer.from(body).toString('base64'),
          isBase64Encoded: true,
        });
        // The signing keys are fetched on the first notification: warm them outside the burst, as a
        // running webhook function would have them.
        await webhook(event('{"value":[]}', await sandbox.signNotificationToken())).catch(() => undefined);

        const made: GraphSandboxRecording[] = [];
        const tokenOf = new Map<string, number>();
        const jobEnds = new Map<string, number>();
        const jobSeconds: number[] = [];
        let oldestAgeMs = 0;
        let delivered = false;
        let webhookErrors = 0;
        const started = Date.now();
        const spacingMs = shape === 'all at once' ? 0 : 60_000 / recordings;
        const deliveries = (async () => {
          const pending: Promise<void>[] = [];
          for (let i = 0; i < recordings; i++) {
            const due = started + i * spacingMs;
            if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
            const recording = sandbox.addRecording({ size: TWO_MINUTE_WAV_BYTES });
            made.push(recording);
            tokenOf.set(recording.operationId, Date.now());
            pending.push(
              (async () => {
                const response = await webhook(
                  event(sandbox.completedNotification(recording), await sandbox.signNotificationToken()),
                );
                if (response.statusCode !== 202) webhookErrors += 1;
              })(),
            );
          }
          await Promise.all(pending);
          delivered = true;
        })();
        const invocation = async () => {
          let idle = 0;
          for (;;) {
            const records = await receiveRecords(moto.sqs, queue, {
              maxMessages: sizing.batchSize,
              waitTimeSeconds: 1,
            });
            if (records.length === 0) {
              if (delivered && (await queueDepth(moto.sqs, queue)) === 0 && ++idle >= 2) return;
              continue;
            }
            idle = 0;
            const receivedAt = Date.now();
            for (const record of records) {
              oldestAgeMs = Math.max(oldestAgeMs, receivedAt - Number(record.attributes.SentTimestamp));
            }
            const response = await worker({ Records: records }, { getRemainingTimeInMillis: () => 900_000 });
            const endedAt = Date.now();
            jobSeconds.push((endedAt - receivedAt) / 1000);
            for (const record of records) {
              const operationId = operationOf(record.body);
              if (operationId) jobEnds.set(operationId, endedAt);
            }
            await deleteSucceeded(moto.sqs, queue, records, response);
          }
        };
        await Promise.all([deliveries, ...Array.from({ length: sizing.maxConcurrency }, invocation)]);
        const wallSeconds = (Math.max(...jobEnds.values()) - started) / 1000;
        let verified = 0;
        let oldestTokenMs = 0;
        for (const recording of made) {
          const end = jobEnds.get(recording.operationId);
          const issued = tokenOf.get(recording.operationId);
          if (end !== undefined && issued !== undefined)
            oldestTokenMs = Math.max(oldestTokenMs, end - issued);
          for (const day of [new Date(), new Date(Date.now() - 86_400_000)]) {
            const key = recordingKey({
              provider: 'msgraph',
              sourceId: SOURCE_ID,
              recordingId: recording.operationId,
              startedAt: day,
              fileExtension: 'wav',
            });
            const sidecar = await runtime.store.readSidecar(key).catch(() => undefined);
            if (sidecar) {
              if (sidecar.sha256 === recording.sha256) verified += 1;
              break;
            }
          }
        }
        const run: BurstRun = {
          shape,
          recordings,
          verified,
          expiredTokenRefusals: sandbox.counters.expiredTokenRequests,
          deadLetters: await queueDepth(moto.sqs, deadLetters),
          oldestMessageAgeSeconds: round(oldestAgeMs / 1000, 2),
          oldestTokenAtJobEndSeconds: round(oldestTokenMs / 1000, 2),
          jobSeconds: summarise(jobSeconds),
          wallSeconds: round(wallSeconds, 1),
        };
        if (webhookErrors > 0)
          throw new Error(`burst bench: ${webhookErrors} notifications were not accepted`);
        runs.push(run);
        log(
          `burst: ${shape}: ${run.verified} of ${recordings} verified, ${run.expiredTokenRefusals} expired-token refusals, ${run.deadLetters} dead letters; oldest message ${run.oldestMessageAgeSeconds} s, oldest token at job end ${run.oldestTokenAtJobEndSeconds} s (of ${tokenLifetimeSeconds}); job median ${round(run.jobSeconds.median, 2)} s, max ${round(run.jobSeconds.max, 2)} s; ${run.wallSeconds} s in all at concurrency ${sizing.maxConcurrency}`,
        );
      } finally {
        await removeSandbox();
      }
    }
  } finally {
    if (metricsWere === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
    else process.env.POWERTOOLS_METRICS_DISABLED = metricsWere;
    await removeMoto();
  }
  return {
    recordings,
    recordingBytes: TWO_MINUTE_WAV_BYTES,
    tokenLifetimeSeconds,
    concurrency: sizing.maxConcurrency,
    batchSize: sizing.batchSize,
    planningJobSeconds: GRAPH_JOB_SECONDS,
    toleratedJobSeconds: round((sizing.maxConcurrency * tokenLifetimeSeconds) / recordings, 2),
    runs,
  };
}

/** The operation id a fetch-now job carries (its recording id). */
function operationOf(body: string): string | undefined {
  try {
    const job = JSON.parse(body) as { recording?: { recordingId?: string } };
    return job.recording?.recordingId;
  } catch {
    return undefined;
  }
}
