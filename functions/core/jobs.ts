import * as z from 'zod';
import { continuationSchema } from './continuation';
import { InvalidInputError } from './errors';
import { type ProviderName, providerNameSchema, type SourceRecording } from './recording';
import type { RetryPolicy } from './retry-policy';

/**
 * Queue messages. Small, versioned, and free of secrets: a job names what to fetch, the worker asks the
 * source for how. Three kinds:
 * - `recording`: one recording, described by the source's own listing (the API is the truth);
 * - `hint`: a webhook said something happened; the worker asks the source API which recordings exist;
 * - `fetch-now`: an authenticated notification handed us a location and a short-lived token, and the
 *   platform discards the file soon (Microsoft Graph `recordResponse`). The token is the one secret a
 *   job may carry: it is never logged, never put in a sidecar, and `redactJobSecrets` removes it from
 *   anything written outside the queue.
 */
export const JOB_VERSION = 1;

const partySchema = z.object({
  number: z.string().optional(),
  name: z.string().optional(),
  extensionId: z.string().optional(),
  personId: z.string().optional(),
});

export const serialisedRecordingSchema = z.object({
  provider: providerNameSchema,
  sourceId: z.string().min(1),
  recordingId: z.string().min(1),
  callId: z.string().optional(),
  startedAt: z.iso.datetime({ offset: true }),
  endedAt: z.iso.datetime({ offset: true }).optional(),
  durationSeconds: z.number().nonnegative().optional(),
  direction: z.enum(['inbound', 'outbound', 'internal', 'unknown']),
  from: partySchema.optional(),
  to: partySchema.optional(),
  extension: z.object({ id: z.string(), name: z.string().optional() }).optional(),
  callerStatus: z.string().optional(),
  calleeStatus: z.string().optional(),
  callResult: z.string().optional(),
  parties: z.array(partySchema).optional(),
  size: z.number().int().nonnegative().optional(),
  contentType: z.string().optional(),
  fileExtension: z.string().min(1),
  raw: z.unknown(),
});

const recordingJobSchema = z.object({
  v: z.literal(JOB_VERSION),
  type: z.literal('recording'),
  recording: serialisedRecordingSchema,
  /** A download that outlived an invocation continues from here (core/continuation.ts). */
  continuation: continuationSchema.optional(),
});

const hintJobSchema = z.object({
  v: z.literal(JOB_VERSION),
  type: z.literal('hint'),
  provider: providerNameSchema,
  sourceId: z.string().min(1),
  /** When the event happened, UTC; the worker searches the source around it. */
  eventTime: z.iso.datetime({ offset: true }),
  /** Provider-specific identifiers from the event (call id, recording id, extension...). */
  hint: z.record(z.string(), z.string()),
});

/** Where a `fetch-now` recording is, and the bearer token that opens it until it expires. */
export const downloadGrantSchema = z
  .object({
    url: z.string().min(1),
    bearerToken: z.string().min(1),
    /** When the notification carrying the grant arrived, UTC. */
    receivedAt: z.iso.datetime({ offset: true }),
  })
  .strict();
export type DownloadGrant = z.infer<typeof downloadGrantSchema>;

const fetchNowJobSchema = z.object({
  v: z.literal(JOB_VERSION),
  type: z.literal('fetch-now'),
  /** What is known before any byte is fetched; `fileExtension` is the expected one until the bytes say. */
  recording: serialisedRecordingSchema,
  grant: downloadGrantSchema,
});

export const archiveJobSchema = z.discriminatedUnion('type', [
  recordingJobSchema,
  hintJobSchema,
  fetchNowJobSchema,
]);
export type ArchiveJob = z.infer<typeof archiveJobSchema>;
export type RecordingJob = z.infer<typeof recordingJobSchema>;
export type HintJob = z.infer<typeof hintJobSchema>;
export type FetchNowJob = z.infer<typeof fetchNowJobSchema>;

export function recordingJob(recording: SourceRecording): RecordingJob {
  return {
    v: JOB_VERSION,
    type: 'recording',
    recording: {
      ...recording,
      startedAt: recording.startedAt.toISOString(),
      endedAt: recording.endedAt?.toISOString(),
    },
  };
}

export function fetchNowJob(recording: SourceRecording, grant: DownloadGrant): FetchNowJob {
  return { ...recordingJob(recording), type: 'fetch-now', grant };
}

export function recordingFromJob(job: RecordingJob | FetchNowJob): SourceRecording {
  const { startedAt, endedAt, ...rest } = job.recording;
  return { ...rest, startedAt: new Date(startedAt), endedAt: endedAt ? new Date(endedAt) : undefined };
}

/** Where a job belongs: its provider's queue, and the source whose adapter handles it. */
export function jobTarget(job: ArchiveJob): { provider: ProviderName; sourceId: string } {
  return job.type === 'hint'
    ? { provider: job.provider, sourceId: job.sourceId }
    : { provider: job.recording.provider, sourceId: job.recording.sourceId };
}

/** A stable identity for log lines and de-duplication; never contains secrets. */
export function describeJob(job: ArchiveJob): string {
  return job.type === 'hint'
    ? `hint ${job.provider}/${job.sourceId}@${job.eventTime}`
    : `${job.type} ${job.recording.provider}/${job.recording.sourceId}/${job.recording.recordingId}`;
}

export const REDACTED = '[redacted]';

/**
 * The job as it may be written outside the queue (dead-letter files, saved state, status output): a
 * `fetch-now` grant loses its token. Such a job can no longer be fetched, which is what the platform's
 * expiry makes of it anyway.
 */
export function redactJobSecrets(job: ArchiveJob): ArchiveJob {
  if (job.type !== 'fetch-now') return job;
  return { ...job, grant: { ...job.grant, bearerToken: REDACTED } };
}

/**
 * A `fetch-now` token lives minutes, so its transient failures are retried within seconds rather than
 * the default's minutes: a slow retry would only turn a network blip into an expired token.
 */
export const FETCH_NOW_RETRY_POLICY: RetryPolicy = {
  notReadyBaseSeconds: 2,
  notReadyMaxSeconds: 30,
  transientBaseSeconds: 2,
  transientMaxSeconds: 30,
  rateLimitDefaultSeconds: 5,
};

/** The retry policy for one job: `fetch-now` jobs race their token's expiry, the others use `policy`. */
export function retryPolicyForJob(job: ArchiveJob, policy: RetryPolicy): RetryPolicy {
  return job.type === 'fetch-now' ? FETCH_NOW_RETRY_POLICY : policy;
}

export function serialiseJob(job: ArchiveJob): string {
  return JSON.stringify(job);
}

export function parseJob(body: string): ArchiveJob {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new InvalidInputError('job body is not JSON', { cause: error });
  }
  const parsed = archiveJobSchema.safeParse(value);
  if (!parsed.success) {
    throw new InvalidInputError(
      `job does not match schema v${JOB_VERSION}: ${z.prettifyError(parsed.error)}`,
    );
  }
  return parsed.data;
}
