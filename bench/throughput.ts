/**
 * Measurement 2: throughput of the archive path against references measured in the same run on the same
 * bytes: the bare download (source ceiling), a bare UploadPart loop into the same moto (S3-server
 * ceiling), @aws-sdk/lib-storage with its defaults and at our part size, and the AWS CLI. Ratios are of
 * medians; targets are judged at every size.
 */
import { median, round, type Summary, summarise } from './lib/stats';
import type { TimelinePhases } from './lib/timeline';
import type { Impl, StreamSample } from './streaming';

export const CEILING_TARGET = 0.9;
export const LIB_STORAGE_TARGET = 1.2;

/** Medians of each phase over a path's runs at one size (ms), from the per-request timelines. */
export interface PhaseMedians {
  firstRequestMs: number;
  createMs?: number;
  parts: number;
  partMedianMs?: number;
  partsInFlightMax: number;
  downloadEndMs?: number;
  lastPartEndMs?: number;
  drainMs?: number;
  completeMs?: number;
  /** Requests after the completion, by command. */
  afterMs: number;
  afterCommands: string[];
  totalMs: number;
}

export interface ImplFigures {
  impl: Impl;
  runs: number;
  /** Whole job: first request to stored object. */
  mibPerSecond: Summary;
  /** Until the last part was sent (before completion and, for archive, the server-side copy). */
  streamMibPerSecond: Summary;
  finaliseSeconds: number;
  maxRssMiB: number | null;
  /** S3 requests per recording by command (the same in every run; the first run's). */
  requests?: Record<string, number>;
  phases?: PhaseMedians;
}

export interface ThroughputRatios {
  /** archive total / min(download, bare-put total): the target (≥ 0.8). */
  archiveVsCeiling?: number;
  /** archive streaming phase / min(download, bare-put streaming phase). */
  archiveStreamVsCeiling?: number;
  archiveVsDownload?: number;
  archiveVsS3Ceiling?: number;
  /** archive total / lib-storage total (its defaults): the target (≥ 1.2), at no more peak RSS. */
  archiveVsLibStorage?: number;
  archiveStreamVsLibStorage?: number;
  archivePeakRssVsLibStorage?: number;
  /** The same against lib-storage at our part size and parts in flight. */
  archiveVsLibStorageOurs?: number;
  archivePeakRssVsLibStorageOurs?: number;
  archiveVsAwsCliFile?: number;
  archiveVsAwsCliStdin?: number;
  /** What SHA-256 and the checks cost the download alone. */
  downloadVerifyVsDownload?: number;
}

export interface ThroughputRow {
  bytes: number;
  impls: ImplFigures[];
  ratios: ThroughputRatios;
  verdicts: {
    ceiling?: boolean;
    ceilingStreamingPhase?: boolean;
    libStorage?: boolean;
    libStorageMemory?: boolean;
    libStorageOurs?: boolean;
    libStorageOursMemory?: boolean;
  };
}

function phaseMedians(phases: readonly TimelinePhases[]): PhaseMedians | undefined {
  if (phases.length === 0) return undefined;
  const of = (pick: (phase: TimelinePhases) => number | undefined) => {
    const values = phases.map(pick).filter((value): value is number => value !== undefined);
    return values.length ? round(median(values), 1) : undefined;
  };
  return {
    firstRequestMs: of((phase) => phase.firstRequestMs) ?? 0,
    createMs: of((phase) => phase.createMs),
    parts: of((phase) => phase.parts) ?? 0,
    partMedianMs: of((phase) => phase.partMedianMs),
    partsInFlightMax: of((phase) => phase.partsInFlightMax) ?? 0,
    downloadEndMs: of((phase) => phase.downloadEndMs),
    lastPartEndMs: of((phase) => phase.lastPartEndMs),
    drainMs: of((phase) => phase.drainMs),
    completeMs: of((phase) => phase.completeMs),
    afterMs: of((phase) => phase.afterMs) ?? 0,
    afterCommands: phases[0]?.after.map((entry) => entry.command) ?? [],
    totalMs: of((phase) => phase.totalMs) ?? 0,
  };
}

const ratio = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b !== undefined && b > 0 ? round(a / b, 3) : undefined;

export function analyseThroughput(samples: readonly StreamSample[]): {
  rows: ThroughputRow[];
  verdictSize?: number;
} {
  const sizes = [...new Set(samples.map((sample) => sample.bytes))].sort((a, b) => a - b);
  const rows = sizes.map((bytes): ThroughputRow => {
    const impls: ImplFigures[] = [];
    for (const impl of new Set(
      samples.filter((sample) => sample.bytes === bytes).map((sample) => sample.impl),
    )) {
      const mine = samples.filter((sample) => sample.bytes === bytes && sample.impl === impl);
      const rss = mine.map((sample) => sample.maxRssMiB).filter((value): value is number => value !== null);
      impls.push({
        impl,
        runs: mine.length,
        mibPerSecond: summarise(mine.map((sample) => sample.mibPerSecond)),
        streamMibPerSecond: summarise(mine.map((sample) => sample.streamMibPerSecond)),
        finaliseSeconds: round(median(mine.map((sample) => sample.finaliseSeconds)), 2),
        maxRssMiB: rss.length ? round(median(rss), 1) : null,
        requests: mine.find((sample) => sample.requests)?.requests,
        phases: phaseMedians(mine.flatMap((sample) => (sample.phases ? [sample.phases] : []))),
      });
    }
    const total = (impl: Impl) => impls.find((figures) => figures.impl === impl)?.mibPerSecond.median;
    const stream = (impl: Impl) => impls.find((figures) => figures.impl === impl)?.streamMibPerSecond.median;
    const rss = (impl: Impl) => impls.find((figures) => figures.impl === impl)?.maxRssMiB ?? undefined;
    const minOf = (a: number | undefined, b: number | undefined) =>
      a !== undefined && b !== undefined ? Math.min(a, b) : undefined;
    const ratios: ThroughputRatios = {
      archiveVsCeiling: ratio(total('archive'), minOf(total('download'), total('bare-put'))),
      archiveStreamVsCeiling: ratio(stream('archive'), minOf(total('download'), stream('bare-put'))),
      archiveVsDownload: ratio(total('archive'), total('download')),
      archiveVsS3Ceiling: ratio(total('archive'), total('bare-put')),
      archiveVsLibStorage: ratio(total('archive'), total('lib-storage')),
      archiveStreamVsLibStorage: ratio(stream('archive'), total('lib-storage')),
      archivePeakRssVsLibStorage: ratio(rss('archive'), rss('lib-storage')),
      archiveVsLibStorageOurs: ratio(total('archive'), total('lib-storage-ours')),
      archivePeakRssVsLibStorageOurs: ratio(rss('archive'), rss('lib-storage-ours')),
      archiveVsAwsCliFile: ratio(total('archive'), total('aws-cli-file')),
      archiveVsAwsCliStdin: ratio(total('archive'), total('aws-cli-stdin')),
      downloadVerifyVsDownload: ratio(total('download-verify'), total('download')),
    };
    return {
      bytes,
      impls,
      ratios,
      verdicts: {
        ceiling:
          ratios.archiveVsCeiling === undefined ? undefined : ratios.archiveVsCeiling >= CEILING_TARGET,
        ceilingStreamingPhase:
          ratios.archiveStreamVsCeiling === undefined
            ? undefined
            : ratios.archiveStreamVsCeiling >= CEILING_TARGET,
        libStorage:
          ratios.archiveVsLibStorage === undefined
            ? undefined
            : ratios.archiveVsLibStorage >= LIB_STORAGE_TARGET,
        libStorageMemory:
          ratios.archivePeakRssVsLibStorage === undefined
            ? undefined
            : ratios.archivePeakRssVsLibStorage <= 1,
        libStorageOurs:
          ratios.archiveVsLibStorageOurs === undefined
            ? undefined
            : ratios.archiveVsLibStorageOurs >= LIB_STORAGE_TARGET,
        libStorageOursMemory:
          ratios.archivePeakRssVsLibStorageOurs === undefined
            ? undefined
            : ratios.archivePeakRssVsLibStorageOurs <= 1,
      },
    };
  });
  // Targets are judged at the largest size every reference ran at.
  const judged = rows.filter(
    (row) => row.ratios.archiveVsCeiling !== undefined && row.ratios.archiveVsLibStorage !== undefined,
  );
  return { rows, verdictSize: judged.at(-1)?.bytes };
}
