/** The bucket's lifecycle: storage classes, transitions, expiry and Object Lock (applied by the CDK app). */
import * as z from 'zod';

/** S3 storage classes a lifecycle rule can move recordings to, in S3's waterfall order. */
export const STORAGE_CLASSES = [
  'STANDARD_IA',
  'INTELLIGENT_TIERING',
  'ONEZONE_IA',
  'GLACIER_IR',
  'GLACIER',
  'DEEP_ARCHIVE',
] as const;
export type StorageClassName = (typeof STORAGE_CLASSES)[number];

/** Days an object must stay in a class before it may move on or expire without an early-deletion fee. */
export const MINIMUM_STORAGE_DAYS: Record<StorageClassName, number> = {
  STANDARD_IA: 30,
  INTELLIGENT_TIERING: 0,
  ONEZONE_IA: 30,
  GLACIER_IR: 90,
  GLACIER: 90,
  DEEP_ARCHIVE: 180,
};

const transitionSchema = z
  .object({ storageClass: z.enum(STORAGE_CLASSES), afterDays: z.number().int().min(0) })
  .strict();

const storagePolicySchema = z
  .object({
    /** Storage-class transitions, counted from the day a recording was archived. */
    transitions: z.array(transitionSchema).default([]),
    /** Delete archived recordings after the legal retention period; never when absent. */
    expireAfterDays: z.number().int().min(1).optional(),
  })
  .strict();
export type StoragePolicy = z.infer<typeof storagePolicySchema>;

export const lifecycleSchema = z
  .object({
    abortIncompleteMultipartUploadsAfterDays: z.number().int().min(1).default(1),
    /** Applies to recordings tagged `retention-class=standard` (the default class) and any class not listed. */
    transitions: z.array(transitionSchema).default([]),
    expireAfterDays: z.number().int().min(1).optional(),
    /** Policies per `retention-class` tag value (set per source with `retentionClass`). */
    retentionClasses: z.record(z.string().regex(/^[a-z0-9-]{1,32}$/), storagePolicySchema).default({}),
    /** Old versions (left by overwrites of sidecars or audit files) are removed after this many days. */
    noncurrentVersionExpirationDays: z.number().int().min(1).default(30),
    /**
     * How the bucket got Object Lock, required with `objectLock` (read at synth only; see README
     * "Storage lifecycle"): `new` when the stack creates the bucket with it (a first deploy), `existing`
     * once the operator has run `put-object-lock-configuration` on a bucket this stack deployed without
     * it. CloudFormation replaces a bucket whose `ObjectLockEnabled` changes, so `existing` leaves that
     * property as it was deployed.
     */
    objectLockBucket: z.enum(['new', 'existing']).optional(),
    /** S3 Object Lock for regulated users; requires versioning (always on). */
    objectLock: z
      .object({
        mode: z.enum(['GOVERNANCE', 'COMPLIANCE']),
        days: z.number().int().min(1).optional(),
        years: z.number().int().min(1).optional(),
      })
      .strict()
      .refine((lock) => (lock.days === undefined) !== (lock.years === undefined), {
        message: 'set exactly one of days or years',
      })
      .optional(),
  })
  .strict()
  .superRefine((lifecycle, ctx) => {
    // Paths are relative to this block: zod prefixes `lifecycle` when it is parsed inside the config.
    checkStoragePolicy(lifecycle, [], ctx);
    for (const [name, policy] of Object.entries(lifecycle.retentionClasses)) {
      checkStoragePolicy(policy, ['retentionClasses', name], ctx);
    }
    const lockDays =
      lifecycle.objectLock && (lifecycle.objectLock.days ?? (lifecycle.objectLock.years ?? 0) * 365);
    if (lockDays && lifecycle.expireAfterDays !== undefined && lifecycle.expireAfterDays < lockDays) {
      ctx.addIssue({
        code: 'custom',
        path: ['expireAfterDays'],
        message: `expires recordings after ${lifecycle.expireAfterDays} days, before the Object Lock retention of ${lockDays} days ends`,
      });
    }
  });
export type LifecycleConfig = z.infer<typeof lifecycleSchema>;

/** S3's lifecycle rules: IA classes need 30 days first, classes only move down, minimum durations are kept. */
function checkStoragePolicy(policy: StoragePolicy, path: (string | number)[], ctx: z.RefinementCtx): void {
  let previous: { storageClass: StorageClassName; afterDays: number } | undefined;
  const seen = new Set<string>();
  policy.transitions.forEach((transition, index) => {
    const at = [...path, 'transitions', index];
    if (seen.has(transition.storageClass)) {
      ctx.addIssue({ code: 'custom', path: at, message: `${transition.storageClass} appears twice` });
    }
    seen.add(transition.storageClass);
    if (
      (transition.storageClass === 'STANDARD_IA' || transition.storageClass === 'ONEZONE_IA') &&
      transition.afterDays < 30
    ) {
      ctx.addIssue({
        code: 'custom',
        path: [...at, 'afterDays'],
        message: `S3 moves objects to ${transition.storageClass} after 30 days at the earliest`,
      });
    }
    if (previous) {
      if (STORAGE_CLASSES.indexOf(transition.storageClass) < STORAGE_CLASSES.indexOf(previous.storageClass)) {
        ctx.addIssue({
          code: 'custom',
          path: at,
          message: `S3 cannot move objects from ${previous.storageClass} back up to ${transition.storageClass}`,
        });
      }
      const minimum = previous.afterDays + MINIMUM_STORAGE_DAYS[previous.storageClass];
      if (transition.afterDays < minimum) {
        ctx.addIssue({
          code: 'custom',
          path: [...at, 'afterDays'],
          message: `must be at least ${minimum}: objects stay ${MINIMUM_STORAGE_DAYS[previous.storageClass]} days in ${previous.storageClass} (its minimum storage duration)`,
        });
      }
    }
    previous = transition;
  });
  if (previous && policy.expireAfterDays !== undefined) {
    const minimum = previous.afterDays + MINIMUM_STORAGE_DAYS[previous.storageClass];
    if (policy.expireAfterDays < minimum) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'expireAfterDays'],
        message: `must be at least ${minimum}: recordings stay ${MINIMUM_STORAGE_DAYS[previous.storageClass]} days in ${previous.storageClass} before they may expire`,
      });
    }
  }
}
