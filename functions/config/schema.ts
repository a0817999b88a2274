/** The configuration file's schema: sources (via the provider descriptors) and the shared blocks. */
import * as z from 'zod';
import { PROVIDER_DESCRIPTORS } from '../providers';
import { isLoopbackHost } from '../providers/host-patterns';
import { retentionSettingsSchema } from './fields';
import { lifecycleSchema } from './lifecycle';
import { outcomeEventsConfigSchema } from './outcome-events';
import { type ProviderDescriptors, sourceSchema, sourceSchemaFor, subscribingPlatformUrl } from './sources';

const workerSchema = z
  .object({
    /** Multipart part size. Memory per upload is about partSizeMiB × (partsInFlight + 1). */
    partSizeMiB: z.number().int().min(5).max(512).default(8),
    partsInFlight: z.number().int().min(1).max(16).default(2),
    /** Local mode: jobs processed at once. */
    concurrency: z.number().int().min(1).max(64).default(4),
    /** AWS: the SQS event source's maximum concurrency per provider queue (2..1000). */
    maxConcurrency: z.number().int().min(2).max(1000).default(5),
    /** Receives before a job moves to the dead-letter queue. */
    maxReceiveCount: z.number().int().min(1).max(1000).default(10),
    timeoutSeconds: z.number().int().min(30).max(900).default(900),
    memoryMiB: z.number().int().min(256).max(10_240).default(512),
  })
  .strict();

const s3TargetSchema = z
  .object({
    bucket: z.string().min(3),
    region: z.string().default('us-east-1'),
    /** An S3-compatible endpoint (moto, a VPC endpoint); AWS's own when absent. */
    endpoint: z.url().optional(),
    forcePathStyle: z.boolean().default(false),
  })
  .strict();

/** The configuration's schema for these providers; `configSchema` is the shipped one. */
export function configSchemaFor(descriptors: ProviderDescriptors) {
  const sources = descriptors === PROVIDER_DESCRIPTORS ? sourceSchema : sourceSchemaFor(descriptors);
  return z
    .object({
      sources: z.array(sources).default([]),
      local: z
        .object({
          port: z.number().int().min(0).max(65_535).default(8787),
          host: z.string().default('127.0.0.1'),
          /** Local archive root; mirrors the bucket's keys. */
          archiveDir: z.string().default('./archive'),
          /** Dead letters, cursors and other local state. */
          stateDir: z.string().default('./.callvault'),
          /**
           * The URL at which platforms reach this machine's webhook server (a tunnel or reverse proxy in
           * front of host:port). When set, local mode creates and repairs the webhook subscriptions.
           */
          publicUrl: z
            .url()
            .refine((text) => ['http:', 'https:'].includes(new URL(text).protocol), 'use an http(s) URL')
            .optional(),
          /**
           * With `storage.s3`: a download still running after this long stops at its next part boundary,
           * leaves its multipart upload open and is queued again to continue over Range, as on Lambda at
           * `worker.timeoutSeconds` (README "Recordings that outlive an invocation"). Unset, or with the
           * archive folder, a download runs to its end.
           */
          jobDeadlineSeconds: z.number().int().min(1).optional(),
        })
        .strict()
        .default({ port: 8787, host: '127.0.0.1', archiveDir: './archive', stateDir: './.callvault' }),
      /** Local mode: store in this bucket instead of archiveDir. */
      storage: z.object({ s3: s3TargetSchema.optional() }).strict().default({}),
      sweep: z
        .object({
          enabled: z.boolean().default(true),
          lookbackHours: z
            .number()
            .min(1)
            .max(24 * 62)
            .default(48),
          intervalSeconds: z.number().int().min(60).default(300),
          /**
           * Most sweeps list only this many recent hours; one sweep each `deepEveryHours` (and a
           * process's first) lists the whole `lookbackHours` (README "Sweeps"). Unset: every sweep lists
           * the whole lookback. Worth setting where listing spends a request budget (RingCentral).
           */
          recentLookbackHours: z.number().min(1).optional(),
          deepEveryHours: z
            .number()
            .int()
            .min(1)
            .max(24 * 7)
            .default(24),
          /**
           * A recording a sweep queued is not queued again by later sweeps for this long (README "Sweeps and
           * duplicate jobs"); then the marker expires, so a lost job is queued again. 0: every sweep queues.
           */
          pendingMarkerHours: z
            .number()
            .min(0)
            .max(24 * 14)
            .default(6),
        })
        .strict()
        .superRefine((sweep, ctx) => {
          const recent = sweep.recentLookbackHours;
          if (recent === undefined) return;
          // A recent window shorter than two intervals leaves gaps a late or skipped run never lists.
          if (recent * 3_600 < 2 * sweep.intervalSeconds) {
            ctx.addIssue({
              code: 'custom',
              path: ['recentLookbackHours'],
              message: `must cover at least two sweep intervals (${(2 * sweep.intervalSeconds) / 3_600} h)`,
            });
          }
          if (recent >= sweep.lookbackHours) {
            ctx.addIssue({
              code: 'custom',
              path: ['recentLookbackHours'],
              message: `must be below sweep.lookbackHours (${sweep.lookbackHours})`,
            });
          }
          // Every instant must fall inside at least one deep sweep's window.
          if (sweep.deepEveryHours > sweep.lookbackHours) {
            ctx.addIssue({
              code: 'custom',
              path: ['deepEveryHours'],
              message: `must not exceed sweep.lookbackHours (${sweep.lookbackHours}), or some hours are never listed deep`,
            });
          }
        })
        .default({
          enabled: true,
          lookbackHours: 48,
          intervalSeconds: 300,
          deepEveryHours: 24,
          pendingMarkerHours: 6,
        }),
      worker: workerSchema.default(workerSchema.parse({})),
      retention: retentionSettingsSchema.optional(),
      lifecycle: lifecycleSchema.default(lifecycleSchema.parse({})),
      events: outcomeEventsConfigSchema,
      aws: z
        .object({
          stackName: z
            .string()
            .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/)
            .default('Callvault'),
          account: z
            .string()
            .regex(/^\d{12}$/)
            .optional(),
          region: z.string().optional(),
          /** Name of the archive bucket; generated when absent. */
          bucketName: z.string().optional(),
          /** Where alarms go; an SNS topic is created either way. */
          alarmEmail: z.email().optional(),
          logRetentionDays: z.number().int().min(1).default(90),
          /**
           * Reserve one concurrent execution for the retention and subscriptions functions. Off by default:
           * Lambda keeps 100 units unreserved, so an account whose concurrency quota is still the
           * new-account 10 or 50 cannot reserve any and the deploy would roll back. Runs never overlap
           * either way (a lease in the bucket, `state/leases/`); the reserve only caps them.
           */
          reserveConcurrency: z.boolean().default(false),
        })
        .strict()
        .default({ stackName: 'Callvault', logRetentionDays: 90, reserveConcurrency: false }),
    })
    .strict()
    .superRefine((config, ctx) => {
      const seen = new Set<string>();
      config.sources.forEach((source, index) => {
        if (seen.has(source.id)) {
          ctx.addIssue({
            code: 'custom',
            path: ['sources', index, 'id'],
            message: `duplicate source id "${source.id}"`,
          });
        }
        seen.add(source.id);
      });
      const publicUrl = config.local.publicUrl ? new URL(config.local.publicUrl) : undefined;
      if (publicUrl && publicUrl.protocol !== 'https:') {
        // Real platforms deliver only to https; plain http is for sandboxes on this machine.
        config.sources.forEach((source, index) => {
          const platform = subscribingPlatformUrl(source, descriptors);
          if (source.enabled && platform && !isLoopbackHost(new URL(platform).hostname)) {
            ctx.addIssue({
              code: 'custom',
              path: ['local', 'publicUrl'],
              message: `must use https: sources[${index}] ("${source.id}") at ${new URL(platform).host} delivers webhooks only to https`,
            });
          }
        });
      }
    });
}

export const configSchema = configSchemaFor(PROVIDER_DESCRIPTORS);

export type CallvaultConfig = z.infer<typeof configSchema>;
