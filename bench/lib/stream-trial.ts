/**
 * Parent side of the streaming benchmarks: bundles `stream-child.ts`, runs the recording host, runs one
 * worker process per trial and checks what reached the bucket. Shared by `bench/streaming.ts` and
 * `scripts/measure-stream-memory.ts`.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { crc32Base64 } from '../../functions/core/checksums';
import { syntheticMp3Sha256 } from '../../test/support/synthetic-media';
import { spawnTracked, stopChild } from './processes';
import type { WorkerReport, WorkerSpec } from './stream-child';

const CHILD_SOURCE = fileURLToPath(new URL('./stream-child.ts', import.meta.url));

/** How to start a child: `node bundle.mjs` or, unbundled, `node --import tsx stream-child.ts`. */
export interface ChildEntry {
  args: string[];
  runner: 'esbuild bundle' | 'tsx';
}

/** Bundles the child the way the Lambda functions are bundled (ESM, everything inlined). */
export async function bundleStreamChild(
  directory: string,
  options: { bundle?: boolean } = {},
): Promise<ChildEntry> {
  if (options.bundle === false) return { args: ['--import', 'tsx', CHILD_SOURCE], runner: 'tsx' };
  const { build } = await import('esbuild');
  const outfile = join(directory, 'stream-child.mjs');
  await build({
    entryPoints: [CHILD_SOURCE],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    mainFields: ['module', 'main'],
    // CommonJS dependencies of the SDK call require() for Node built-ins.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  return { args: [outfile], runner: 'esbuild bundle' };
}

/** The first line a child prints to stdout, parsed as JSON; rejects if it exits first. */
export function firstJsonLine<T>(child: ChildProcess, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const newline = text.indexOf('\n');
      if (newline >= 0) resolve(JSON.parse(text.slice(0, newline)) as T);
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`${what} exited (${code ?? signal}) before reporting`)),
    );
    child.once('error', reject);
  });
}

export interface RecordingHost {
  url(bytes: number, seed: number): string;
  stop(): Promise<void>;
}

/** The loopback HTTP server the recordings are downloaded from, in a process of its own. */
export async function startRecordingHost(entry: ChildEntry): Promise<RecordingHost> {
  const child = spawnTracked(process.execPath, [...entry.args, '--role', 'server']);
  const { port } = await firstJsonLine<{ port: number }>(child, 'recording host');
  return {
    url: (bytes, seed) => `http://127.0.0.1:${port}/recording.mp3?size=${bytes}&seed=${seed}`,
    stop: () => stopChild(child),
  };
}

/** Runs one worker process for one trial and returns its report. */
export async function runStreamTrial(entry: ChildEntry, spec: WorkerSpec): Promise<WorkerReport> {
  const child = spawnTracked(process.execPath, [
    ...entry.args,
    '--role',
    'worker',
    '--spec',
    JSON.stringify(spec),
  ]);
  try {
    return await firstJsonLine<WorkerReport>(child, `worker (${spec.impl})`);
  } finally {
    await stopChild(child);
  }
}

export interface StoredCheck {
  storedBytes: number;
  /** The `sha256` tag (every archive copy) and metadata (single puts only). */
  taggedSha256: string | null;
  metadataSha256: string | null;
  /** The checksum S3 reports (HeadObject with ChecksumMode), as `ALGORITHM:value`. */
  checksum: string | null;
  /** Only when the object was read back. */
  readBackSha256?: string;
  readBackCrc32?: string;
  ok: boolean;
}

/**
 * Checks the object against the synthetic body: size and what the store recorded (SHA-256 tag, checksum)
 * always; the bytes themselves, and a CRC32 checksum against them, when `readBack` (reading 1 GiB back
 * from moto costs ~10 s, so callers do it once per size).
 */
export async function checkStoredObject(
  s3: S3Client,
  options: {
    bucket: string;
    key: string;
    bytes: number;
    seed: number;
    readBack: boolean;
    /** The archive path: the SHA-256 must be in the tag and S3 must report a checksum. */
    expectRecorded: boolean;
  },
): Promise<StoredCheck> {
  const expected = syntheticMp3Sha256(options.bytes, options.seed);
  const [head, tagging] = await Promise.all([
    s3.send(new HeadObjectCommand({ Bucket: options.bucket, Key: options.key, ChecksumMode: 'ENABLED' })),
    s3.send(new GetObjectTaggingCommand({ Bucket: options.bucket, Key: options.key })),
  ]);
  const tagged = tagging.TagSet?.find((tag) => tag.Key === 'sha256')?.Value ?? null;
  const crc = head.ChecksumCRC32;
  const check: StoredCheck = {
    storedBytes: head.ContentLength ?? -1,
    taggedSha256: tagged,
    metadataSha256: head.Metadata?.sha256 ?? null,
    checksum: crc ? `CRC32:${crc}` : head.ChecksumSHA256 ? `SHA256:${head.ChecksumSHA256}` : null,
    ok:
      head.ContentLength === options.bytes &&
      (!options.expectRecorded ||
        (tagged === expected && (crc !== undefined || head.ChecksumSHA256 !== undefined))),
  };
  if (options.readBack) {
    const object = await s3.send(new GetObjectCommand({ Bucket: options.bucket, Key: options.key }));
    const hash = createHash('sha256');
    let crcOfBytes = 0;
    for await (const chunk of object.Body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      crcOfBytes = crc32(chunk, crcOfBytes);
    }
    check.readBackSha256 = hash.digest('hex');
    check.readBackCrc32 = crc32Base64(crcOfBytes);
    check.ok &&= check.readBackSha256 === expected;
    if (options.expectRecorded && crc !== undefined) check.ok &&= crc === check.readBackCrc32;
  }
  return check;
}

/** Removes a trial's object so moto's memory does not grow over a run. */
export async function deleteObject(s3: S3Client, bucket: string, key: string): Promise<void> {
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}

export type { WorkerReport, WorkerSpec };
export { syntheticMp3Sha256 };
