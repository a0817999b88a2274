/**
 * The local path (`npm start`) against a raw loopback download of the same file, in the same run.
 *
 * A Telphin sandbox lists one recording at a time; its storage links point at a loopback recording host
 * in this process that serves the sandbox's bytes and notes when each download request arrives. Per trial,
 * interleaved:
 *  - raw: a fresh `node` process GETs the storage link and drops the bytes; its own request → last byte
 *    time is the reference;
 *  - local: `npm start -- --once` with a config naming that sandbox, under `/usr/bin/time`, whose maximum
 *    RSS is the largest process of the tree (npm, the shell, callvault: Linux reports the biggest reaped
 *    descendant). Its transfer time runs from the download request reaching the host to the recording's
 *    link into the archive (the inode's ctime: after the verifier, the write and the fsync). Before the
 *    first byte: spawn → download request. The whole command: spawn → exit.
 * Every stored copy's SHA-256 (its metadata) is checked against the sandbox's.
 */

import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { syntheticAudioChunks } from '../sandbox/providers/synthetic-audio';
import { startTelphinSandbox } from '../sandbox/providers/telphin-sandbox';
import { expectedRecordingSha256 } from '../sandbox/providers/telphin-sandbox-records';
import { onCleanup, runToExit } from './lib/processes';
import { formatSize, GiB, MiB } from './lib/size';
import { median, round } from './lib/stats';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const LOCAL_THROUGHPUT_TARGET = 0.8;
export const LOCAL_RSS_TARGET_MIB = 120;
export const LOCAL_GROWTH_LIMIT_MIB_PER_GIB = 1;

export interface LocalBenchOptions {
  sizes: readonly { bytes: number; runs: number }[];
}

export interface LocalSample {
  bytes: number;
  run: number;
  rawMs: number;
  /** Download request at the host → recording linked into the archive. */
  transferMs: number;
  /** Spawn of `npm start` → its download request at the host. */
  beforeFirstByteMs: number;
  commandMs: number;
  maxRssMiB: number;
  /** User + system CPU of the whole `npm start` tree, and of the raw download's process. */
  commandCpuMs: number;
  rawCpuMs: number;
  sha256Ok: boolean;
}

export interface LocalRow {
  bytes: number;
  runs: number;
  rawMiBps: number;
  transferMiBps: number;
  /** Median raw time / median transfer time. */
  ratio: number;
  beforeFirstByteMs: number;
  commandMs: number;
  maxRssMiB: number;
  /** CPU per GiB: the figure load on a shared machine disturbs least. */
  commandCpuMsPerGiB: number;
  rawCpuMsPerGiB: number;
  sha256Ok: number;
}

export interface LocalBenchSummary {
  runner: string;
  rows: LocalRow[];
  /** Peak RSS growth per extra GiB, smallest → largest size (medians). */
  growthMiBPerGiB: number | null;
}

interface RecordingHost {
  origin: string;
  serve(storageKey: string, recording: { seed: string; size: number }): void;
  /** When the last download request for this key arrived (performance.timeOrigin-based ms). */
  requestedAt(storageKey: string): number | undefined;
  close(): Promise<void>;
}

/** Serves the sandbox's bytes for registered storage keys, as the sandbox would, and timestamps requests. */
async function startRecordingHost(): Promise<RecordingHost> {
  const served = new Map<string, { seed: string; size: number }>();
  const requested = new Map<string, number>();
  const server: Server = createServer(async (request, response) => {
    const key = /^\/storage\/([^/?]+)/.exec(request.url ?? '')?.[1] ?? '';
    const recording = served.get(key);
    if (!recording) {
      response.writeHead(404).end();
      return;
    }
    requested.set(key, Date.now());
    response.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': String(recording.size) });
    for (const chunk of syntheticAudioChunks(recording.seed, recording.size)) {
      if (!response.write(chunk)) await new Promise((resolve) => response.once('drain', resolve));
      if (response.destroyed) return;
    }
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://localhost:${port}`,
    serve: (key, recording) => served.set(key, recording),
    requestedAt: (key) => requested.get(key),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const RAW_DOWNLOAD = `
const http = require('node:http');
const started = performance.now();
http.get(process.argv[1], (response) => {
  let bytes = 0;
  response.on('data', (chunk) => { bytes += chunk.length; });
  response.on('end', () => {
    const cpu = process.cpuUsage();
    process.stdout.write(JSON.stringify({ ms: performance.now() - started, bytes, cpuMs: (cpu.user + cpu.system) / 1000 }) + '\\n');
  });
}).on('error', (error) => { console.error(error); process.exit(1); });
`;

async function rawDownload(url: string, bytes: number): Promise<{ ms: number; cpuMs: number }> {
  const result = await runToExit(process.execPath, ['-e', RAW_DOWNLOAD, url]);
  if (result.code !== 0) throw new Error(`raw download failed: ${result.stderr}`);
  const report = JSON.parse(result.stdout.trim()) as { ms: number; bytes: number; cpuMs: number };
  if (report.bytes !== bytes) throw new Error(`raw download got ${report.bytes} of ${bytes} bytes`);
  return report;
}

export async function measureLocal(
  options: LocalBenchOptions,
  progress: (line: string) => void,
): Promise<{ summary: LocalBenchSummary; samples: LocalSample[] }> {
  const scratch = await mkdtemp(join(tmpdir(), 'callvault-bench-local-'));
  const removeScratch = onCleanup('local scratch folder', () =>
    rm(scratch, { recursive: true, force: true }),
  );
  const host = await startRecordingHost();
  const removeHost = onCleanup('local recording host', () => host.close());
  const sandbox = await startTelphinSandbox({ host: '127.0.0.1', storageOrigin: host.origin });
  const removeSandbox = onCleanup('Telphin sandbox (local)', () => sandbox.close());
  const samples: LocalSample[] = [];
  try {
    let trial = 0;
    for (const { bytes, runs } of options.sizes) {
      for (let run = 1; run <= runs; run++) {
        trial += 1;
        const recording = sandbox.addRecording({
          startedAt: new Date(Date.now() - 3_600_000),
          size: bytes,
          seed: `bench-local-${trial}`,
        });
        host.serve(recording.storageKey, recording);
        const url = sandbox.storageUrlFor(recording.recordUuid);
        const raw = await rawDownload(url, bytes);

        const directory = join(scratch, `trial-${trial}`);
        const configPath = join(directory, 'callvault.config.json');
        const archiveDir = join(directory, 'archive');
        await rm(directory, { recursive: true, force: true });
        await import('node:fs/promises').then(({ mkdir }) => mkdir(directory, { recursive: true }));
        await writeFile(
          configPath,
          JSON.stringify({
            sources: [
              {
                provider: 'telphin',
                id: 'bench',
                apiUrl: sandbox.url,
                clientId: sandbox.clientId,
                clientSecret: sandbox.clientSecret,
                scope: { client: '@me' },
                allowedDownloadHosts: ['127.0.0.1', 'localhost'],
                retention: false,
              },
            ],
            local: { port: 0, archiveDir, stateDir: join(directory, 'state') },
            sweep: { lookbackHours: 48 },
          }),
        );
        const spawnedAt = Date.now();
        const command = await runToExit('/usr/bin/time', ['-f', '%M %U %S', 'npm', 'start', '--', '--once'], {
          cwd: ROOT,
          env: { ...process.env, CALLVAULT_CONFIG: configPath, NODE_OPTIONS: '' },
        });
        if (command.code !== 0)
          throw new Error(`npm start failed (${command.code}): ${command.stderr}\n${command.stdout}`);
        const [maxRssKiB, userSeconds, systemSeconds] = (command.stderr.trim().split('\n').at(-1) ?? '')
          .split(' ')
          .map(Number) as [number, number, number];
        const requestedAt = host.requestedAt(recording.storageKey);
        const key = await findRecordingKey(archiveDir);
        if (requestedAt === undefined || !key)
          throw new Error(`npm start archived nothing:\n${command.stdout}\n${command.stderr}`);
        const linked = await stat(join(archiveDir, key));
        const meta = JSON.parse(
          await readFile(join(archiveDir, '.callvault-meta', `${key}.meta.json`), 'utf8'),
        ) as { sha256: string; size: number };
        const sample: LocalSample = {
          bytes,
          run,
          rawMs: round(raw.ms, 1),
          transferMs: round(linked.ctimeMs - requestedAt, 1),
          beforeFirstByteMs: requestedAt - spawnedAt,
          commandMs: round(command.wallMs, 1),
          maxRssMiB: round(maxRssKiB / 1024, 1),
          commandCpuMs: round((userSeconds + systemSeconds) * 1000, 0),
          rawCpuMs: round(raw.cpuMs, 0),
          sha256Ok: meta.size === bytes && meta.sha256 === expectedRecordingSha256(recording),
        };
        samples.push(sample);
        sandbox.removeRecording(recording.recordUuid);
        await rm(directory, { recursive: true, force: true });
        progress(
          `local ${formatSize(bytes)} run ${run}: raw ${sample.rawMs} ms, transfer ${sample.transferMs} ms ` +
            `(${round(sample.rawMs / sample.transferMs, 2)}×), before first byte ${sample.beforeFirstByteMs} ms, ` +
            `command ${sample.commandMs} ms (CPU ${sample.commandCpuMs} ms; raw ${sample.rawCpuMs} ms), max RSS ${sample.maxRssMiB} MiB${sample.sha256Ok ? '' : ', SHA-256 WRONG'}`,
        );
      }
    }
  } finally {
    await removeSandbox();
    await removeHost();
    await removeScratch();
  }
  const rows: LocalRow[] = options.sizes.map(({ bytes }) => {
    const of = samples.filter((sample) => sample.bytes === bytes);
    const rawMs = median(of.map((sample) => sample.rawMs));
    const transferMs = median(of.map((sample) => sample.transferMs));
    return {
      bytes,
      runs: of.length,
      rawMiBps: round(bytes / MiB / (rawMs / 1000), 1),
      transferMiBps: round(bytes / MiB / (transferMs / 1000), 1),
      ratio: round(rawMs / transferMs, 2),
      beforeFirstByteMs: round(median(of.map((sample) => sample.beforeFirstByteMs)), 0),
      commandMs: round(median(of.map((sample) => sample.commandMs)), 0),
      maxRssMiB: round(median(of.map((sample) => sample.maxRssMiB)), 1),
      commandCpuMsPerGiB: round(median(of.map((sample) => sample.commandCpuMs)) / (bytes / GiB), 0),
      rawCpuMsPerGiB: round(median(of.map((sample) => sample.rawCpuMs)) / (bytes / GiB), 0),
      sha256Ok: of.filter((sample) => sample.sha256Ok).length,
    };
  });
  const first = rows[0];
  const last = rows.at(-1);
  const growthMiBPerGiB =
    first && last && last.bytes > first.bytes
      ? round((last.maxRssMiB - first.maxRssMiB) / ((last.bytes - first.bytes) / GiB), 2)
      : null;
  return { summary: { runner: await describeRunner(), rows, growthMiBPerGiB }, samples };
}

/** The one recording (not its `.json` sidecar) under the archive's `recordings/`. */
async function findRecordingKey(archiveDir: string): Promise<string | undefined> {
  const { readdir } = await import('node:fs/promises');
  const entries = await readdir(join(archiveDir, 'recordings'), {
    recursive: true,
    withFileTypes: true,
  }).catch(() => []);
  for (const entry of entries) {
    if (entry.isFile() && !entry.name.endsWith('.json'))
      return join(entry.parentPath, entry.name).slice(archiveDir.length + 1);
  }
  return undefined;
}

/** What `npm start` runs, read from package.json, so the report says which runner was measured. */
async function describeRunner(): Promise<string> {
  const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  return manifest.scripts.start ?? '?';
}
