import { z } from 'zod';
import { InvalidInputError } from './errors';
import { PROVIDERS, type ProviderName, type SourceRecording } from './recording';

/**
 * Queue messages. Small, versioned, and free of secrets: a job names what to fetch, the worker asks the
 * source for how. Two kinds:
 * - `recording`: one recording, described by the source's own listing (the API is the truth);
 * - `hint`: a webhook said something happened; the worker asks the source API which recordings exist.
 */
export const JOB_VERSION = 1;

const partySchema = z.object({
  number: z.string().optional(),
  name: z.string().optional(),
  extensionId: z.string().optional(),
  personId: z.string().optional(),
});

export const serialisedRecordingSchema = z.object({
  provider: z.enum(PROVIDERS),
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
});

const hintJobSchema = z.object({
  v: z.literal(JOB_VERSION),
  type: z.literal('hint'),
  provider: z.enum(PROVIDERS),
  sourceId: z.string().min(1),
  /** When the event happened, UTC; the worker searches the source around it. */
  eventTime: z.iso.datetime({ offset: true }),
  /** Provider-specific identifiers from the event (call id, recording id, extension...). */
  hint: z.record(z.string(), z.string()),
});

export const archiveJobSchema = z.discriminatedUnion('type', [recordingJobSchema, hintJobSchema]);
export type ArchiveJob = z.infer<typeof archiveJobSchema>;
export type RecordingJob = z.infer<typeof recordingJobSchema>;
export type HintJob = z.infer<typeof hintJobSchema>;

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

export function recordingFromJob(job: RecordingJob): SourceRecording {
  const { startedAt, endedAt, ...rest } = job.recording;
  return { ...rest, startedAt: new Date(startedAt), endedAt: endedAt ? new Date(endedAt) : undefined };
}

/** Where a job belongs: its provider's queue, and the source whose adapter handles it. */
export function jobTarget(job: ArchiveJob): { provider: ProviderName; sourceId: string } {
  return job.type === 'recording'
    ? { provider: job.recording.provider, sourceId: job.recording.sourceId }
    : { provider: job.provider, sourceId: job.sourceId };
}

/** A stable identity for log lines and de-duplication; never contains secrets. */
export function describeJob(job: ArchiveJob): string {
  return job.type === 'recording'
    ? `recording ${job.recording.provider}/${job.recording.sourceId}/${job.recording.recordingId}`
    : `hint ${job.provider}/${job.sourceId}@${job.eventTime}`;
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
