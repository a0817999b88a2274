/**
 * Measures what streaming one large recording into S3 costs in memory and time.
 *
 *   npx tsx scripts/measure-stream-memory.ts --size 1GiB [--impl callvault|lib-storage|bare-put]
 *                                            [--part-size-mib 8] [--parts-in-flight 2] [--no-bundle]
 *                                            [--timeline]
 *
 * `--part-size-mib default --parts-in-flight default` runs lib-storage at its own defaults. `--timeline`
 * adds the phases of the upload (create, parts, complete, what follows) and prints every request's timing.
 *
 * Three processes, so each figure belongs to one job: moto_server (the S3 endpoint), a loopback HTTP
 * server that serves a deterministic synthetic MP3 of the requested size (a "recording host"), and the
 * worker, which streams `http.get` → RecordingVerifier → the upload and reports its own peak RSS. The
 * parent then reads the object back and compares its SHA-256 with the synthetic body's.
 *
 * The children run an esbuild bundle of `bench/lib/stream-child.ts`, as Lambda runs bundled code;
 * `--no-bundle` runs them through tsx instead, whose loader thread adds about 30 MiB to every process.
 * `npm run bench` runs the same trials repeatedly, at several sizes and against baselines.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { cleanupAll } from '../bench/lib/processes';
import { parseSize } from '../bench/lib/size';
import { round } from '../bench/lib/stats';
import {
  bundleStreamChild,
  checkStoredObject,
  runStreamTrial,
  startRecordingHost,
} from '../bench/lib/stream-trial';
import { formatTimeline, timelinePhases } from '../bench/lib/timeline';
import { startMoto } from '../test/support/moto';

const BUCKET = 'callvault-measure';
const KEY = 'recordings/example/measure/2024/01/01/large.mp3';
const SEED = 7;

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1GiB' },
    impl: { type: 'string', default: 'callvault' },
    'part-size-mib': { type: 'string', default: '8' },
    'parts-in-flight': { type: 'string', default: '2' },
    'no-bundle': { type: 'boolean', default: false },
    timeline: { type: 'boolean', default: false },
  },
});

const size = parseSize(values.size ?? '1GiB');
const optionalNumber = (text: string | undefined) => (text === 'default' ? undefined : Number(text));
const partSizeMiB = optionalNumber(values['part-size-mib']);
const partsInFlight = optionalNumber(values['parts-in-flight']);
const impl = values.impl === 'lib-storage' || values.impl === 'bare-put' ? values.impl : 'archive';

async function main(): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'callvault-measure-'));
  try {
    const moto = await startMoto();
    try {
      const entry = await bundleStreamChild(scratch, { bundle: !values['no-bundle'] });
      await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
      const host = await startRecordingHost(entry);
      try {
        const report = await runStreamTrial(entry, {
          impl,
          bytes: size,
          seed: SEED,
          url: host.url(size, SEED),
          endpoint: moto.endpoint,
          bucket: BUCKET,
          key: KEY,
          ...(partSizeMiB !== undefined ? { partSizeMiB } : {}),
          ...(partsInFlight !== undefined ? { partsInFlight } : {}),
        });
        // Read the stored object back: the only proof that counts is the bytes in the bucket.
        const stored = await checkStoredObject(moto.s3, {
          bucket: BUCKET,
          key: KEY,
          bytes: size,
          seed: SEED,
          readBack: true,
          expectRecorded: impl === 'archive',
        });
        const result = {
          impl: impl === 'archive' ? 'callvault' : impl,
          bytes: size,
          seconds: round(report.seconds),
          mibPerSecond: round(size / 1024 ** 2 / report.seconds),
          streamSeconds: round(report.streamSeconds),
          streamMibPerSecond: round(size / 1024 ** 2 / report.streamSeconds),
          verifierSha256: report.sha256,
          baselineRssMiB: round(report.baselineRssMiB),
          maxRssMiB: round(report.maxRssMiB),
          sampledPeakHeapUsedMiB: round(report.sampledPeakHeapUsedMiB),
          sampledPeakArrayBuffersMiB: round(report.sampledPeakArrayBuffersMiB),
          partSizeMiB,
          partsInFlight,
          storedBytes: stored.storedBytes,
          runner: entry.runner,
          sha256Match: stored.ok && (impl === 'bare-put' || report.sha256 === stored.readBackSha256),
          metadataSha256: stored.metadataSha256,
          requests: report.requests,
          ...(values.timeline ? { phases: timelinePhases(report) } : {}),
        };
        if (values.timeline) process.stderr.write(`${formatTimeline(report)}\n`);
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        if (!result.sha256Match) process.exitCode = 1;
      } finally {
        await host.stop();
      }
    } finally {
      await moto.stop();
    }
  } finally {
    await cleanupAll();
    await rm(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
