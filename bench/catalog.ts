/**
 * The catalogue's numbers:
 * - what writing a record adds to archiving one recording (PUT count on moto S3, and median time into a
 *   local folder with and without the catalogue);
 * - the layout: the same 10k records as one object per recording vs one compacted file per day and source;
 * - `npm run find`'s engine (DuckDB over the archive folder, in a child process so its memory is its own)
 *   at 10k, 100k and 1M records (365 days × 4 sources), for a number + 14-day question and a full-year scan;
 * - Athena: the bytes each named question would scan over the 1M catalogue (the compacted files of the
 *   partitions its date range selects), and DuckDB's plan as proof that the same predicate prunes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { FsCatalogueStorage, S3CatalogueStorage } from '../functions/adapters/catalogue-storage';
import { FsArchiveStore } from '../functions/adapters/fs-archive-store';
import { S3ArchiveStore } from '../functions/adapters/s3-archive-store';
import { archiveRecording } from '../functions/core/archive-recording';
import {
  CATALOGUE_RECORD_VERSION,
  type CatalogueRecord,
  catalogueKey,
  cataloguePartitionPrefix,
  serialiseCatalogueRecord,
} from '../functions/core/catalogue';
import { COMPACTED_NAME } from '../functions/core/catalogue-compaction';
import { type FindFilters, findQuery } from '../functions/core/catalogue-query';
import { silentLog, systemClock } from '../functions/core/ports';
import type { SourceRecording } from '../functions/core/recording';
import { syntheticAudioChunks } from '../sandbox/providers/synthetic-audio';
import { spawnTracked, stopChild } from './lib/processes';
import { median, round } from './lib/stats';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCES = [
  ['telphin', 'main-office'],
  ['ringcentral', 'rc-main'],
  ['msgraph', 'bot'],
  ['msteams', 'teams'],
] as const;
const FIRST_DAY = Date.UTC(2026, 0, 1);
const DAYS = 365;
export const TARGET_NUMBER = '+16505550101';
const GENERATOR_VERSION = 1;

export interface CatalogueBenchSummary {
  archive: {
    recordings: number;
    bytes: number;
    medianMsWithout: number;
    medianMsWith: number;
    overheadPercent: number;
    s3PutsPerRecordingWithout: number;
    s3PutsPerRecordingWith: number;
    /** The same, into moto S3 (interleaved): the deployed path's writes. */
    s3MedianMsWithout: number;
    s3MedianMsWith: number;
    s3OverheadPercent: number;
  };
  layout: { records: number; layout: string; files: number; numberQueryMs: number; fullScanMs: number }[];
  scaling: {
    records: number;
    files: number;
    bytesOnDisk: number;
    numberQueryMs: number;
    numberHits: number;
    /** The number over the whole year: every record read and filtered. */
    fullScanMs: number;
    fullScanRows: number;
    /** No filter over the whole year: the first 1,000 by time (a top-N over every record). */
    fullListingMs: number;
    processMs: number;
    maxRssMiB: number;
  }[];
  athena: { question: string; partitions: number; bytesScanned: number }[];
  pruning: string;
  datasetDir: string;
}

// ------------------------------------------------------------------ archive overhead

export async function archiveOverhead(runs: number, log: (line: string) => void) {
  const bytes = 256 * 1024;
  const audio = Buffer.concat([...syntheticAudioChunks('bench-catalog', bytes)]);
  const recording = (index: number, tag: string): SourceRecording => ({
    provider: 'telphin',
    sourceId: 'bench',
    recordingId: `${tag}-${index}-${randomBytes(4).toString('hex')}`,
    startedAt: new Date(FIRST_DAY + index * 60_000),
    durationSeconds: 60,
    direction: 'inbound',
    from: { number: TARGET_NUMBER, name: 'Caller' },
    to: { number: '101', extensionId: '1' },
    size: audio.length,
    fileExtension: 'mp3',
    raw: {},
  });
  const source = {
    openDownload: async () => ({
      body: Readable.from([audio]),
      contentLength: audio.length,
      contentType: 'audio/mpeg',
    }),
  };
  const dir = await mkdtemp(join(tmpdir(), 'callvault-bench-catalog-archive-'));
  try {
    const store = new FsArchiveStore({ root: dir });
    const catalogue = new FsCatalogueStorage({ root: dir });
    const without: number[] = [];
    const withCatalogue: number[] = [];
    // Interleaved, so both see the same machine.
    for (let index = 0; index < runs; index += 1) {
      for (const use of [false, true]) {
        const started = performance.now();
        await archiveRecording(recording(index, use ? 'with' : 'without'), {
          source,
          store,
          clock: systemClock,
          log: silentLog,
          ...(use ? { catalogue } : {}),
        });
        (use ? withCatalogue : without).push(performance.now() - started);
      }
    }
    const medianWithout = median(without);
    const medianWith = median(withCatalogue);
    log(
      `catalog: archive into a folder, median ${round(medianWithout, 2)} ms without, ${round(medianWith, 2)} ms with the catalogue`,
    );

    // PUT-class requests on S3 (moto), counted by the client.
    const puts = await s3Puts(runs, recording, source);
    const verdict = catalogueWriteVerdict({
      overheadPercent: ((medianWith - medianWithout) / medianWithout) * 100,
      s3OverheadPercent: ((puts.medianMsWith - puts.medianMsWithout) / puts.medianMsWithout) * 100,
      extraPutsPerRecording: puts.with - puts.without,
    });
    log(
      `catalog: write cost: folder ${round(medianWithout, 2)} → ${round(medianWith, 2)} ms, moto S3 ${round(puts.medianMsWithout, 2)} → ${round(puts.medianMsWith, 2)} ms (medians of ${runs}), PUTs per recording ${puts.without} → ${puts.with}: ${verdict}`,
    );
    return {
      recordings: runs,
      bytes,
      medianMsWithout: round(medianWithout, 2),
      medianMsWith: round(medianWith, 2),
      overheadPercent: round(((medianWith - medianWithout) / medianWithout) * 100, 1),
      s3PutsPerRecordingWithout: puts.without,
      s3PutsPerRecordingWith: puts.with,
      s3MedianMsWithout: round(puts.medianMsWithout, 2),
      s3MedianMsWith: round(puts.medianMsWith, 2),
      s3OverheadPercent: round(((puts.medianMsWith - puts.medianMsWithout) / puts.medianMsWithout) * 100, 1),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Issue 15's target: at most one PUT per recording and < 5 % of the median archive time, on both stores. */
export const CATALOGUE_WRITE_MAX_PERCENT = 5;

export function catalogueWriteVerdict(measured: {
  overheadPercent: number;
  s3OverheadPercent: number;
  extraPutsPerRecording: number;
}): string {
  const misses: string[] = [];
  if (measured.extraPutsPerRecording > 1)
    misses.push(`${measured.extraPutsPerRecording} extra PUTs per recording (target ≤ 1)`);
  for (const [store, percent] of [
    ['folder', measured.overheadPercent],
    ['moto S3', measured.s3OverheadPercent],
  ] as const) {
    if (percent >= CATALOGUE_WRITE_MAX_PERCENT)
      misses.push(`${store} +${round(percent, 1)} % (target < ${CATALOGUE_WRITE_MAX_PERCENT} %)`);
  }
  return misses.length === 0
    ? `met (folder ${round(measured.overheadPercent, 1)} %, moto S3 ${round(measured.s3OverheadPercent, 1)} %, +${measured.extraPutsPerRecording} PUT)`
    : `missed: ${misses.join('; ')}`;
}

async function s3Puts(
  runs: number,
  recording: (index: number, tag: string) => SourceRecording,
  source: Parameters<typeof archiveRecording>[1]['source'],
): Promise<{ with: number; without: number; medianMsWithout: number; medianMsWith: number }> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const moto = spawnTracked('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    for (let attempt = 0; ; attempt += 1) {
      try {
        await fetch(`${endpoint}/moto-api/`);
        break;
      } catch {
        if (attempt > 300) throw new Error('moto_server did not start');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const client = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    });
    let puts = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (
          /^(PutObject|CreateMultipartUpload|UploadPart|CompleteMultipartUpload|PutObjectTagging|CopyObject)Command$/.test(
            context.commandName ?? '',
          )
        )
          puts += 1;
        return next(args);
      },
      { step: 'initialize', name: 'countPuts' },
    );
    await client.send(new CreateBucketCommand({ Bucket: 'bench' }));
    const store = new S3ArchiveStore({
      client,
      bucket: 'bench',
      partSizeBytes: 8 * 1024 ** 2,
      partsInFlight: 2,
    });
    const catalogue = new S3CatalogueStorage({ client, bucket: 'bench' });
    const count = async (use: boolean) => {
      puts = 0;
      for (let index = 0; index < 5; index += 1)
        await archiveRecording(recording(index, use ? 's3-with' : 's3-without'), {
          source,
          store,
          clock: systemClock,
          log: silentLog,
          ...(use ? { catalogue } : {}),
        });
      return puts / 5;
    };
    const without = await count(false);
    const withCatalogue = await count(true);
    const times: Record<'with' | 'without', number[]> = { with: [], without: [] };
    for (let index = 0; index < runs; index += 1) {
      for (const use of [false, true]) {
        const started = performance.now();
        await archiveRecording(recording(100 + index, use ? 's3-time-with' : 's3-time-without'), {
          source,
          store,
          clock: systemClock,
          log: silentLog,
          ...(use ? { catalogue } : {}),
        });
        times[use ? 'with' : 'without'].push(performance.now() - started);
      }
    }
    client.destroy();
    return {
      without,
      with: withCatalogue,
      medianMsWithout: median(times.without),
      medianMsWith: median(times.with),
    };
  } finally {
    await stopChild(moto);
  }
}

// ------------------------------------------------------------------ generated catalogues

/** A deterministic pseudo-random sequence, so every generated catalogue is the same. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function syntheticRecord(
  random: () => number,
  provider: string,
  sourceId: string,
  day: string,
  index: number,
): CatalogueRecord {
  const start = new Date(`${day}T00:00:00Z`).getTime() + Math.floor(random() * 86_400_000);
  const duration = 20 + Math.floor(random() * 600);
  // One call in 2,000 involves the target number; the rest come from 200,000 others.
  const caller =
    random() < 0.0005
      ? TARGET_NUMBER
      : `+1${String(2_000_000_000 + Math.floor(random() * 200_000)).padStart(10, '0')}`;
  const extension = String(100 + Math.floor(random() * 200));
  const recordingId = `${sourceId}-${day}-${index}`;
  const objectKey = `recordings/${provider}/${sourceId}/${day.replaceAll('-', '/')}/${recordingId}.mp3`;
  const archivedAt = new Date(start + duration * 1000 + 30_000).toISOString();
  return {
    v: CATALOGUE_RECORD_VERSION,
    status: 'archived',
    record_id: `archived:${objectKey}`,
    provider,
    source_id: sourceId,
    date: day,
    recording_id: recordingId,
    call_id: `call-${recordingId}`,
    started_at: new Date(start).toISOString(),
    ended_at: new Date(start + duration * 1000).toISOString(),
    duration_seconds: duration,
    direction: random() < 0.5 ? 'inbound' : 'outbound',
    from_number: caller,
    from_name: null,
    from_extension_id: null,
    from_person_id: null,
    to_number: extension,
    to_name: `Agent ${extension}`,
    to_extension_id: extension,
    to_person_id: extension,
    extension_id: extension,
    extension_name: `Agent ${extension}`,
    party_numbers: [caller, extension],
    party_names: [`Agent ${extension}`],
    party_extension_ids: [extension],
    party_person_ids: [extension],
    caller_status: null,
    callee_status: null,
    call_result: 'Call connected',
    size: duration * 16_000,
    source_reported_size: duration * 16_000,
    sha256: randomBytes(32).toString('hex'),
    content_type: 'audio/mpeg',
    object_key: objectKey,
    sidecar_key: `${objectKey}.json`,
    archived_at: archivedAt,
    event_at: archivedAt,
    reason: null,
    evidence_key: null,
    retention_run_id: null,
  };
}

const dayOf = (offset: number) => new Date(FIRST_DAY + offset * 86_400_000).toISOString().slice(0, 10);

/**
 * `records` spread evenly over 365 days × 4 sources; `compacted`: one gzip'd file per day and source (as
 * `npm run catalog -- --compact` leaves a closed day), else one file per record (as the worker writes).
 * Reused when a finished one is there already (a marker names what it holds).
 */
async function generateCatalogue(
  dir: string,
  records: number,
  compacted: boolean,
  log: (line: string) => void,
) {
  const marker = join(dir, 'generated.json');
  const expected = { v: GENERATOR_VERSION, records, compacted };
  if (
    existsSync(marker) &&
    JSON.stringify(JSON.parse(await readFile(marker, 'utf8'))) === JSON.stringify(expected)
  )
    return;
  await rm(dir, { recursive: true, force: true });
  const started = Date.now();
  const random = prng(records);
  const perPartition = records / (DAYS * SOURCES.length);
  let written = 0;
  let carry = 0;
  for (let offset = 0; offset < DAYS; offset += 1) {
    const day = dayOf(offset);
    for (const [provider, sourceId] of SOURCES) {
      carry += perPartition;
      const count = Math.floor(carry);
      carry -= count;
      const partition = join(
        dir,
        ...cataloguePartitionPrefix(provider, sourceId, day).split('/').filter(Boolean),
      );
      await mkdir(partition, { recursive: true });
      const rows: CatalogueRecord[] = [];
      for (let index = 0; index < count; index += 1)
        rows.push(syntheticRecord(random, provider, sourceId, day, index));
      if (compacted) {
        await writeFile(
          join(partition, COMPACTED_NAME),
          gzipSync(rows.map(serialiseCatalogueRecord).join('')),
        );
      } else {
        for (const row of rows)
          await writeFile(join(dir, ...catalogueKey(row).split('/')), serialiseCatalogueRecord(row));
      }
      written += count;
    }
    if (offset % 73 === 72)
      log(`catalog: generating ${records} records${compacted ? ' (compacted)' : ''}: ${written} written`);
  }
  await writeFile(marker, JSON.stringify(expected));
  log(`catalog: generated ${written} records in ${dir} in ${Math.round((Date.now() - started) / 1000)} s`);
}

async function catalogueFiles(
  dir: string,
): Promise<{ files: number; bytes: number; sizes: Map<string, number> }> {
  const sizes = new Map<string, number>();
  let bytes = 0;
  const base = join(dir, 'catalog', 'recordings');
  for (const entry of await readdir(base, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const size = (await stat(path)).size;
    sizes.set(path, size);
    bytes += size;
  }
  return { files: sizes.size, bytes, sizes };
}

interface QueryRun {
  ms: number;
  rows: number;
  processMs: number;
  maxRssMiB: number;
  plan?: string;
}

/** One question in a fresh process (engine open + query), as `npm run find` runs it. */
function queryInChild(dir: string, filters: FindFilters, explain = false): Promise<QueryRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'bench', 'lib', 'catalog-query-child.ts'),
        dir,
        JSON.stringify(filters),
        explain ? 'explain' : '',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`query child exited with ${code}`));
      const report = JSON.parse(out.trim().split('\n').at(-1) ?? '{}');
      resolve({ ...report, processMs: Date.now() - started });
    });
  });
}

const numberQuery = (): FindFilters => ({ number: TARGET_NUMBER, from: dayOf(60), to: dayOf(73) });
const fullYear = (): FindFilters => ({ number: TARGET_NUMBER, from: dayOf(0), to: dayOf(DAYS - 1) });
const fullYearListing = (): FindFilters => ({ from: dayOf(0), to: dayOf(DAYS - 1) });

export async function measureCatalogue(
  options: { archiveRuns: number; scales: readonly number[]; datasetDir?: string },
  log: (line: string) => void,
): Promise<{ summary: CatalogueBenchSummary; samples: unknown }> {
  const archive = await archiveOverhead(options.archiveRuns, log);
  const datasetDir = options.datasetDir ?? join(tmpdir(), 'callvault-catalog-bench');

  // Layout, at 10k: one object per record vs one compacted file per day and source.
  const layout: CatalogueBenchSummary['layout'] = [];
  for (const compacted of [false, true]) {
    const dir = join(datasetDir, `layout-10k-${compacted ? 'compacted' : 'per-record'}`);
    await generateCatalogue(dir, 10_000, compacted, log);
    const { files } = await catalogueFiles(dir);
    const number = await queryInChild(dir, numberQuery());
    const full = await queryInChild(dir, fullYear());
    layout.push({
      records: 10_000,
      layout: compacted ? 'compacted (one .json.gz per day and source)' : 'one .json per recording',
      files,
      numberQueryMs: number.ms,
      fullScanMs: full.ms,
    });
    log(
      `catalog: 10k ${compacted ? 'compacted' : 'per-record'} (${files} files): number + 14 days ${number.ms} ms, full year ${full.ms} ms`,
    );
  }

  const scaling: CatalogueBenchSummary['scaling'] = [];
  let athena: CatalogueBenchSummary['athena'] = [];
  let pruning = '';
  for (const records of options.scales) {
    const dir = join(datasetDir, `scale-${records}`);
    await generateCatalogue(dir, records, true, log);
    const { files, bytes, sizes } = await catalogueFiles(dir);
    const number = await queryInChild(dir, numberQuery());
    const full = await queryInChild(dir, fullYear());
    const listing = await queryInChild(dir, fullYearListing());
    scaling.push({
      records,
      files,
      bytesOnDisk: bytes,
      numberQueryMs: number.ms,
      numberHits: number.rows,
      fullScanMs: full.ms,
      fullScanRows: full.rows,
      fullListingMs: listing.ms,
      processMs: Math.max(number.processMs, full.processMs, listing.processMs),
      maxRssMiB: Math.max(number.maxRssMiB, full.maxRssMiB, listing.maxRssMiB),
    });
    log(
      `catalog: ${records} records (${files} files, ${round(bytes / 1024 ** 2)} MiB): number + 14 days ${number.ms} ms (${number.rows} hits), number over the year ${full.ms} ms (${full.rows} hits), first 1,000 of the year ${listing.ms} ms, max RSS ${Math.max(number.maxRssMiB, full.maxRssMiB, listing.maxRssMiB)} MiB`,
    );
    if (records === Math.max(...options.scales)) {
      pruning = (await queryInChild(dir, numberQuery(), true)).plan ?? '';
      // Athena reads every object of each partition the predicate selects, whole (gzip is not splittable).
      const scanned = (from: number, to: number) => {
        let total = 0;
        let partitions = 0;
        for (const [path, size] of sizes) {
          const day = /date=(\d{4}-\d{2}-\d{2})/.exec(path)?.[1] ?? '';
          if (day >= dayOf(from) && day <= dayOf(to)) {
            total += size;
            partitions += 1;
          }
        }
        return { partitions, bytesScanned: total };
      };
      athena = [
        { question: 'callvault-by-number (14 days)', ...scanned(60, 73) },
        { question: 'callvault-by-person (14 days)', ...scanned(60, 73) },
        { question: 'callvault-by-date-range (1 day)', ...scanned(60, 60) },
        { question: 'callvault-by-status (31 days)', ...scanned(60, 90) },
        { question: 'any question over the whole year', ...scanned(0, DAYS - 1) },
      ];
    }
  }
  const sql =
    findQuery(numberQuery(), 'T')
      .sql.split('\n')
      .find((line) => line.startsWith('WHERE')) ?? '';
  return {
    summary: {
      archive,
      layout,
      scaling,
      athena,
      pruning: `${sql.trim()} → ${/Scanning Files:[\s│]*(\d+\/\d+)/.exec(pruning)?.[1]?.replace(/^/, 'DuckDB scans ').concat(' files') ?? 'no plan'}`,
      datasetDir,
    },
    samples: {
      pruningPlan: pruning,
      duckdb: execFileSync(
        process.execPath,
        ['-e', "console.log(require('@duckdb/node-api/package.json').version)"],
        { cwd: ROOT, encoding: 'utf8' },
      ).trim(),
    },
  };
}
