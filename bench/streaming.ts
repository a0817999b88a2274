/**
 * Collects the streaming samples that measurements 1 and 2 are computed from: for each size, several
 * rounds, and in each round one trial of every implementation (in a rotating order, so drifting load on a
 * shared machine touches all of them alike). Every trial is a fresh worker process against the same
 * moto_server and the same loopback recording host; its object is checked and then deleted.
 *
 *   archive          callvault's S3ArchiveStore (8 MiB × 2 in flight: the deployed defaults): one multipart
 *                    upload to the final key with a FULL_OBJECT CRC32, then the `sha256` tag
 *   lib-storage      @aws-sdk/lib-storage Upload with its defaults (5 MiB × 4), same verified stream
 *   lib-storage-ours the same Upload at our part size and parts in flight (8 MiB × 2)
 *   download         the HTTP download alone, to nowhere (source ceiling)
 *   download-verify  the download through RecordingVerifier (what hashing and checking cost)
 *   bare-put         UploadPart loop of in-process bytes, no checksums, no tag (S3-server ceiling)
 *   aws-cli-file     `aws s3 cp FILE s3://…` of the same bytes written to a temp file beforehand
 *   aws-cli-stdin    `aws s3 cp - s3://…` fed the HTTP download on stdin
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { type MotoServer, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../test/support/moto';
import { syntheticMp3Stream } from '../test/support/synthetic-media';
import { onCleanup, spawnTracked } from './lib/processes';
import { formatSize, MiB } from './lib/size';
import { round } from './lib/stats';
import {
  bundleStreamChild,
  type ChildEntry,
  checkStoredObject,
  deleteObject,
  type RecordingHost,
  runStreamTrial,
  startRecordingHost,
} from './lib/stream-trial';
import { type TimelinePhases, timelinePhases } from './lib/timeline';

export const BUCKET = 'callvault-bench';
export const PART_SIZE_MIB = 8;
export const PARTS_IN_FLIGHT = 2;

export const NODE_IMPLS = [
  'archive',
  'lib-storage',
  'lib-storage-ours',
  'download',
  'download-verify',
  'bare-put',
] as const;
export const CLI_IMPLS = ['aws-cli-file', 'aws-cli-stdin'] as const;
export type Impl = (typeof NODE_IMPLS)[number] | (typeof CLI_IMPLS)[number];

export interface StreamSample {
  impl: Impl;
  bytes: number;
  round: number;
  seconds: number;
  streamSeconds: number;
  finaliseSeconds: number;
  mibPerSecond: number;
  streamMibPerSecond: number;
  /** Worker processes only: RSS before the first byte, with the SDK loaded and the client built. */
  baselineRssMiB?: number;
  maxRssMiB: number | null;
  peakOverBaselineMiB?: number;
  sampledPeakArrayBuffersMiB?: number;
  /** Worker processes only: S3 requests sent, by command. */
  requests?: Record<string, number>;
  /** Uploads: size (and, for archive, the SHA-256 and checksum recorded by the store) checked in the bucket. */
  stored?: { ok: boolean; readBack: boolean };
  /** Worker processes only: where the time went, from the per-request timeline. */
  phases?: TimelinePhases;
}

export interface StreamingPlan {
  sizes: readonly { bytes: number; runs: number; impls: readonly Impl[] }[];
}

function awsCliAvailable(): boolean {
  return spawnSync('aws', ['--version'], { stdio: 'ignore' }).status === 0;
}

const TIME = '/usr/bin/time';
function timeAvailable(): boolean {
  return spawnSync(TIME, ['-f', '%M', 'true'], { stdio: 'ignore' }).status === 0;
}

/** `aws s3 cp` under /usr/bin/time (for its peak RSS), from a file or from the HTTP download on stdin. */
async function awsCliTrial(
  moto: MotoServer,
  options: { source: 'file' | 'stdin'; file: string; url: string; key: string; bytes: number },
): Promise<{ seconds: number; maxRssMiB: number | null }> {
  const cli = ['aws', '--endpoint-url', moto.endpoint, 's3', 'cp', '--only-show-errors'];
  const target = `s3://${BUCKET}/${options.key}`;
  const args =
    options.source === 'file'
      ? [...cli, options.file, target]
      : [...cli, '-', target, '--expected-size', String(options.bytes)];
  const measured = timeAvailable();
  const command = measured ? TIME : (args.shift() as string);
  const commandArgs = measured ? ['-f', 'maxrss-kib=%M', ...args] : args;
  const started = performance.now();
  const child = spawnTracked(command, commandArgs, {
    stdio: [options.source === 'stdin' ? 'pipe' : 'ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      AWS_DEFAULT_REGION: TEST_REGION,
    },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  if (options.source === 'stdin' && child.stdin) {
    const stdin = child.stdin;
    const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) =>
      get(options.url, resolve).once('error', reject),
    );
    await pipeline(response, stdin);
  }
  const code = await exited;
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`aws s3 cp (${options.source}) failed with ${code}: ${stderr}`);
  const kib = /maxrss-kib=(\d+)/.exec(stderr)?.[1];
  return { seconds, maxRssMiB: kib ? Number(kib) / 1024 : null };
}

export async function collectStreamingSamples(
  plan: StreamingPlan,
  progress: (line: string) => void,
): Promise<{ samples: StreamSample[]; runner: string; awsCli: boolean }> {
  const scratch = await mkdtemp(join(tmpdir(), 'callvault-bench-stream-'));
  const removeScratch = onCleanup('streaming scratch folder', () =>
    rm(scratch, { recursive: true, force: true }),
  );
  const moto = await startMoto();
  const removeMoto = onCleanup('moto (streaming)', () => moto.stop());
  let host: RecordingHost | undefined;
  try {
    const entry: ChildEntry = await bundleStreamChild(scratch);
    host = await startRecordingHost(entry);
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const withCli = awsCliAvailable();
    if (!withCli) progress('aws CLI not found: the aws-cli-* comparisons are skipped');
    const samples: StreamSample[] = [];
    let trial = 0;

    for (const { bytes, runs, impls } of plan.sizes) {
      const active = impls.filter((impl) => withCli || !(CLI_IMPLS as readonly string[]).includes(impl));
      const verified = new Set<Impl>();
      const file = join(scratch, `body-${bytes}.mp3`);
      const seedFor = (run: number) => 1000 + run;
      for (let run = 1; run <= runs; run++) {
        const seed = seedFor(run);
        if (active.includes('aws-cli-file')) {
          // Untimed: the same bytes as this round's download, on disk.
          await pipeline(syntheticMp3Stream(bytes, seed, MiB), createWriteStream(file));
        }
        const order = active.map((_, index) => active[(index + run - 1) % active.length] as Impl);
        for (const impl of order) {
          trial += 1;
          const key = `recordings/telphin/bench/2024/01/01/${impl}-${bytes}-${run}-${trial}.mp3`;
          const url = host.url(bytes, seed);
          let sample: StreamSample;
          if (impl === 'aws-cli-file' || impl === 'aws-cli-stdin') {
            const result = await awsCliTrial(moto, {
              source: impl === 'aws-cli-file' ? 'file' : 'stdin',
              file,
              url,
              key,
              bytes,
            });
            sample = {
              impl,
              bytes,
              round: run,
              seconds: result.seconds,
              streamSeconds: result.seconds,
              finaliseSeconds: 0,
              mibPerSecond: bytes / MiB / result.seconds,
              streamMibPerSecond: bytes / MiB / result.seconds,
              maxRssMiB: result.maxRssMiB,
            };
          } else {
            const report = await runStreamTrial(entry, {
              impl: impl === 'lib-storage-ours' ? 'lib-storage' : impl,
              bytes,
              seed,
              url,
              endpoint: moto.endpoint,
              bucket: BUCKET,
              key,
              ...(impl === 'lib-storage'
                ? {}
                : { partSizeMiB: PART_SIZE_MIB, partsInFlight: PARTS_IN_FLIGHT }),
            });
            sample = {
              impl,
              bytes,
              round: run,
              seconds: report.seconds,
              streamSeconds: report.streamSeconds,
              finaliseSeconds: report.finaliseSeconds,
              mibPerSecond: bytes / MiB / report.seconds,
              streamMibPerSecond: bytes / MiB / report.streamSeconds,
              baselineRssMiB: report.baselineRssMiB,
              maxRssMiB: report.maxRssMiB,
              peakOverBaselineMiB: report.maxRssMiB - report.baselineRssMiB,
              sampledPeakArrayBuffersMiB: report.sampledPeakArrayBuffersMiB,
              requests: report.requests,
              phases: timelinePhases(report),
            };
          }
          if (impl !== 'download' && impl !== 'download-verify') {
            // The bytes themselves are read back once per implementation and size; later rounds check size
            // and what the store recorded (SHA-256 from the verifier, the checksum S3 reports).
            const readBack = !verified.has(impl);
            const check = await checkStoredObject(moto.s3, {
              bucket: BUCKET,
              key,
              bytes,
              seed,
              readBack,
              expectRecorded: impl === 'archive',
            });
            verified.add(impl);
            sample.stored = { ok: check.ok, readBack };
            await deleteObject(moto.s3, BUCKET, key);
            if (!check.ok)
              throw new Error(
                `${impl} stored a wrong object for ${formatSize(bytes)}: ${JSON.stringify(check)}`,
              );
          }
          for (const field of [
            'seconds',
            'streamSeconds',
            'finaliseSeconds',
            'mibPerSecond',
            'streamMibPerSecond',
          ] as const) {
            sample[field] = round(sample[field], 3);
          }
          samples.push(sample);
          progress(
            `${formatSize(bytes).padStart(8)} round ${run}/${runs} ${impl.padEnd(15)} ${sample.mibPerSecond
              .toFixed(1)
              .padStart(7)} MiB/s` +
              (sample.maxRssMiB !== null ? `  peak RSS ${sample.maxRssMiB.toFixed(1)} MiB` : '') +
              (sample.peakOverBaselineMiB !== undefined
                ? ` (+${sample.peakOverBaselineMiB.toFixed(1)})`
                : ''),
          );
        }
      }
      await rm(file, { force: true });
    }
    return { samples, runner: entry.runner, awsCli: withCli };
  } finally {
    if (host) await host.stop();
    await removeMoto();
    await removeScratch();
  }
}
