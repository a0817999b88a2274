/**
 * The child processes of the streaming benchmarks, run as an esbuild bundle (as Lambda runs bundled code):
 *
 *   --role server          a loopback "recording host": GET /recording.mp3?size=N&seed=S serves a deterministic
 *                          synthetic MP3 of N bytes; prints {"port"} once listening.
 *   --role worker --spec   streams one recording the way `--spec.impl` says and prints one JSON report.
 *
 * One worker process per trial, so `process.resourceUsage().maxRSS` is the peak of that one job. Both roles
 * exit when their stdin closes, so a benchmark that dies cannot leave them behind.
 */
import { createServer, get, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { parseArgs } from 'node:util';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { pumpParts } from '../../functions/adapters/multipart-upload';
import { S3ArchiveStore } from '../../functions/adapters/s3-archive-store';
import type { SourceRecording } from '../../functions/core/recording';
import { InProcessTokenStore } from '../../functions/core/shared-state';
import { RecordingVerifier } from '../../functions/core/verify-stream';
import { teamsRecordingsSourceSchema } from '../../functions/providers/teams-recordings/teams-recordings-config';
import { TeamsRecordingsSource } from '../../functions/providers/teams-recordings/teams-recordings-source';
import { TEST_CREDENTIALS, TEST_REGION } from '../../test/support/moto';
import { syntheticMp3Stream } from '../../test/support/synthetic-media';
import { MiB } from './size';

/** What a worker streams and how. */
export type StreamImpl =
  /** callvault's S3ArchiveStore: verifier → part pump → one multipart upload to the final key (or one put). */
  | 'archive'
  /** @aws-sdk/lib-storage `Upload` fed the same verified stream. */
  | 'lib-storage'
  /** The HTTP download alone, bytes counted and dropped: the source-side ceiling. */
  | 'download'
  /** The download through RecordingVerifier (SHA-256, size, media check), bytes dropped. */
  | 'download-verify'
  /** No HTTP source: in-process bytes cut into parts and uploaded with no checksums: the S3-server ceiling. */
  | 'bare-put'
  /**
   * The Teams path: TeamsRecordingsSource.openDownload against the Teams sandbox (app token, metadata → 302 →
   * content host) → RecordingVerifier → S3ArchiveStore, as the Teams worker does it.
   */
  | 'teams';

/** Where the Teams path finds its recording (the sandbox, and the recording as the adapter listed it). */
export interface TeamsWorkerSpec {
  graphUrl: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  contentHost: string;
  userId: string;
  /** A `SourceRecording` from the adapter's listing, as JSON (dates as ISO strings). */
  recording: Record<string, unknown>;
}

export interface WorkerSpec {
  impl: StreamImpl;
  bytes: number;
  seed: number;
  /** The recording host's URL for this body (unused by bare-put). */
  url: string;
  endpoint: string;
  bucket: string;
  key: string;
  /** Part size and parts in flight; lib-storage uses its own defaults (5 MiB × 4) when these are absent. */
  partSizeMiB?: number;
  partsInFlight?: number;
  teams?: TeamsWorkerSpec;
}

/** One S3 request of a trial: when it was sent and answered, in ms since the trial started. */
export interface TimelineEntry {
  command: string;
  /** UploadPart only. */
  part?: number;
  /** Bytes sent in the request body, where the input says (parts, single puts). */
  bytes?: number;
  startMs: number;
  endMs: number;
  /** Set when the request failed (retries are inside one entry). */
  failed?: true;
}

export interface WorkerReport {
  impl: StreamImpl;
  bytes: number;
  /** From the first request to the stored object (or the last byte, for downloads). */
  seconds: number;
  /** Until the last part was uploaded: everything before the first request that only finalises. */
  streamSeconds: number;
  /** After the streaming phase: completing (and, for archive, tagging; before, the server-side copy). */
  finaliseSeconds: number;
  /** S3 requests this worker sent, by command (retries not counted). */
  requests: Record<string, number>;
  /** Every S3 request in the order sent, timed from the trial's start. */
  timeline: TimelineEntry[];
  /** When the HTTP download delivered its last byte (ms since start; absent where there is none). */
  downloadEndMs?: number;
  sha256?: string;
  /** RSS of this process with everything loaded and the S3 client built, before the first byte. */
  baselineRssMiB: number;
  /** Peak RSS of the whole process (getrusage). */
  maxRssMiB: number;
  sampledPeakHeapUsedMiB: number;
  sampledPeakArrayBuffersMiB: number;
  partSizeMiB?: number;
  partsInFlight?: number;
}

// ---------------------------------------------------------------- role: recording host

function serve(): void {
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const size = Number(url.searchParams.get('size'));
    const seed = Number(url.searchParams.get('seed') ?? '1');
    if (!Number.isSafeInteger(size) || size < 0) {
      response.writeHead(400).end('size?');
      return;
    }
    response.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': String(size) });
    pipeline(syntheticMp3Stream(size, seed), response, () => {});
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  });
}

// ---------------------------------------------------------------- role: worker

function download(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    get(url, (response) => {
      if (response.statusCode !== 200) reject(new Error(`GET ${url}: ${response.statusCode}`));
      else resolve(response);
    }).once('error', reject);
  });
}

async function drain(stream: AsyncIterable<Buffer>): Promise<number> {
  let bytes = 0;
  for await (const chunk of stream) bytes += chunk.length;
  return bytes;
}

/** Requests that move no bytes from this process: the streaming phase ends at the first of them. */
const FINALISING = new Set(['UploadPartCopy', 'CompleteMultipartUpload', 'CopyObject', 'PutObjectTagging']);

async function work(spec: WorkerSpec): Promise<WorkerReport> {
  const client = new S3Client({
    endpoint: spec.endpoint,
    region: TEST_REGION,
    credentials: TEST_CREDENTIALS,
    forcePathStyle: true,
    // The S3-server ceiling computes no checksum at all; the others keep the SDK's defaults.
    ...(spec.impl === 'bare-put' ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const } : {}),
  });
  // Where the streaming phase ends: the first request that only finalises (no bytes from this process).
  let streamedAt: number | undefined;
  const requests: Record<string, number> = {};
  const timeline: TimelineEntry[] = [];
  let started = performance.now();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = (context.commandName ?? '?').replace(/Command$/, '');
      requests[command] = (requests[command] ?? 0) + 1;
      const now = performance.now();
      if (FINALISING.has(command)) streamedAt ??= now;
      const input = args.input as { PartNumber?: number; ContentLength?: number };
      const entry: TimelineEntry = {
        command,
        ...(input.PartNumber !== undefined ? { part: input.PartNumber } : {}),
        ...(input.ContentLength !== undefined ? { bytes: input.ContentLength } : {}),
        startMs: now - started,
        endMs: Number.NaN,
      };
      timeline.push(entry);
      try {
        return await next(args);
      } catch (error) {
        entry.failed = true;
        throw error;
      } finally {
        entry.endMs = performance.now() - started;
      }
    },
    { step: 'initialize', name: 'benchPhaseMarker' },
  );
  // The adapter is built (and its modules loaded) before the baseline, as a warm worker has it.
  const teamsSource = spec.teams ? teamsSourceFor(spec.teams) : undefined;
  const baselineRss = process.memoryUsage().rss;
  const peak = { heapUsed: 0, arrayBuffers: 0 };
  const sampler = setInterval(() => {
    const usage = process.memoryUsage();
    peak.heapUsed = Math.max(peak.heapUsed, usage.heapUsed);
    peak.arrayBuffers = Math.max(peak.arrayBuffers, usage.arrayBuffers);
  }, 50);

  started = performance.now();
  let downloadEndMs: number | undefined;
  /** Marks when the source delivered its last byte (the HTTP response, not what consumed it). */
  const timed = <T extends NodeJS.ReadableStream>(response: T): T => {
    response.once('end', () => {
      downloadEndMs = performance.now() - started;
    });
    return response;
  };
  let sha256: string | undefined;
  let counted: number;
  switch (spec.impl) {
    case 'download': {
      counted = await drain(timed(await download(spec.url)));
      break;
    }
    case 'download-verify': {
      const response = timed(await download(spec.url));
      const verifier = new RecordingVerifier({
        contentLength: Number(response.headers['content-length']),
        sourceSize: spec.bytes,
      });
      pipeline(response, verifier, () => {});
      counted = await drain(verifier);
      sha256 = verifier.summary().sha256;
      break;
    }
    case 'archive':
    case 'lib-storage': {
      const response = timed(await download(spec.url));
      const verifier = new RecordingVerifier({
        contentLength: Number(response.headers['content-length']),
        sourceSize: spec.bytes,
      });
      pipeline(response, verifier, () => {});
      if (spec.impl === 'archive') {
        const store = new S3ArchiveStore({
          client,
          bucket: spec.bucket,
          partSizeBytes: (spec.partSizeMiB ?? 8) * MiB,
          partsInFlight: spec.partsInFlight ?? 2,
        });
        const stored = await store.putRecording({
          key: spec.key,
          body: verifier,
          contentType: 'audio/mpeg',
          sourceSize: spec.bytes,
          tags: {},
        });
        sha256 = stored.sha256;
        counted = stored.size;
      } else {
        const { Upload } = await import('@aws-sdk/lib-storage');
        const upload = new Upload({
          client,
          params: { Bucket: spec.bucket, Key: spec.key, Body: verifier, ContentType: 'audio/mpeg' },
          ...(spec.partSizeMiB ? { partSize: spec.partSizeMiB * MiB } : {}),
          ...(spec.partsInFlight ? { queueSize: spec.partsInFlight } : {}),
          leavePartsOnError: false,
        });
        await upload.done();
        const summary = verifier.summary();
        sha256 = summary.sha256;
        counted = summary.size;
      }
      break;
    }
    case 'teams': {
      const teams = spec.teams;
      if (!teams) throw new Error('teams: no --spec.teams');
      if (!teamsSource) throw new Error('teams: no source');
      const download = await teamsSource.openDownload(teamsRecording(teams));
      timed(download.body);
      const verifier = new RecordingVerifier({
        contentLength: download.contentLength,
        sourceSize: spec.bytes,
      });
      pipeline(download.body, verifier, () => {});
      const store = new S3ArchiveStore({
        client,
        bucket: spec.bucket,
        partSizeBytes: (spec.partSizeMiB ?? 8) * MiB,
        partsInFlight: spec.partsInFlight ?? 2,
      });
      const stored = await store.putRecording({
        key: spec.key,
        body: verifier,
        contentType: download.contentType ?? 'video/mp4',
        sourceSize: spec.bytes,
        tags: {},
      });
      sha256 = stored.sha256;
      counted = stored.size;
      break;
    }
    case 'bare-put': {
      const cancel = new AbortController();
      let uploadId: string | undefined;
      const pumped = await pumpParts(
        syntheticMp3Stream(spec.bytes, spec.seed),
        { partSizeBytes: (spec.partSizeMiB ?? 8) * MiB, partsInFlight: spec.partsInFlight ?? 2, cancel },
        {
          begin: async () => {
            const created = await client.send(
              new CreateMultipartUploadCommand({ Bucket: spec.bucket, Key: spec.key }),
            );
            uploadId = created.UploadId;
          },
          uploadPart: async (partNumber, bytes) => {
            const uploaded = await client.send(
              new UploadPartCommand({
                Bucket: spec.bucket,
                Key: spec.key,
                UploadId: uploadId,
                PartNumber: partNumber,
                Body: bytes,
                ContentLength: bytes.length,
              }),
            );
            return { PartNumber: partNumber, ETag: uploaded.ETag };
          },
        },
      );
      if (pumped.kind !== 'multipart') throw new Error('bare-put needs a body longer than one part');
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: spec.bucket,
          Key: spec.key,
          UploadId: uploadId,
          MultipartUpload: { Parts: pumped.parts },
        }),
      );
      counted = pumped.size;
      break;
    }
    default:
      throw new Error(`unknown impl ${String(spec.impl)}`);
  }
  const ended = performance.now();
  clearInterval(sampler);
  client.destroy();
  if (counted !== spec.bytes) throw new Error(`${spec.impl}: moved ${counted} bytes, expected ${spec.bytes}`);
  const streamEnd = streamedAt ?? ended;
  return {
    impl: spec.impl,
    bytes: spec.bytes,
    seconds: (ended - started) / 1000,
    streamSeconds: (streamEnd - started) / 1000,
    finaliseSeconds: (ended - streamEnd) / 1000,
    requests,
    timeline: timeline.map((entry) => ({
      ...entry,
      startMs: Math.round(entry.startMs * 10) / 10,
      endMs: Math.round(entry.endMs * 10) / 10,
    })),
    ...(downloadEndMs !== undefined ? { downloadEndMs: Math.round(downloadEndMs * 10) / 10 } : {}),
    sha256,
    baselineRssMiB: baselineRss / MiB,
    // resourceUsage reports kibibytes.
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    sampledPeakHeapUsedMiB: peak.heapUsed / MiB,
    sampledPeakArrayBuffersMiB: peak.arrayBuffers / MiB,
    partSizeMiB: spec.partSizeMiB,
    partsInFlight: spec.partsInFlight,
  };
}

function teamsSourceFor(teams: TeamsWorkerSpec): TeamsRecordingsSource {
  const quiet = () => {};
  return new TeamsRecordingsSource({
    config: teamsRecordingsSourceSchema.parse({
      provider: 'msteams',
      id: 'bench-teams',
      tenantId: teams.tenantId,
      loginUrl: teams.graphUrl,
      graphUrl: teams.graphUrl,
      users: [teams.userId],
      allowedDownloadHosts: [teams.contentHost],
      mediaPersistenceApproved: true,
    }),
    credentials: { clientId: teams.clientId, clientSecret: teams.clientSecret },
    tokenStore: new InProcessTokenStore(),
    log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
  });
}

/** The listed recording back from JSON: its dates were ISO strings on the way. */
function teamsRecording(teams: TeamsWorkerSpec): SourceRecording {
  const raw = teams.recording;
  return {
    ...(raw as unknown as SourceRecording),
    startedAt: new Date(raw.startedAt as string),
    ...(typeof raw.endedAt === 'string' ? { endedAt: new Date(raw.endedAt) } : {}),
  };
}

// ---------------------------------------------------------------- entry

const { values } = parseArgs({ options: { role: { type: 'string' }, spec: { type: 'string' } } });
// Orphan protection: the parent holds our stdin open for as long as it wants us.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
if (values.role === 'server') {
  serve();
} else if (values.role === 'worker') {
  work(JSON.parse(values.spec ?? '{}') as WorkerSpec).then(
    (report) => {
      process.stdout.write(`${JSON.stringify(report)}\n`);
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  console.error(`stream-child: unknown --role ${values.role}`);
  process.exit(2);
}
