/**
 * Measurement 1: peak RSS and throughput of the archive path (S3ArchiveStore on moto, fed by a loopback
 * download) per recording size, against the design's bound: memory ≈ partSize × (partsInFlight + 1) plus
 * a fixed allowance, whatever the size.
 */
import { GiB } from './lib/size';
import { median, round, type Summary, summarise } from './lib/stats';
import type { StreamSample } from './streaming';

/** Fixed allowance of the target on top of the part buffers. */
export const ALLOWANCE_MIB = 64;
export const GROWTH_LIMIT_MIB_PER_GIB = 1;

export interface StreamMemoryRow {
  bytes: number;
  runs: number;
  maxRssMiB: Summary;
  baselineRssMiB: Summary;
  /** Per run: peak minus that process's own baseline; then the median. */
  peakOverBaselineMiB: Summary;
  sampledPeakArrayBuffersMiB: number;
  mibPerSecond: Summary;
  streamMibPerSecond: Summary;
  finaliseSeconds: Summary;
}

export interface StreamMemoryResult {
  partSizeMiB: number;
  partsInFlight: number;
  budgetMiB: number;
  rows: StreamMemoryRow[];
  growth?: {
    fromBytes: number;
    toBytes: number;
    rawMiBPerGiB: number;
    overBaselineMiBPerGiB: number;
  };
  verdicts: {
    rawPeakWithinBudget: boolean;
    peakOverBaselineWithinBudget: boolean;
    growthUnderLimit?: boolean;
  };
}

export function analyseStreamMemory(
  samples: readonly StreamSample[],
  config: { partSizeMiB: number; partsInFlight: number },
): StreamMemoryResult {
  const budgetMiB = config.partSizeMiB * (config.partsInFlight + 1) + ALLOWANCE_MIB;
  const archive = samples.filter((sample) => sample.impl === 'archive');
  const sizes = [...new Set(archive.map((sample) => sample.bytes))].sort((a, b) => a - b);
  const rows = sizes.map((bytes): StreamMemoryRow => {
    const mine = archive.filter((sample) => sample.bytes === bytes);
    return {
      bytes,
      runs: mine.length,
      maxRssMiB: summarise(mine.map((sample) => sample.maxRssMiB ?? Number.NaN)),
      baselineRssMiB: summarise(mine.map((sample) => sample.baselineRssMiB ?? Number.NaN)),
      peakOverBaselineMiB: summarise(mine.map((sample) => sample.peakOverBaselineMiB ?? Number.NaN)),
      sampledPeakArrayBuffersMiB: round(
        median(mine.map((sample) => sample.sampledPeakArrayBuffersMiB ?? 0)),
        1,
      ),
      mibPerSecond: summarise(mine.map((sample) => sample.mibPerSecond)),
      streamMibPerSecond: summarise(mine.map((sample) => sample.streamMibPerSecond)),
      finaliseSeconds: summarise(mine.map((sample) => sample.finaliseSeconds)),
    };
  });
  // Growth between the two largest sizes, when they are at least 100 MiB apart.
  const [previous, last] = rows.slice(-2);
  const growth =
    previous && last && last.bytes - previous.bytes >= 100 * 1024 ** 2
      ? {
          fromBytes: previous.bytes,
          toBytes: last.bytes,
          rawMiBPerGiB: round(
            (last.maxRssMiB.median - previous.maxRssMiB.median) / ((last.bytes - previous.bytes) / GiB),
            2,
          ),
          overBaselineMiBPerGiB: round(
            (last.peakOverBaselineMiB.median - previous.peakOverBaselineMiB.median) /
              ((last.bytes - previous.bytes) / GiB),
            2,
          ),
        }
      : undefined;
  return {
    ...config,
    budgetMiB,
    rows,
    growth,
    verdicts: {
      rawPeakWithinBudget: rows.every((row) => row.maxRssMiB.median <= budgetMiB),
      peakOverBaselineWithinBudget: rows.every((row) => row.peakOverBaselineMiB.median <= budgetMiB),
      ...(growth ? { growthUnderLimit: growth.rawMiBPerGiB < GROWTH_LIMIT_MIB_PER_GIB } : {}),
    },
  };
}
