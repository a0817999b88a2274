/**
 * The Teams streaming path against the Telphin path, in the same run: one fresh worker process per trial
 * (bench/lib/stream-child.ts), both into S3ArchiveStore on moto with the same part size and parts in
 * flight. Teams: the adapter's openDownload against the Teams sandbox (app token, recording metadata,
 * 302 to the content host, a generated MP4). Telphin: the loopback recording host's MP3 (the `archive`
 * path of the streaming section). Each stored object is checked (size, SHA-256 tag) and deleted.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectTaggingCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { parseConfig } from '../functions/config';
import { silentLog } from '../functions/core/ports';
import type { SourceRecording } from '../functions/core/recording';
import { InProcessTokenStore } from '../functions/core/shared-state';
import { startLocalHost } from '../functions/local/local-host';
import { teamsRecordingsSourceSchema } from '../functions/providers/teams-recordings/teams-recordings-config';
import { TeamsRecordingsSource } from '../functions/providers/teams-recordings/teams-recordings-source';
import { startTeamsSandbox } from '../sandbox/providers/teams-recordings-sandbox';
import { startMoto } from '../test/support/moto';
import { onCleanup } from './lib/processes';
import { formatSize, GiB, MiB } from './lib/size';
import { median, round } from './lib/stats';
import {
  bundleStreamChild,
  checkStoredObject,
  deleteObject,
  runStreamTrial,
  startRecordingHost,
  type WorkerReport,
} from './lib/stream-trial';
import { ALLOWANCE_MIB } from './stream-memory';
import { PART_SIZE_MIB, PARTS_IN_FLIGHT } from './streaming';

const BUCKET = 'callvault-bench-msteams';

export type TeamsBenchPath = 'teams' | 'telphin';

export interface TeamsRecordingsBenchOptions {
  sizes: readonly { bytes: number; runs: number }[];
  /** Local mode, notification → archived copy. */
  latency: { runs: number; bytes: number };
}

export interface TeamsRecordingsBenchRow {
  path: TeamsBenchPath;
  bytes: number;
  runs: number;
  maxRssMiB: number;
  baselineRssMiB: number;
  peakOverBaselineMiB: number;
  mibPerSecond: number;
  streamMibPerSecond: number;
}

export interface TeamsRecordingsBenchSummary {
  partSizeMiB: number;
  partsInFlight: number;
  /** partSize × (partsInFlight + 1) + allowance: the streaming section's memory target. */
  budgetMiB: number;
  rows: TeamsRecordingsBenchRow[];
  /** Peak − baseline growth per extra GiB from the smallest to the largest size, per path. */
  growthMiBPerGiB: Record<TeamsBenchPath, number | null>;
  stored: { checked: number; ok: number };
  /**
   * Local mode (`npm start`'s host, folder store): from the `created` notification the sandbox posts to
   * the webhook server to the copy archived with its sidecar, for ad hoc call recordings already
   * processed by Teams. Each copy's SHA-256 is then checked against the sandbox's bytes.
   */
  notificationToArchivedMs?: {
    runs: number;
    bytes: number;
    medianMs: number;
    minMs: number;
    maxMs: number;
    verified: number;
  };
}

export interface TeamsRecordingsSample extends WorkerReport {
  path: TeamsBenchPath;
  round: number;
}

export async function measureTeamsRecordings(
  options: TeamsRecordingsBenchOptions,
  progress: (line: string) => void,
): Promise<{ summary: TeamsRecordingsBenchSummary; samples: TeamsRecordingsSample[] }> {
  const scratch = await mkdtemp(join(tmpdir(), 'callvault-bench-msteams-'));
  const removeScratch = onCleanup('msteams scratch folder', () =>
    rm(scratch, { recursive: true, force: true }),
  );
  const moto = await startMoto();
  const removeMoto = onCleanup('moto (msteams)', () => moto.stop());
  const sandbox = await startTeamsSandbox({ accessTokenTtlSeconds: 3600 });
  const removeSandbox = onCleanup('Teams sandbox', () => sandbox.close());
  const entry = await bundleStreamChild(scratch);
  const host = await startRecordingHost(entry);
  const samples: TeamsRecordingsSample[] = [];
  const stored = { checked: 0, ok: 0 };
  try {
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const user = sandbox.addUser({ userPrincipalName: 'bench@contoso.example' });
    const contentHost = new URL(sandbox.contentUrl).host;
    const teamsSpec = {
      graphUrl: sandbox.url,
      tenantId: sandbox.tenantId,
      clientId: sandbox.clientId,
      clientSecret: sandbox.clientSecret,
      contentHost,
      userId: user.id,
    };
    // The parent lists the recording the way the sweep does; the worker gets it as its job carries it.
    const lister = new TeamsRecordingsSource({
      config: teamsRecordingsSourceSchema.parse({
        provider: 'msteams',
        id: 'bench-teams',
        tenantId: sandbox.tenantId,
        loginUrl: sandbox.url,
        graphUrl: sandbox.url,
        users: [user.id],
        allowedDownloadHosts: [contentHost],
        mediaPersistenceApproved: true,
      }),
      credentials: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret },
      tokenStore: new InProcessTokenStore(),
      log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    });
    let trial = 0;
    for (const { bytes, runs } of options.sizes) {
      for (let run = 1; run <= runs; run++) {
        const createdAt = new Date(Date.UTC(2026, 0, 1, 8, 0, trial));
        const added = sandbox.addRecording({ organizerId: user.id, createdAt, size: bytes, ready: true });
        const listed: SourceRecording[] = [];
        for await (const recording of lister.listRecordings({
          from: new Date(createdAt.getTime() - 3600_000),
          to: new Date(createdAt.getTime() + 3600_000),
        })) {
          if (recording.recordingId.includes(added.id) || JSON.stringify(recording.raw).includes(added.id)) {
            listed.push(recording);
          }
        }
        if (listed.length !== 1)
          throw new Error(`msteams bench: listed ${listed.length} recordings for ${added.id}`);
        const recording = listed[0] as SourceRecording;
        // Alternate the order so neither path always runs on a warmer machine.
        const order: TeamsBenchPath[] = run % 2 === 1 ? ['teams', 'telphin'] : ['telphin', 'teams'];
        for (const path of order) {
          trial += 1;
          const key = `recordings/${path}/bench/2026/01/01/${bytes}-${run}-${trial}.${path === 'teams' ? 'mp4' : 'mp3'}`;
          const seed = 2000 + run;
          const report = await runStreamTrial(entry, {
            impl: path === 'teams' ? 'teams' : 'archive',
            bytes,
            seed,
            url: host.url(bytes, seed),
            endpoint: moto.endpoint,
            bucket: BUCKET,
            key,
            partSizeMiB: PART_SIZE_MIB,
            partsInFlight: PARTS_IN_FLIGHT,
            ...(path === 'teams'
              ? { teams: { ...teamsSpec, recording: JSON.parse(JSON.stringify(recording)) } }
              : {}),
          });
          const ok =
            path === 'teams'
              ? await checkTeamsObject(moto.s3, key, bytes, sandbox.expectedSha256(added.id))
              : (
                  await checkStoredObject(moto.s3, {
                    bucket: BUCKET,
                    key,
                    bytes,
                    seed,
                    readBack: false,
                    expectRecorded: true,
                  })
                ).ok;
          stored.checked += 1;
          if (ok) stored.ok += 1;
          await deleteObject(moto.s3, BUCKET, key);
          samples.push({ ...report, path, round: run });
          progress(
            `msteams: ${path} ${formatSize(bytes)} run ${run}: ${round(bytes / MiB / report.seconds)} MiB/s, peak RSS ${round(report.maxRssMiB)} MiB (baseline ${round(report.baselineRssMiB)})${ok ? '' : ' STORED OBJECT WRONG'}`,
          );
        }
      }
    }
  } finally {
    await host.stop();
    await removeSandbox();
    await removeMoto();
    await removeScratch();
  }
  const summary = summarise(samples, options, stored);
  summary.notificationToArchivedMs = await notificationToArchived(options.latency, progress);
  return { summary, samples };
}

/** See `notificationToArchivedMs`: a local host with a Teams source, subscriptions through the handshake. */
async function notificationToArchived(
  options: { runs: number; bytes: number },
  progress: (line: string) => void,
): Promise<NonNullable<TeamsRecordingsBenchSummary['notificationToArchivedMs']>> {
  const dir = await mkdtemp(join(tmpdir(), 'callvault-bench-msteams-local-'));
  const sandbox = await startTeamsSandbox({ host: '127.0.0.1', contentHost: 'localhost' });
  const user = sandbox.addUser({ userPrincipalName: 'latency@contoso.example' });
  const config = parseConfig({
    sources: [
      {
        provider: 'msteams',
        id: 'bench-latency',
        tenantId: sandbox.tenantId,
        clientId: sandbox.clientId,
        clientSecret: sandbox.clientSecret,
        webhookSecret: randomBytes(24).toString('hex'),
        loginUrl: sandbox.url,
        graphUrl: sandbox.url,
        users: [user.userPrincipalName],
        allowedDownloadHosts: [new URL(sandbox.contentUrl).host],
        mediaPersistenceApproved: true,
      },
    ],
    local: { port: 0, archiveDir: join(dir, 'archive'), stateDir: join(dir, 'state') },
  });
  const host = await startLocalHost({
    config,
    log: silentLog,
    scheduleSweep: false,
    scheduleRetention: false,
    publicUrl: 'server',
  });
  const samples: number[] = [];
  const recordingIds: string[] = [];
  try {
    for (let waited = 0; sandbox.subscriptions().length === 0; waited += 50) {
      if (waited > 15_000) throw new Error('msteams bench: no subscription was created in 15 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (let run = 1; run <= options.runs; run++) {
      const recording = sandbox.addRecording({
        kind: 'adhocCalls',
        organizerId: user.id,
        createdAt: new Date(Date.now() - 3 * 60_000),
        durationSeconds: 120,
        size: options.bytes,
        ready: true,
      });
      recordingIds.push(recording.id);
      const before = host.progress().archived;
      const started = performance.now();
      await sandbox.notifyRecording(recording.id);
      while (host.progress().archived === before) {
        if (performance.now() - started > 60_000)
          throw new Error(`msteams bench: ${recording.id} not archived in 60 s`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      samples.push(performance.now() - started);
    }
    await host.idle();
    let verified = 0;
    const expected = new Map(recordingIds.map((id) => [id, sandbox.expectedSha256(id)]));
    for await (const key of host.store.listKeys?.('recordings/msteams/bench-latency/') ?? []) {
      if (!key.endsWith('.mp4')) continue;
      const sidecar = await host.store.readSidecar(key);
      if (sidecar && expected.get(String(sidecar.recordingId)) === sidecar.sha256) verified += 1;
    }
    const result = {
      runs: samples.length,
      bytes: options.bytes,
      medianMs: round(median(samples)),
      minMs: round(Math.min(...samples)),
      maxMs: round(Math.max(...samples)),
      verified,
    };
    progress(
      `msteams: notification → archived copy (local, ${formatSize(options.bytes)}): median ${result.medianMs} ms over ${result.runs}, ${verified} verified`,
    );
    return result;
  } finally {
    await host.stop();
    await sandbox.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function checkTeamsObject(
  s3: import('@aws-sdk/client-s3').S3Client,
  key: string,
  bytes: number,
  expectedSha256: string,
): Promise<boolean> {
  const [head, tagging] = await Promise.all([
    s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })),
    s3.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: key })),
  ]);
  const tagged = tagging.TagSet?.find((tag) => tag.Key === 'sha256')?.Value;
  return head.ContentLength === bytes && tagged === expectedSha256;
}

function summarise(
  samples: readonly TeamsRecordingsSample[],
  options: TeamsRecordingsBenchOptions,
  stored: { checked: number; ok: number },
): TeamsRecordingsBenchSummary {
  const rows: TeamsRecordingsBenchRow[] = [];
  for (const path of ['teams', 'telphin'] as const) {
    for (const { bytes } of options.sizes) {
      const mine = samples.filter((sample) => sample.path === path && sample.bytes === bytes);
      if (mine.length === 0) continue;
      rows.push({
        path,
        bytes,
        runs: mine.length,
        maxRssMiB: round(median(mine.map((sample) => sample.maxRssMiB))),
        baselineRssMiB: round(median(mine.map((sample) => sample.baselineRssMiB))),
        peakOverBaselineMiB: round(median(mine.map((sample) => sample.maxRssMiB - sample.baselineRssMiB))),
        mibPerSecond: round(median(mine.map((sample) => sample.bytes / MiB / sample.seconds))),
        streamMibPerSecond: round(median(mine.map((sample) => sample.bytes / MiB / sample.streamSeconds))),
      });
    }
  }
  const growth = (path: TeamsBenchPath): number | null => {
    const mine = rows.filter((row) => row.path === path);
    const first = mine[0];
    const last = mine.at(-1);
    if (!first || !last || first.bytes === last.bytes) return null;
    return round(
      (last.peakOverBaselineMiB - first.peakOverBaselineMiB) / ((last.bytes - first.bytes) / GiB),
      2,
    );
  };
  return {
    partSizeMiB: PART_SIZE_MIB,
    partsInFlight: PARTS_IN_FLIGHT,
    budgetMiB: PART_SIZE_MIB * (PARTS_IN_FLIGHT + 1) + ALLOWANCE_MIB,
    rows,
    growthMiBPerGiB: { teams: growth('teams'), telphin: growth('telphin') },
    stored,
  };
}
