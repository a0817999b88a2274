/**
 * `npm run bench`: proves "fast" and "nothing lost" with numbers.
 *
 *   npm run bench                      default: 10 MiB, 100 MiB and 1 GiB streams, 1,000-webhook pipeline,
 *                                      Lambda bundles (19 min on 2 shared cores, mostly the moto pipeline)
 *   npm run bench -- --quick           a few minutes: 10 and 100 MiB, 200 webhooks, fewer runs
 *   npm run bench -- --full            everything, including 2 GiB streams and more runs
 *   npm run bench -- --only streaming,pipeline,lambda,msgraph,ringcentral,msteams,msteams-tenant,catalog,events,dedupe,forecast,burst,local,continuation   a subset; sections not run
 *                                      are carried over from the previous bench/results/latest.json, marked
 *                                      as such (ringcentral: logins, 429s, Heavy budget use, hang-up → copy,
 *                                      about 4 min at the real 10-a-minute pace; msteams: a generated MP4
 *                                      streamed through the Teams adapter against the Telphin path, 100 MiB
 *                                      and 2 GiB, about 6 min)
 *                                      events: 1,000 recordings archived locally, every event to the NDJSON
 *                                      file and an HTTP receiver refusing every 10th event's first POST (about 30 s)
 *                                      catalog: the catalogue's write cost, layouts, and DuckDB over 10k, 100k
 *                                      and 1M generated records (the 1M set is generated once, about 150 MB
 *                                      in the temp folder, and reused)
 *                                      dedupe: jobs per recording over 6 simulated hours of sweeps, markers off and on,
 *                                      local and on moto (about a minute); forecast: the budget forecast against
 *                                      the rate gate in simulated days (about 10 s); burst: 200 Graph bot
 *                                      recordings fetched on moto at the sized concurrency (about 3 min)
 *                                      msteams-tenant: sweeps of generated Teams tenants of 100, 1,000 and
 *                                      10,000 users, batched, and 100 users one after another (about 1 min)
 *                                      continuation: 600 MiB archived on moto in one pass and as a chain of
 *                                      continuations over Range, 3 runs (about 4 min; --quick: 200 MiB once)
 *   npm run bench -- --no-write        print only; leave bench/results and BENCHMARKS.md alone
 *
 * Writes bench/results/latest.json (machine, config, raw samples, medians, ratios, verdicts) and the
 * generated section of BENCHMARKS.md. Everything it starts (moto, servers, children) is stopped on exit.
 */
import './lib/quiet-env';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measureBurst } from './burst';
import { measureCatalogue } from './catalog';
import { measureContinuation } from './continuation';
import { measureDedupe } from './dedupe';
import { eventsTargetMet, measureEvents } from './events';
import { type ForecastScenarioResult, measureForecast, RECENT_LOOKBACK_HOURS } from './forecast';
import { measureGraphCallingBot } from './graph-calling-bot';
import { measureLambdaCost, WORKER_COLD_IMPORT_TARGET_MS } from './lambda-cost';
import { describeMachine } from './lib/machine';
import { cleanupAll } from './lib/processes';
import { formatSize, GiB, MiB } from './lib/size';
import { median, summarise } from './lib/stats';
import {
  LOCAL_GROWTH_LIMIT_MIB_PER_GIB,
  LOCAL_RSS_TARGET_MIB,
  LOCAL_THROUGHPUT_TARGET,
  measureLocal,
} from './local';
import { measurePipeline } from './pipeline';
import { type BenchResults, writeResults } from './report';
import { measureRingCentral } from './ringcentral';
import { ALLOWANCE_MIB, analyseStreamMemory, GROWTH_LIMIT_MIB_PER_GIB } from './stream-memory';
import {
  CLI_IMPLS,
  collectStreamingSamples,
  type Impl,
  NODE_IMPLS,
  PART_SIZE_MIB,
  PARTS_IN_FLIGHT,
} from './streaming';
import { measureTeamsRecordings } from './teams-recordings';
import { measureTeamsRecordingsTenant } from './teams-recordings-tenant';
import { analyseThroughput, CEILING_TARGET, LIB_STORAGE_TARGET } from './throughput';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ALL: readonly Impl[] = [...NODE_IMPLS, ...CLI_IMPLS];

const MODES = {
  quick: {
    sizes: [
      { bytes: 10 * MiB, runs: 3, impls: ALL },
      { bytes: 100 * MiB, runs: 3, impls: ALL },
    ],
    pipeline: { recordings: 200, runs: 2 },
    lambdaRuns: 5,
    msgraph: { latencyRuns: 10, keyNotifications: 300, concurrentDeliveries: 50, concurrentRounds: 2 },
    msteams: [
      { bytes: 10 * MiB, runs: 2 },
      { bytes: 100 * MiB, runs: 2 },
    ],
    catalog: { archiveRuns: 20, scales: [10_000, 100_000] },
    local: [{ bytes: 100 * MiB, runs: 3 }],
  },
  default: {
    sizes: [
      { bytes: 10 * MiB, runs: 3, impls: ALL },
      { bytes: 100 * MiB, runs: 5, impls: ALL },
      { bytes: GiB, runs: 3, impls: ALL },
    ],
    pipeline: { recordings: 1000, runs: 3 },
    lambdaRuns: 11,
    msgraph: { latencyRuns: 20, keyNotifications: 1000, concurrentDeliveries: 50, concurrentRounds: 4 },
    msteams: [
      { bytes: 100 * MiB, runs: 3 },
      { bytes: 2 * GiB, runs: 2 },
    ],
    catalog: { archiveRuns: 40, scales: [10_000, 100_000, 1_000_000] },
    local: [
      { bytes: 100 * MiB, runs: 3 },
      { bytes: GiB, runs: 3 },
    ],
  },
  full: {
    sizes: [
      { bytes: 10 * MiB, runs: 7, impls: ALL },
      { bytes: 100 * MiB, runs: 5, impls: ALL },
      { bytes: GiB, runs: 3, impls: ALL },
      { bytes: 2 * GiB, runs: 3, impls: ALL },
    ],
    pipeline: { recordings: 1000, runs: 5 },
    lambdaRuns: 21,
    msgraph: { latencyRuns: 20, keyNotifications: 1000, concurrentDeliveries: 50, concurrentRounds: 8 },
    msteams: [
      { bytes: 100 * MiB, runs: 5 },
      { bytes: 2 * GiB, runs: 3 },
    ],
    catalog: { archiveRuns: 100, scales: [10_000, 100_000, 1_000_000] },
    local: [
      { bytes: 100 * MiB, runs: 3 },
      { bytes: GiB, runs: 3 },
      { bytes: 2 * GiB, runs: 3 },
    ],
  },
} as const;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    full: { type: 'boolean', default: false },
    only: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    out: { type: 'string', default: join(ROOT, 'bench', 'results', 'latest.json') },
  },
});

const modeName = values.full ? 'full' : values.quick ? 'quick' : 'default';
const mode = MODES[modeName];
const SECTIONS = [
  'streaming',
  'pipeline',
  'lambda',
  'msgraph',
  'ringcentral',
  'msteams',
  'msteams-tenant',
  'catalog',
  'events',
  'dedupe',
  'forecast',
  'burst',
  'local',
  'continuation',
] as const;
const sections = new Set((values.only ?? SECTIONS.join(',')).split(',').map((part) => part.trim()));
const started = Date.now();
const log = (line: string) => {
  const elapsed = Math.round((Date.now() - started) / 1000);
  console.log(
    `[${String(Math.floor(elapsed / 60)).padStart(2, '0')}:${String(elapsed % 60).padStart(2, '0')}] ${line}`,
  );
};

function commandLine(): string {
  const args = [
    ...(modeName === 'default' ? [] : [`--${modeName}`]),
    ...(values.only ? ['--only', values.only] : []),
  ];
  return `npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
}

async function main(): Promise<void> {
  const machine = describeMachine();
  log(
    `callvault bench, mode ${modeName}: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, moto ${machine.moto}`,
  );
  const results: BenchResults = {
    command: commandLine(),
    mode: modeName,
    startedAt: new Date(started).toISOString(),
    durationSeconds: 0,
    machine,
    config: {
      partSizeMiB: PART_SIZE_MIB,
      partsInFlight: PARTS_IN_FLIGHT,
      memoryTargetMiB: PART_SIZE_MIB * (PARTS_IN_FLIGHT + 1) + ALLOWANCE_MIB,
      growthLimitMiBPerGiB: GROWTH_LIMIT_MIB_PER_GIB,
      ceilingTarget: CEILING_TARGET,
      libStorageTarget: LIB_STORAGE_TARGET,
      libStorage: 'defaults (partSize 5 MiB, queueSize 4)',
      libStorageOurs: `partSize ${PART_SIZE_MIB} MiB, queueSize ${PARTS_IN_FLIGHT}`,
      awsCli: 'defaults (multipart_chunksize 8 MiB, max_concurrent_requests 10)',
      streaming: mode.sizes.map((size) => ({
        size: formatSize(size.bytes),
        runs: size.runs,
        impls: size.impls,
      })),
      pipeline: {
        ...mode.pipeline,
        webhookConcurrency: 16,
        invocations: 5,
        sqsBatchSize: 2,
        localWorkerConcurrency: 4,
      },
      lambdaRuns: mode.lambdaRuns,
      msgraph: mode.msgraph,
      msteams: mode.msteams.map((size) => ({ size: formatSize(size.bytes), runs: size.runs })),
      catalog: mode.catalog,
    },
    verdicts: [],
    raw: {},
  };

  if (sections.has('streaming')) {
    log('streaming: moto + loopback recording host; one worker process per trial');
    const { samples, runner } = await collectStreamingSamples({ sizes: mode.sizes }, log);
    results.raw.streaming = samples;
    results.config.streamingRunner = runner;
    const memory = analyseStreamMemory(samples, {
      partSizeMiB: PART_SIZE_MIB,
      partsInFlight: PARTS_IN_FLIGHT,
    });
    results.streamMemory = memory;
    const largest = memory.rows.at(-1);
    results.verdicts.push(
      {
        target: `Peak RSS ≤ ${memory.budgetMiB} MiB (${PART_SIZE_MIB} MiB × ${PARTS_IN_FLIGHT + 1} + ${ALLOWANCE_MIB}), raw`,
        met: memory.verdicts.rawPeakWithinBudget,
        detail: memory.rows.map((row) => `${formatSize(row.bytes)}: ${row.maxRssMiB.median} MiB`).join(', '),
      },
      {
        target: `Peak RSS − idle baseline ≤ ${memory.budgetMiB} MiB`,
        met: memory.verdicts.peakOverBaselineWithinBudget,
        detail:
          memory.rows
            .map((row) => `${formatSize(row.bytes)}: +${row.peakOverBaselineMiB.median} MiB`)
            .join(', ') + (largest ? ` (baseline ${largest.baselineRssMiB.median} MiB)` : ''),
      },
    );
    if (memory.growth) {
      results.verdicts.push({
        target: `Growth < ${GROWTH_LIMIT_MIB_PER_GIB} MiB per extra GiB (${formatSize(memory.growth.fromBytes)} → ${formatSize(memory.growth.toBytes)})`,
        met: memory.verdicts.growthUnderLimit ?? null,
        detail: `${memory.growth.rawMiBPerGiB} MiB/GiB (peak − baseline: ${memory.growth.overBaselineMiBPerGiB} MiB/GiB)`,
      });
    }
    const throughput = analyseThroughput(samples);
    results.throughput = throughput;
    // Issue 16, item 1: judged at every size, against lib-storage at its defaults and at our part size.
    for (const row of throughput.rows) {
      const size = formatSize(row.bytes);
      const { ratios, verdicts } = row;
      const memory = (rss: number | undefined, met: boolean | undefined) =>
        rss === undefined ? 'peak RSS not measured' : `peak RSS ${rss}× (${met ? 'no more' : 'more'})`;
      results.verdicts.push(
        {
          target: `Archive ≥ ${LIB_STORAGE_TARGET} × lib-storage Upload (defaults), same memory or less (${size})`,
          met:
            verdicts.libStorage === undefined
              ? null
              : verdicts.libStorage && verdicts.libStorageMemory !== false,
          detail: `${ratios.archiveVsLibStorage ?? '–'} whole job (streaming phase alone: ${ratios.archiveStreamVsLibStorage ?? '–'}); ${memory(ratios.archivePeakRssVsLibStorage, verdicts.libStorageMemory)}`,
        },
        {
          target: `Archive ≥ ${LIB_STORAGE_TARGET} × lib-storage Upload (our part size, ${PART_SIZE_MIB} MiB × ${PARTS_IN_FLIGHT}), same memory or less (${size})`,
          met:
            verdicts.libStorageOurs === undefined
              ? null
              : verdicts.libStorageOurs && verdicts.libStorageOursMemory !== false,
          detail: `${ratios.archiveVsLibStorageOurs ?? '–'} whole job; ${memory(ratios.archivePeakRssVsLibStorageOurs, verdicts.libStorageOursMemory)}`,
        },
        {
          target: `Archive ≥ ${CEILING_TARGET} × min(download, S3 ceiling), whole job (${size})`,
          met: verdicts.ceiling ?? null,
          detail: `${ratios.archiveVsCeiling ?? '–'} (streaming phase alone: ${ratios.archiveStreamVsCeiling ?? '–'})`,
        },
      );
    }
  }

  if (sections.has('pipeline')) {
    log(`pipeline: ${mode.pipeline.recordings} webhooks, local and on moto, ${mode.pipeline.runs} runs each`);
    const { samples, summaries } = await measurePipeline(
      { ...mode.pipeline, webhookConcurrency: 16, invocations: 5, modes: ['local', 'aws'] },
      log,
    );
    results.raw.pipeline = samples;
    results.pipeline = summaries;
    for (const summary of summaries) {
      results.verdicts.push({
        target: `Pipeline (${summary.mode}): no duplicates, nothing missing`,
        met: summary.verdict.noDuplicates && summary.verdict.nothingMissing,
        detail: `${summary.recordings} × ${summary.runs} runs: ${summary.duplicates} duplicates, ${summary.missing + summary.hashMismatches} missing or wrong; ${summary.recordingsPerSecond.median} recordings/s`,
      });
    }
  }

  if (sections.has('lambda')) {
    log(`lambda: bundling every Lambda entry, ${mode.lambdaRuns} cold imports each`);
    const { samples, summaries, emptyModule } = await measureLambdaCost({ runs: mode.lambdaRuns }, log);
    results.raw.lambda = { samples, emptyModule };
    results.lambda = summaries;
    const worker = summaries.find((summary) => summary.entry === 'functions/archive-worker.ts');
    if (worker) {
      results.verdicts.push({
        target: `Lambda: cold import of the worker bundle < ${WORKER_COLD_IMPORT_TARGET_MS} ms (median)`,
        met: worker.importMs.median < WORKER_COLD_IMPORT_TARGET_MS,
        detail:
          summaries
            .map(
              (summary) =>
                `${summary.entry.replace(/^functions\//, '')}: ${summary.importMs.median} ms (CPU ${summary.importCpuMs.median} ms), ${Math.round(summary.bundleBytes / 1024)} KiB (${Math.round(summary.gzipBytes / 1024)} KiB gzip)`,
            )
            .join('; ') +
          `; empty module in the same run: ${summarise(emptyModule.importMs).median} ms, whole process ${summarise(emptyModule.processMs).median} ms`,
      });
    }
  }

  if (sections.has('msgraph')) {
    log('msgraph: local mode against the Graph sandbox (latency, key fetches, webhook under concurrency)');
    const summary = await measureGraphCallingBot(mode.msgraph, log);
    results.msgraph = summary;
    const latency = summary.notificationToVerifiedCopyMs;
    const unknown = summary.keyFetchesForUnknownKids;
    const burst = summary.webhookUnderConcurrency;
    results.verdicts.push(
      {
        target: 'Graph bot: notification → verified copy of a 2-minute WAV < 2 s (local, median)',
        met: latency.median < 2000 && latency.verified === latency.runs,
        detail: `median ${latency.median} ms (${latency.min}–${latency.max}) over ${latency.runs} runs, ${latency.verified} verified`,
      },
      {
        target: `Graph bot: key fetches for ${summary.keyFetchesForValid.notifications} valid notifications = 1`,
        met: summary.keyFetchesForValid.fetches === 1,
        detail: `${summary.keyFetchesForValid.fetches}`,
      },
      {
        target: `Graph bot: key fetches for ${unknown.notifications} unknown kids ≤ 1 per ${unknown.cooldownMs / 1000} s`,
        met: unknown.fetches <= unknown.allowed && unknown.refused === unknown.notifications,
        detail: `${unknown.fetches} in ${Math.round(unknown.elapsedMs / 1000)} s (allowed ${unknown.allowed}); ${unknown.refused} refused`,
      },
      {
        target: `Graph bot: webhook p99 < 1 s under ${burst.concurrency} concurrent deliveries`,
        met: burst.p99Ms < 1000 && burst.archived === burst.deliveries,
        detail: `p99 ${burst.p99Ms} ms, p50 ${burst.p50Ms} ms, max ${burst.maxMs} ms over ${burst.deliveries}; ${burst.archived} archived`,
      },
    );
  }

  if (sections.has('ringcentral')) {
    const options = { recordings: 20, hangUps: 5, notReadyMs: 20_000 };
    log(
      `ringcentral: ${options.recordings} recordings by sweep at the default Heavy budget, ${options.hangUps} hang-ups`,
    );
    const { summary, samples } = await measureRingCentral(options, log);
    results.raw.ringcentral = samples;
    results.ringcentral = summary;
    const lifetimes = Math.max(1, Math.ceil(summary.elapsedSeconds / 3600));
    results.verdicts.push(
      {
        target: 'RingCentral: logins ≤ 1 per source per token lifetime',
        met: summary.logins <= lifetimes,
        detail: `${summary.logins} login(s) for ${summary.archived} recordings (${summary.loginsPer100.toFixed(1)} per 100) in ${summary.elapsedSeconds.toFixed(0)} s`,
      },
      {
        target: `RingCentral: 429s per 100 downloads at the default budget (${summary.heavyPerMinute}/min) < 1`,
        met: summary.throttledPer100Downloads < 1,
        detail: `${summary.throttled} 429s for ${summary.downloads} downloads`,
      },
      {
        target: 'RingCentral: archived per minute ≥ 0.9 × the Heavy budget',
        met: summary.budgetShare >= 0.9,
        detail: `${summary.archivedPerMinute.toFixed(2)}/min of ${summary.heavyPerMinute} (${summary.budgetShare.toFixed(2)}); ${summary.heavyRequests} Heavy requests in all`,
      },
      {
        target: `RingCentral: hang-up → verified copy p50 < not-ready delay + 5 s (${summary.notReadyMs / 1000 + 5} s), local`,
        met: summary.hangUpToCopySeconds.median < summary.notReadyMs / 1000 + 5,
        detail: `p50 ${summary.hangUpToCopySeconds.median.toFixed(1)} s (min ${summary.hangUpToCopySeconds.min.toFixed(1)}, max ${summary.hangUpToCopySeconds.max.toFixed(1)}) over ${options.hangUps} calls, default retry policy`,
      },
    );
  }

  if (sections.has('msteams')) {
    log(
      `msteams: ${mode.msteams.map((size) => formatSize(size.bytes)).join(' and ')} through the Teams adapter (sandbox) and the Telphin path, one worker process per trial`,
    );
    const { summary, samples } = await measureTeamsRecordings(
      { sizes: mode.msteams, latency: { runs: 10, bytes: 32 * MiB } },
      log,
    );
    results.raw.msteams = samples;
    results.msteams = summary;
    const teams = summary.rows.filter((row) => row.path === 'teams');
    const telphin = summary.rows.filter((row) => row.path === 'telphin');
    const describe = (rows: typeof teams) =>
      rows.map((row) => `${formatSize(row.bytes)}: +${row.peakOverBaselineMiB} MiB`).join(', ');
    const teamsGrowth = summary.growthMiBPerGiB.teams;
    const telphinGrowth = summary.growthMiBPerGiB.telphin;
    results.verdicts.push(
      {
        target: `Teams: peak RSS − baseline ≤ ${summary.budgetMiB} MiB, the Telphin path's bound (${summary.partSizeMiB} MiB × ${summary.partsInFlight + 1} + ${ALLOWANCE_MIB})`,
        met: teams.length > 0 && teams.every((row) => row.peakOverBaselineMiB <= summary.budgetMiB),
        detail: `Teams ${describe(teams)}; Telphin ${describe(telphin)}`,
      },
      {
        target: `Teams: growth ≤ the Telphin path's + ${GROWTH_LIMIT_MIB_PER_GIB} MiB per extra GiB`,
        met:
          teamsGrowth === null || telphinGrowth === null
            ? null
            : teamsGrowth <= telphinGrowth + GROWTH_LIMIT_MIB_PER_GIB,
        detail: `Teams ${teamsGrowth ?? '–'} MiB/GiB, Telphin ${telphinGrowth ?? '–'} MiB/GiB (peak − baseline)`,
      },
      {
        target: 'Teams: every stored copy checked (size, SHA-256 tag)',
        met: summary.stored.ok === summary.stored.checked,
        detail: `${summary.stored.ok} of ${summary.stored.checked}`,
      },
    );
  }

  if (sections.has('msteams-tenant')) {
    log('msteams-tenant: sweeps of generated Teams tenants of 100, 1,000 and 10,000 users (users: "all")');
    const tenant = await measureTeamsRecordingsTenant([100, 1000, 10_000], log);
    results.raw['msteams-tenant'] = tenant;
    const largest = tenant.rows.at(-1);
    results.verdicts.push({
      target: `Teams tenant: 10,000 users, 50,000 recordings/day swept within one sweep interval (${tenant.intervalSeconds} s)`,
      met: largest
        ? largest.users === 10_000 &&
          largest.listed === largest.expected &&
          largest.seconds <= tenant.intervalSeconds
        : null,
      detail: tenant.rows
        .map(
          (row) =>
            `${row.users.toLocaleString('en')} users ${row.mode}: ${row.graphRequests} Graph requests (${row.reads} reads, ${row.batchRequests} $batch), ${row.seconds} s, ${row.listed}/${row.expected} listed`,
        )
        .join('; '),
    });
  }

  if (sections.has('catalog')) {
    log(
      `catalog: archive with and without the catalogue (${mode.catalog.archiveRuns} each), layouts at 10k, DuckDB at ${mode.catalog.scales.join(', ')} records (365 days × 4 sources; generated once under the temp folder)`,
    );
    const { summary, samples } = await measureCatalogue(mode.catalog, log);
    results.raw.catalog = samples;
    results.catalog = summary;
    const largest = summary.scaling.at(-1);
    const scale = largest ? `${largest.records.toLocaleString('en')} records` : 'no scale';
    results.verdicts.push(
      {
        target: 'Catalogue: at most one PUT per recording',
        met: summary.archive.s3PutsPerRecordingWith - summary.archive.s3PutsPerRecordingWithout <= 1,
        detail: `${summary.archive.s3PutsPerRecordingWithout} PUTs per recording without, ${summary.archive.s3PutsPerRecordingWith} with (moto S3, single-part recordings)`,
      },
      {
        target: 'Catalogue: < 5 % added to the median archive time',
        met: summary.archive.s3OverheadPercent < 5 && summary.archive.overheadPercent < 5,
        detail: `S3 (moto): ${summary.archive.s3MedianMsWithout} ms → ${summary.archive.s3MedianMsWith} ms (${summary.archive.s3OverheadPercent} %); local folder: ${summary.archive.medianMsWithout} ms → ${summary.archive.medianMsWith} ms (${summary.archive.overheadPercent} %); ${summary.archive.recordings} × ${formatSize(summary.archive.bytes)} each, interleaved`,
      },
      {
        target: 'Catalogue: npm run find, number + 14 days < 2 s over 1,000,000 records',
        met: largest?.records === 1_000_000 ? largest.numberQueryMs < 2000 : null,
        detail: largest ? `${largest.numberQueryMs} ms over ${scale} (${largest.numberHits} hits)` : '–',
      },
      {
        target: 'Catalogue: full-year scan < 20 s over 1,000,000 records',
        met:
          largest?.records === 1_000_000
            ? Math.max(largest.fullScanMs, largest.fullListingMs) < 20_000
            : null,
        detail: largest
          ? `number over the year ${largest.fullScanMs} ms (${largest.fullScanRows} hits), first 1,000 of the year ${largest.fullListingMs} ms, over ${scale}`
          : '–',
      },
      {
        target: 'Catalogue: find memory < 500 MiB',
        met: largest?.records === 1_000_000 ? largest.maxRssMiB < 500 : null,
        detail: largest
          ? `max RSS ${largest.maxRssMiB} MiB over ${scale} (whole process: Node + DuckDB)`
          : '–',
      },
    );
  }

  if (sections.has('events')) {
    // Events for downstream consumers (bench/events.ts): 1,000 recordings whatever the mode (about 20 s).
    const events = await measureEvents({ recordings: 1000 }, log);
    results.events = events;
    results.verdicts.push({
      target:
        'Events: 1,000 archived → 1,000 events, 0 lost, 0 duplicated ids, every 10th publish failing once',
      met: eventsTargetMet(events),
      detail: `${events.archived} archived → ${events.fileEvents} in the NDJSON file and ${events.httpEvents} POSTed; ${events.lost} lost, ${events.duplicatedIds} duplicated ids, ${events.undelivered} undelivered; ${events.injectedFailures} first POSTs refused and retried; ${events.wallSeconds} s`,
    });
  }

  if (sections.has('dedupe')) {
    // Issue 16 item 7 (bench/dedupe.ts): whatever the mode, six simulated hours (about a minute).
    const options = { hours: 6, teamsRecordings: 3, ringCentralRecordings: 20 };
    log(
      `dedupe: ${options.hours} simulated hours of sweeps, ${options.teamsRecordings} Teams recordings processing and ${options.ringCentralRecordings} RingCentral recordings behind the budget; markers off and on, local and on moto`,
    );
    const dedupe = await measureDedupe(options, log);
    results.dedupe = dedupe;
    const allowed = Math.ceil(dedupe.hours / dedupe.pendingMarkerHours);
    const figure = (composition: string, markers: string) => {
      const run = dedupe.runs.find((entry) => entry.composition === composition && entry.markers === markers);
      return run ? `${run.jobsPerRecording.max}` : '–';
    };
    const after = dedupe.runs.filter((run) => run.markers === 'on');
    const trustworthy = dedupe.runs.every(
      (run) => run.failedSweeps === 0 && (run.composition === 'local' || run.heldByQueue === run.totalJobs),
    );
    const first = dedupe.runs[0];
    results.verdicts.push({
      target: `Pending markers: ≤ 1 job per recording per marker period (${dedupe.hours} h not ready, a sweep every ${dedupe.intervalSeconds / 60} min, markers ${dedupe.pendingMarkerHours} h)`,
      met: after.length === 2 && trustworthy && after.every((run) => run.jobsPerRecording.max <= allowed),
      detail: `jobs per recording, before (markers off) → after: local ${figure('local', 'off')} → ${figure('local', 'on')}, DynamoDB on moto ${figure('aws', 'off')} → ${figure('aws', 'on')}; ${first?.recordings ?? 0} recordings (Teams processing, RingCentral behind its budget), ${first?.sweeps ?? 0} sweeps, 0 failed: ${trustworthy}`,
    });
  }

  if (sections.has('forecast')) {
    // Issue 16 item 6 (bench/forecast.ts): simulated days, whatever the mode (about 10 s).
    const scenarios = [
      // Around what the budget archives: 10 Heavy a minute, paced, at 2 a recording is 6,857 a day before
      // the sweep's pages (2,304 a day at 4,000 arrivals, 3,168 at 5,500).
      { name: '4,000 a day, 7,000 waiting two days before', arrivalsPerDay: 4_000, initialBacklog: 7_000 },
      { name: '4,000 a day, none waiting', arrivalsPerDay: 4_000, initialBacklog: 0 },
      { name: '5,500 a day, none waiting', arrivalsPerDay: 5_500, initialBacklog: 0 },
      { name: '7,000 a day, none waiting', arrivalsPerDay: 7_000, initialBacklog: 0 },
    ];
    log(
      `forecast: ${scenarios.length} arrival rates around the Heavy budget, two simulated days each side of now`,
    );
    const forecast = await measureForecast({ scenarios }, log);
    results.forecast = forecast;
    const describe = (rows: ForecastScenarioResult[]) =>
      rows
        .map(
          (row) =>
            `${row.scenario.arrivalsPerDay.toLocaleString('en')}/day: says ${row.forecast.verdict === 'clears' ? `clears in ${row.forecast.hoursToClear} h` : row.forecast.verdict}, simulated ${row.simulated.direction === 'clears' ? `clears in ${row.simulated.clearedAfterHours} h` : row.simulated.direction}`,
        )
        .join('; ');
    const forecastTargets = {
      'with listing': `Budget forecast agrees with the rate gate in simulated time (default sweep: call-log pages every ${forecast.intervalSeconds / 60} min over ${forecast.lookbackHours} h)`,
      'with recent sweeps': `Budget forecast agrees with the rate gate in simulated time (sweep.recentLookbackHours ${RECENT_LOOKBACK_HOURS}: ${RECENT_LOOKBACK_HOURS} h every ${forecast.intervalSeconds / 60} min, ${forecast.lookbackHours} h once a day)`,
      'downloads only':
        'Budget forecast agrees with the rate gate in simulated time (downloads alone, the forecast’s own model)',
    } as const;
    for (const model of ['with listing', 'with recent sweeps', 'downloads only'] as const) {
      const rows = forecast.results.filter((row) => row.model === model);
      results.verdicts.push({
        target: forecastTargets[model],
        met: rows.length > 0 && rows.every((row) => row.agrees),
        detail: `${rows.filter((row) => row.agrees).length} of ${rows.length}: ${describe(rows)}`,
      });
    }
  }

  if (sections.has('continuation')) {
    // Issue 16 item 4 (bench/continuation.ts): one pass against a chain of continuations, on moto.
    const options =
      modeName === 'quick'
        ? { sizeBytes: 200 * 1024 * 1024, cutEveryBytes: 50 * 1024 * 1024, runs: 1 }
        : { sizeBytes: 600 * 1024 * 1024, cutEveryBytes: 150 * 1024 * 1024, runs: 3 };
    log(
      `continuation: ${options.sizeBytes / 1024 / 1024} MiB, one pass and cut every ${options.cutEveryBytes / 1024 / 1024} MiB, ${options.runs} run(s) on moto`,
    );
    const continuation = await measureContinuation(options, log);
    results.continuation = continuation;
    const ratios = continuation.runs.map((run) => run.chainSeconds / run.onePassSeconds);
    const fewest = Math.min(...continuation.runs.map((run) => run.continuations));
    results.verdicts.push({
      target: `Continuation: a ${options.sizeBytes / 1024 / 1024} MiB recording over ≥ 3 continuations is byte-identical to one pass (SHA-256, S3's full-object CRC32), no restart, no upload left open`,
      met: continuation.runs.every((run) => run.identical && run.restarts === 0) && fewest >= 3,
      detail: `${continuation.runs.length} run(s): ${fewest} continuations at the fewest; identical in ${continuation.runs.filter((run) => run.identical).length}; the chain took ${median(ratios).toFixed(2)}× the one pass's time (median; one pass ${median(continuation.runs.map((run) => run.onePassSeconds)).toFixed(1)} s)`,
    });
  }

  if (sections.has('burst')) {
    // Issue 16 item 8 (bench/burst.ts): 200 Graph bot recordings, spread over a minute and all at once.
    log("burst: 200 Graph bot recordings on moto at the Graph worker's sized concurrency");
    const burst = await measureBurst({ shapes: ['spread over 60 s', 'all at once'] }, log);
    results.burst = burst;
    results.verdicts.push({
      target: `Graph bot burst: all ${burst.recordings} recordings fetched before their tokens expire (${burst.tokenLifetimeSeconds} s), at the sized concurrency`,
      met:
        burst.runs.length > 0 &&
        burst.runs.every(
          (run) =>
            run.verified === run.recordings &&
            run.expiredTokenRefusals === 0 &&
            run.deadLetters === 0 &&
            run.oldestTokenAtJobEndSeconds < burst.tokenLifetimeSeconds,
        ),
      detail: `concurrency ${burst.concurrency} (batch ${burst.batchSize}) from cdk/worker-sizing.ts; ${burst.runs
        .map(
          (run) =>
            `${run.shape}: ${run.verified}/${run.recordings} verified, oldest message ${run.oldestMessageAgeSeconds} s, oldest token at job end ${run.oldestTokenAtJobEndSeconds} s, ${run.expiredTokenRefusals} expired, job median ${run.jobSeconds.median} s`,
        )
        .join('; ')}`,
    });
  }

  if (sections.has('local')) {
    log(
      `local: npm start -- --once against a raw loopback download of the same file, ${mode.local.map((size) => `${formatSize(size.bytes)} × ${size.runs}`).join(', ')}`,
    );
    const { summary, samples } = await measureLocal({ sizes: mode.local }, log);
    results.raw.local = samples;
    results.local = summary;
    for (const row of summary.rows) {
      results.verdicts.push({
        target: `Local: npm start transfer ≥ ${LOCAL_THROUGHPUT_TARGET} × raw loopback download (${formatSize(row.bytes)})`,
        met: row.ratio >= LOCAL_THROUGHPUT_TARGET && row.sha256Ok === row.runs,
        detail: `${row.ratio} (${row.transferMiBps} vs ${row.rawMiBps} MiB/s; ${row.sha256Ok}/${row.runs} SHA-256 checked; before the first byte ${row.beforeFirstByteMs} ms, whole command ${row.commandMs} ms; CPU ${row.commandCpuMsPerGiB} ms/GiB for npm start vs ${row.rawCpuMsPerGiB} ms/GiB raw)`,
      });
    }
    const largest = Math.max(...summary.rows.map((row) => row.maxRssMiB));
    results.verdicts.push({
      target: `Local: peak RSS of the largest process ≤ ${LOCAL_RSS_TARGET_MIB} MiB`,
      met: largest <= LOCAL_RSS_TARGET_MIB,
      detail: summary.rows.map((row) => `${formatSize(row.bytes)}: ${row.maxRssMiB} MiB`).join(', '),
    });
    if (summary.growthMiBPerGiB !== null) {
      results.verdicts.push({
        target: `Local: peak RSS growth < ${LOCAL_GROWTH_LIMIT_MIB_PER_GIB} MiB per extra GiB`,
        met: summary.growthMiBPerGiB < LOCAL_GROWTH_LIMIT_MIB_PER_GIB,
        detail: `${summary.growthMiBPerGiB} MiB/GiB`,
      });
    }
  }

  if (values.only) await carryOver(results, values.out);
  results.durationSeconds = Math.round((Date.now() - started) / 1000);
  for (const verdict of results.verdicts)
    log(
      `${verdict.met === null ? 'n/a   ' : verdict.met ? 'met   ' : 'MISSED'} ${verdict.target}: ${verdict.detail}`,
    );
  if (!values['no-write']) {
    await mkdir(dirname(values.out), { recursive: true });
    await writeResults(results, values.out, join(ROOT, 'BENCHMARKS.md'));
    log(`wrote ${values.out} and BENCHMARKS.md`);
  }
}

/**
 * A partial run keeps the previous run's other sections (and their verdicts) in the report rather than
 * dropping them; `carriedOver` names them and when they were measured.
 */
async function carryOver(results: BenchResults, path: string): Promise<void> {
  let previous: BenchResults;
  try {
    previous = JSON.parse(await readFile(path, 'utf8')) as BenchResults;
  } catch {
    return;
  }
  const verdictPrefix: Record<(typeof SECTIONS)[number], (target: string) => boolean> = {
    streaming: (target) => /^(Peak RSS|Growth|Archive|…)/.test(target),
    pipeline: (target) => target.startsWith('Pipeline'),
    lambda: (target) => target.startsWith('Lambda:'),
    // 'Graph bot burst:' belongs to the burst section.
    msgraph: (target) => target.startsWith('Graph bot') && !target.startsWith('Graph bot burst:'),
    ringcentral: (target) => target.startsWith('RingCentral:'),
    msteams: (target) => target.startsWith('Teams:'),
    'msteams-tenant': (target) => target.startsWith('Teams tenant:'),
    catalog: (target) => target.startsWith('Catalogue:'),
    events: (target) => target.startsWith('Events:'),
    dedupe: (target) => target.startsWith('Pending markers:'),
    forecast: (target) => target.startsWith('Budget forecast'),
    burst: (target) => target.startsWith('Graph bot burst:'),
    local: (target) => target.startsWith('Local:'),
    continuation: (target) => target.startsWith('Continuation:'),
  };
  const keys: Record<(typeof SECTIONS)[number], (keyof BenchResults)[]> = {
    streaming: ['streamMemory', 'throughput'],
    pipeline: ['pipeline'],
    lambda: ['lambda'],
    msgraph: ['msgraph'],
    ringcentral: ['ringcentral'],
    msteams: ['msteams'],
    'msteams-tenant': [],
    catalog: ['catalog'],
    events: ['events'],
    dedupe: ['dedupe'],
    forecast: ['forecast'],
    burst: ['burst'],
    local: ['local'],
    continuation: ['continuation'],
  };
  const carried: string[] = [];
  for (const section of SECTIONS) {
    if (sections.has(section)) continue;
    const present = keys[section].filter((key) => previous[key] !== undefined);
    // A section may keep its figures only under `raw` (msteams-tenant).
    if (present.length === 0 && previous.raw?.[section] === undefined) continue;
    for (const key of present) (results as unknown as Record<string, unknown>)[key] = previous[key];
    if (previous.raw?.[section] !== undefined) results.raw[section] = previous.raw[section];
    results.verdicts.push(...previous.verdicts.filter((verdict) => verdictPrefix[section](verdict.target)));
    // A section the previous run had itself carried keeps the date and command it was measured with.
    const carriedFrom = previous.carriedOver?.find((entry) => entry.section === section);
    carried.push(section);
    results.carriedOver = [
      ...(results.carriedOver ?? []),
      {
        section,
        measuredAt: carriedFrom?.measuredAt ?? previous.startedAt,
        command: carriedFrom?.command ?? previous.command,
      },
    ];
  }
  if (carried.length > 0) log(`carried over from the previous results: ${carried.join(', ')}`);
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
