/**
 * Measures what streaming one large recording into S3 costs in memory and time.
 *
 *   npx tsx scripts/measure-stream-memory.ts --size 1GiB [--impl callvault|lib-storage]
 *                                            [--part-size-mib 8] [--parts-in-flight 2]
 *
 * Three processes, so each figure belongs to one job: moto_server (the S3 endpoint), a loopback HTTP
 * server that serves a deterministic synthetic MP3 of the requested size (a "recording host"), and the
 * worker, which streams `http.get` → RecordingVerifier → the upload and reports its own peak RSS. The
 * parent then reads the object back and compares its SHA-256 with the synthetic body's.
 *
 * The children run an esbuild bundle of this script, as Lambda runs bundled code; `--no-bundle` runs
 * them through tsx instead, whose loader thread adds about 30 MiB to every process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3ArchiveStore } from '../functions/adapters/s3-archive-store';
import { RecordingVerifier } from '../functions/core/verify-stream';
import { startMoto, TEST_CREDENTIALS, TEST_REGION } from '../test/support/moto';
import { syntheticMp3Sha256, syntheticMp3Stream } from '../test/support/synthetic-media';

const MiB = 1024 * 1024;
const BUCKET = 'callvault-measure';
const KEY = 'recordings/telphin/measure/2024/01/01/large.mp3';
const SEED = 7;

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1GiB' },
    impl: { type: 'string', default: 'callvault' },
    'part-size-mib': { type: 'string', default: '8' },
    'parts-in-flight': { type: 'string', default: '2' },
    role: { type: 'string', default: 'main' },
    'no-bundle': { type: 'boolean', default: false },
    url: { type: 'string' },
    endpoint: { type: 'string' },
  },
});

function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/i.exec(text.trim());
  if (!match) throw new Error(`--size: expected e.g. 1GiB, 300MiB or 1048576, got ${text}`);
  const units: Record<string, number> = { b: 1, kib: 1024, mib: MiB, gib: 1024 * MiB };
  return Math.round(Number(match[1]) * (units[(match[2] ?? 'b').toLowerCase()] ?? 1));
}

const size = parseSize(values.size ?? '1GiB');
const partSizeMiB = Number(values['part-size-mib']);
const partsInFlight = Number(values['parts-in-flight']);
const impl = values.impl === 'lib-storage' ? 'lib-storage' : 'callvault';

/** Bundles this script for the children, the way the Lambda functions are bundled. */
async function bundleSelf(directory: string): Promise<string> {
  const { build } = await import('esbuild');
  const outfile = join(directory, 'measure-stream-memory.mjs');
  await build({
    entryPoints: [fileURLToPath(import.meta.url)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    external: ['esbuild'],
    // CommonJS dependencies of the SDK call require() for Node built-ins.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  return outfile;
}

/** Re-runs this script (or its bundle) in a new Node process with another role. */
function spawnRole(bundle: string | undefined, role: string, extra: string[]): ChildProcess {
  const entry = bundle ? [bundle] : ['--import', 'tsx', fileURLToPath(import.meta.url)];
  const args = [...entry, '--role', role, '--size', String(size), ...extra];
  return spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
}

/** The first line a child prints to stdout, parsed as JSON. */
function firstJsonLine<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const newline = text.indexOf('\n');
      if (newline >= 0) resolve(JSON.parse(text.slice(0, newline)) as T);
    });
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before reporting`)));
  });
}

// ---------------------------------------------------------------- role: recording host

async function serve(): Promise<void> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': String(size) });
    pipeline(syntheticMp3Stream(size, SEED), response, () => {});
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  });
}

// ---------------------------------------------------------------- role: worker

async function work(): Promise<void> {
  const url = values.url ?? '';
  const client = new S3Client({
    endpoint: values.endpoint,
    region: TEST_REGION,
    credentials: TEST_CREDENTIALS,
    forcePathStyle: true,
  });
  // When the streaming phase ends and the server-side finalisation (callvault's copy) begins.
  let streamedAt: number | undefined;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (
        context.commandName === 'UploadPartCopyCommand' ||
        context.commandName === 'CompleteMultipartUploadCommand'
      ) {
        streamedAt ??= performance.now();
      }
      return next(args);
    },
    { step: 'initialize' },
  );
  const baselineRss = process.memoryUsage().rss;
  // Where the memory goes: V8 heap versus Buffers (ArrayBuffers live outside the heap).
  const peak = { heapUsed: 0, arrayBuffers: 0, rss: 0 };
  const sampler = setInterval(() => {
    const usage = process.memoryUsage();
    peak.heapUsed = Math.max(peak.heapUsed, usage.heapUsed);
    peak.arrayBuffers = Math.max(peak.arrayBuffers, usage.arrayBuffers);
    peak.rss = Math.max(peak.rss, usage.rss);
  }, 50);
  const started = performance.now();
  const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) =>
    get(url, resolve).once('error', reject),
  );
  const contentLength = Number(response.headers['content-length']);
  const verifier = new RecordingVerifier({ contentLength, sourceSize: size });
  pipeline(response, verifier, () => {});
  let sha256: string;
  if (impl === 'callvault') {
    const store = new S3ArchiveStore({
      client,
      bucket: BUCKET,
      partSizeBytes: partSizeMiB * MiB,
      partsInFlight,
    });
    ({ sha256 } = await store.putRecording({
      key: KEY,
      body: verifier,
      contentType: 'audio/mpeg',
      sourceSize: size,
      tags: {},
    }));
  } else {
    const { Upload } = await import('@aws-sdk/lib-storage');
    const upload = new Upload({
      client,
      params: { Bucket: BUCKET, Key: KEY, Body: verifier, ContentType: 'audio/mpeg' },
      partSize: partSizeMiB * MiB,
      queueSize: partsInFlight,
      leavePartsOnError: false,
    });
    await upload.done();
    sha256 = verifier.summary().sha256;
  }
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const streamSeconds = ((streamedAt ?? performance.now()) - started) / 1000;
  const report = {
    impl,
    bytes: size,
    seconds: round(seconds),
    mibPerSecond: round(size / MiB / seconds),
    streamSeconds: round(streamSeconds),
    streamMibPerSecond: round(size / MiB / streamSeconds),
    verifierSha256: sha256,
    baselineRssMiB: round(baselineRss / MiB),
    // resourceUsage reports kibibytes.
    maxRssMiB: round(process.resourceUsage().maxRSS / 1024),
    sampledPeakHeapUsedMiB: round(peak.heapUsed / MiB),
    sampledPeakArrayBuffersMiB: round(peak.arrayBuffers / MiB),
    partSizeMiB,
    partsInFlight,
  };
  client.destroy();
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

// ---------------------------------------------------------------- role: main

async function main(): Promise<void> {
  const moto = await startMoto();
  const children: ChildProcess[] = [];
  const scratch = await mkdtemp(join(tmpdir(), 'callvault-measure-'));
  try {
    const bundle = values['no-bundle'] ? undefined : await bundleSelf(scratch);
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const host = spawnRole(bundle, 'server', []);
    children.push(host);
    const { port } = await firstJsonLine<{ port: number }>(host);
    const worker = spawnRole(bundle, 'worker', [
      '--impl',
      impl,
      '--url',
      `http://127.0.0.1:${port}/recording.mp3`,
      '--endpoint',
      moto.endpoint,
      '--part-size-mib',
      String(partSizeMiB),
      '--parts-in-flight',
      String(partsInFlight),
    ]);
    children.push(worker);
    const report = await firstJsonLine<Record<string, unknown>>(worker);

    // Read the stored object back: the only proof that counts is the bytes in the bucket.
    const expected = syntheticMp3Sha256(size, SEED);
    const object = await moto.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY }));
    const hash = createHash('sha256');
    let storedBytes = 0;
    for await (const chunk of object.Body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      storedBytes += chunk.length;
    }
    const stored = hash.digest('hex');
    const result = {
      ...report,
      storedBytes,
      runner: bundle ? 'esbuild bundle' : 'tsx',
      sha256Match: stored === expected && report.verifierSha256 === expected,
      metadataSha256: object.Metadata?.sha256 ?? null,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    if (!result.sha256Match || storedBytes !== size) process.exitCode = 1;
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await moto.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

const roles: Record<string, () => Promise<void>> = { main, server: serve, worker: work };
const run = roles[values.role ?? 'main'];
if (!run) throw new Error(`unknown --role ${values.role}`);
run().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
