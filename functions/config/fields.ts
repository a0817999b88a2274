/**
 * Field schemas that the configuration and every provider's source schema share. They live apart from
 * `config/schema.ts` so a provider's schema can use them without importing the module that imports it.
 */
import * as z from 'zod';

export const sourceIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/,
    'use 1-63 letters, digits, "-" or "_" (it becomes part of S3 keys and URLs)',
  );

/**
 * A host name (or `[IPv6]`), optionally with a port, that download URLs may point at. `*.example.com`
 * matches every subdomain of example.com, not example.com itself.
 */
export const hostPatternSchema = z
  .string()
  .regex(
    /^((\*\.)?[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/,
    'expected a host name like storage.example.com',
  )
  .refine((pattern) => !/^\*\.[^.:]+\.?(:\d+)?$/.test(pattern), {
    message:
      'a wildcard needs a domain of at least two labels (like *.example.com); *.com would allow a whole top-level domain',
  });

export const retentionSettingsSchema = z
  .object({
    /** Recordings whose call started longer ago than this are deleted at the source once verified. */
    deleteFromSourceAfterDays: z.number().int().min(1).default(30),
    /** Until set to false explicitly, retention only reports and audits what it would delete. */
    dryRun: z.boolean().default(true),
    /** The archived copy must be at least this old before it vouches for a delete. */
    gracePeriodHours: z.number().min(0).default(24),
    maxDeletesPerRun: z.number().int().min(0).default(500),
    /** Local mode: how often retention runs. On AWS the schedule is derived from it (daily by default). */
    intervalSeconds: z.number().int().min(60).default(86_400),
    /** Re-read and hash this share of the copies (0..1) before deleting; 1 re-reads every copy. */
    deepVerifySampleRate: z.number().min(0).max(1).default(0),
    /** Stops every delete when true; checked before each one. On AWS an SSM parameter can also flip it. */
    killSwitch: z.boolean().default(false),
    /** How far before the cutoff each run looks for recordings still at the source. */
    scanBackDays: z.number().int().min(1).max(3660).default(400),
  })
  .strict();
export type RetentionSettings = z.infer<typeof retentionSettingsSchema>;

/** Tag `retention-class` of a source's objects; lifecycle rules can act per class. */
export const retentionClassSchema = z
  .string()
  .regex(/^[a-z0-9-]{1,32}$/)
  .default('standard');

/**
 * A KMS key by its key ARN. IAM matches kms:Decrypt against the key's ARN, never an alias, so an alias
 * ARN would grant nothing.
 */
export const kmsKeyArnSchema = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]{1,128}$/,
    'expected a KMS key ARN like arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab (not an alias)',
  );
