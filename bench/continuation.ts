/**
 * Issue 16 item 4: a recording that outlives an invocation, archived as a chain of continuations over
 * HTTP Range (core/continuation.ts), against the same recording archived in one pass. Per run, on moto
 * (S3 and SQS) and a loopback host that honours Range (test/support/range-server.ts):
 * - one pass: the worker runs the job to the end;
 * - a chain: each "invocation" checkpoints once the host has sent `cutEveryBytes` in one response (a
 *   deadline in bytes, so the chain's length does not depend on the machine's speed), and the job comes
 *   back through the SQS queue to continue from the checkpoint.
 * Both copies are read back: their bytes' SHA-256 and S3's full-object CRC32 must equal the generated
 * source's. The chain's wall time against the one pass is what continuing costs (ListParts, the part
 * downloaded twice at each cut, the re-queue).
 */

import type { AddressInfo } from 'node:net';
import { CreateBucketCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { S3ArchiveStore } from '../functions/adapters/s3-archive-store';
import { SqsJobQueue } from '../functions/adapters/sqs-job-queue';
import { recordingJob } from '../functions/core/jobs';
import { startMoto } from '../test/support/moto';
import {
  type ContinuationWorld,
  digestsOf,
  drainContinuations,
  rangedRecording,
  rangeServer,
  type Served,
  storedDigests,
} from '../test/support/range-server';
import { createQueue } from '../test/support/sqs-records';
import { onCleanup } from './lib/processes';

const MiB = 1024 * 1024;
const BUCKET = 'callvault-bench-continuation';

export interface ContinuationBenchOptions {
  sizeBytes: number;
  cutEveryBytes: number;
  runs: number;
}

export interface ContinuationRun {
  onePassSeconds: number;
  chainSeconds: number;
  continuations: number;
  /** Both copies' SHA-256 and full-object CRC32 equal the source's, and no upload was left open. */
  identical: boolean;
  restarts: number;
}

export interface ContinuationBenchSummary {
  sizeBytes: number;
  cutEveryBytes: number;
  partSizeBytes: number;
  runs: ContinuationRun[];
}

const PART = 8 * MiB;

export async function measureContinuation(
  options: ContinuationBenchOptions,
  log: (line: string) => void,
): Promise<ContinuationBenchSummary> {
  const moto = await startMoto();
  const removeMoto = onCleanup('moto (continuation)', () => moto.stop());
  const runs: ContinuationRun[] = [];
  try {
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const queue = await createQueue(moto.sqs, 'bench-continuations');
    const world: ContinuationWorld = {
      sqs: moto.sqs,
      queueUrl: queue.url,
      store: new S3ArchiveStore({ client: moto.s3, bucket: BUCKET, partSizeBytes: PART, partsInFlight: 2 }),
      jobs: new SqsJobQueue({ client: moto.sqs, queueUrls: { telphin: queue.url } }),
    };
    for (let run = 0; run < options.runs; run++) {
      const seed = 1000 + run;
      const expected = await digestsOf(options.sizeBytes, seed);
      const archive = async (id: string, cutEveryBytes: number) => {
        const served: Served = {
          size: options.sizeBytes,
          seed,
          etag: `"${id}"`,
          bytesPerInvocation: cutEveryBytes,
        };
        const server = await rangeServer(served);
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/${id}.mp3`;
        try {
          const started = performance.now();
          await world.jobs.enqueue([recordingJob(rangedRecording(id, options.sizeBytes))]);
          const outcomes = await drainContinuations(world, served, url);
          const seconds = (performance.now() - started) / 1000;
          const last = outcomes.at(-1);
          const stored =
            last?.status === 'archived' ? await storedDigests(moto.s3, BUCKET, last.key) : undefined;
          return {
            seconds,
            continuations: outcomes.filter((outcome) => outcome.status === 'continued').length,
            restarts: outcomes.filter((outcome) => 'restarted' in outcome && outcome.restarted).length,
            identical:
              stored?.sha256 === expected.sha256 &&
              stored.crc32 === expected.crc32 &&
              stored.size === options.sizeBytes,
          };
        } finally {
          server.close();
        }
      };
      // Alternate which goes first, so a warming machine favours neither.
      const order = run % 2 === 0 ? (['one', 'chain'] as const) : (['chain', 'one'] as const);
      const results: Partial<Record<'one' | 'chain', Awaited<ReturnType<typeof archive>>>> = {};
      for (const kind of order) {
        results[kind] = await archive(
          `${kind}-${run}`,
          kind === 'one' ? 2 * options.sizeBytes : options.cutEveryBytes,
        );
      }
      const open =
        (await moto.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads?.length ?? 0;
      const one = results.one as Awaited<ReturnType<typeof archive>>;
      const chain = results.chain as Awaited<ReturnType<typeof archive>>;
      const entry: ContinuationRun = {
        onePassSeconds: one.seconds,
        chainSeconds: chain.seconds,
        continuations: chain.continuations,
        identical: one.identical && chain.identical && one.continuations === 0 && open === 0,
        restarts: one.restarts + chain.restarts,
      };
      runs.push(entry);
      log(
        `continuation: run ${run + 1}/${options.runs}: one pass ${entry.onePassSeconds.toFixed(1)} s, chain of ${entry.continuations} continuations ${entry.chainSeconds.toFixed(1)} s; identical: ${entry.identical}; restarts ${entry.restarts}`,
      );
    }
  } finally {
    await removeMoto();
  }
  return { sizeBytes: options.sizeBytes, cutEveryBytes: options.cutEveryBytes, partSizeBytes: PART, runs };
}
