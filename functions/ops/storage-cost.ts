/**
 * What a backfill will cost to keep, for `--dry-run`. ESTIMATES from public list prices: S3 in
 * us-east-1 (N. Virginia), first-tier storage prices, as published on https://aws.amazon.com/s3/pricing/
 * and checked 2025-06. Other regions, volume tiers, taxes, retrieval and the sidecars' minimum billable
 * sizes are not modelled.
 */
import type { CallvaultConfig, StorageClassName, StoragePolicy } from '../config';

export const PRICES_AS_OF = '2025-06 (S3 us-east-1 public list prices)';

/** USD per GB-month (GB = 2^30 bytes, as S3 bills). */
export const STORAGE_USD_PER_GB_MONTH: Record<'STANDARD' | StorageClassName, number> = {
  STANDARD: 0.023,
  STANDARD_IA: 0.0125,
  // Infrequent Access tier, where recordings nobody plays settle after 30 days; plus monitoring below.
  INTELLIGENT_TIERING: 0.0125,
  ONEZONE_IA: 0.01,
  GLACIER_IR: 0.004,
  GLACIER: 0.0036,
  DEEP_ARCHIVE: 0.00099,
};

/** Intelligent-Tiering monitoring and automation, USD per 1,000 objects per month (objects >= 128 KB). */
export const INTELLIGENT_TIERING_MONITORING_USD_PER_1000 = 0.0025;

/** PUT, COPY, POST, LIST requests to S3 Standard, USD per 1,000. */
export const PUT_USD_PER_1000 = 0.005;

/** Lifecycle transition requests into a class, USD per 1,000 objects. */
export const TRANSITION_USD_PER_1000: Record<StorageClassName, number> = {
  STANDARD_IA: 0.01,
  INTELLIGENT_TIERING: 0.01,
  ONEZONE_IA: 0.01,
  GLACIER_IR: 0.02,
  GLACIER: 0.03,
  DEEP_ARCHIVE: 0.05,
};

const GIB = 1024 ** 3;

export interface StorageEstimate {
  count: number;
  bytes: number;
  /** PUT-class requests to archive everything: uploads, multipart calls, the SHA-256 tag, sidecars. */
  putRequests: number;
  putCostUsd: number;
  standardUsdPerMonth: number;
  /** Per lifecycle transition of the source's retention class, in order. */
  transitions: {
    storageClass: StorageClassName;
    afterDays: number;
    usdPerMonth: number;
    transitionCostUsd: number;
  }[];
  expireAfterDays?: number;
}

/**
 * PUT-class requests for one recording of `size` bytes as the S3 store writes it: a single PutObject when it
 * fits one part, else one multipart upload to the final key (create, parts, complete) and the PutObjectTagging
 * that adds its SHA-256; one PutObject for the sidecar either way.
 */
export function putRequestsPerRecording(size: number, partSizeBytes: number): number {
  const sidecar = 1;
  if (size <= partSizeBytes) return 1 + sidecar;
  const parts = Math.ceil(size / partSizeBytes);
  return 1 + parts + 1 + 1 + sidecar;
}

/**
 * The lifecycle policy the stack applies to a source's objects (see recording-bucket.ts): the top-level
 * rules for `standard` and for every class when none are listed; a listed class its own; an unlisted class
 * none (it stays in Standard).
 */
export function storagePolicyFor(config: CallvaultConfig, retentionClass: string): StoragePolicy {
  const { lifecycle } = config;
  const classes = lifecycle.retentionClasses;
  if (retentionClass === 'standard' || Object.keys(classes).length === 0) {
    return { transitions: lifecycle.transitions, expireAfterDays: lifecycle.expireAfterDays };
  }
  return classes[retentionClass] ?? { transitions: [] };
}

export function estimateStorage(
  stats: { count: number; bytes: number },
  config: CallvaultConfig,
  retentionClass: string,
): StorageEstimate {
  const gib = stats.bytes / GIB;
  const averageSize = stats.count > 0 ? stats.bytes / stats.count : 0;
  const putRequests =
    stats.count * putRequestsPerRecording(averageSize, config.worker.partSizeMiB * 1024 * 1024);
  const policy = storagePolicyFor(config, retentionClass);
  return {
    count: stats.count,
    bytes: stats.bytes,
    putRequests,
    putCostUsd: (putRequests / 1000) * PUT_USD_PER_1000,
    standardUsdPerMonth: gib * STORAGE_USD_PER_GB_MONTH.STANDARD,
    transitions: policy.transitions.map(({ storageClass, afterDays }) => ({
      storageClass,
      afterDays,
      usdPerMonth:
        gib * STORAGE_USD_PER_GB_MONTH[storageClass] +
        (storageClass === 'INTELLIGENT_TIERING'
          ? (stats.count / 1000) * INTELLIGENT_TIERING_MONITORING_USD_PER_1000
          : 0),
      transitionCostUsd: (stats.count / 1000) * TRANSITION_USD_PER_1000[storageClass],
    })),
    expireAfterDays: policy.expireAfterDays,
  };
}

export function formatUsd(value: number): string {
  if (value === 0) return '$0.00';
  if (value < 0.01) return `$${value.toPrecision(2)}`;
  return `$${value.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}
