/**
 * A RingCentral account that records in WAV (a company-wide setting) with a configuration that says
 * nothing about it (`recordingFormat` defaults to mp3): every copy is named `.wav` and typed `audio/wav`
 * from what the media host serves, in a local folder and in a bucket (moto). A copy an older version
 * stored as `.mp3` (WAV bytes, `audio/wav` in its sidecar) is found by the sweep (no second copy, no
 * download), verified and vouched for by retention, and counted by status as misnamed.
 */
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { CreateBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type CallvaultConfig, parseConfig } from '../../functions/config';
import { copyKey, recordingStem } from '../../functions/core/keys';
import { silentLog } from '../../functions/core/ports';
import type { SourceRecording } from '../../functions/core/recording';
import { buildSidecar } from '../../functions/core/sidecar';
import { RecordingVerifier } from '../../functions/core/verify-stream';
import { type LocalHost, startLocalHost } from '../../functions/local/local-host';
import { localStatusDependencies } from '../../functions/ops/status-dependencies';
import { collectStatus } from '../../functions/ops/status-report';
import { formatStatus } from '../../functions/ops/status-table';
import {
  type RingCentralSandbox,
  startRingCentralSandbox,
} from '../../sandbox/providers/ringcentral-sandbox';
import { recordingChunks, type SandboxCall } from '../../sandbox/providers/ringcentral-sandbox-calls';
import { type MotoServer, motoAvailable, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../support/moto';

const SOURCE_ID = 'rc-wav';
const BUCKET = 'callvault-rc-wav';
const DAY_MS = 86_400_000;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const stemOf = (call: SandboxCall) =>
  recordingStem({
    provider: 'ringcentral',
    sourceId: SOURCE_ID,
    recordingId: call.recording?.id ?? '',
    startedAt: call.startedAt,
  });

type StoreKind = 'folder' | 'bucket';

describe.each<StoreKind>(['folder', 'bucket'])('a WAV RingCentral account, archived into a %s', (kind) => {
  let moto: MotoServer | undefined;
  let sandbox: RingCentralSandbox | undefined;
  let dir: string | undefined;
  let host: LocalHost | undefined;
  const skip = kind === 'bucket' && !motoAvailable();

  beforeAll(async () => {
    if (kind !== 'bucket' || skip) return;
    moto = await startMoto();
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await moto?.stop();
  });
  afterEach(async () => {
    await host?.stop();
    host = undefined;
    await sandbox?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function configure(
    options: { mediaContentType?: 'format' | 'generic' } = {},
  ): Promise<CallvaultConfig> {
    sandbox = await startRingCentralSandbox({
      recordingFormat: 'wav',
      rateLimits: { heavy: { limit: 600, windowSeconds: 60 } },
      ...options,
    });
    dir = await mkdtemp(join(tmpdir(), 'callvault-rc-wav-'));
    if (moto) {
      // The local pipeline's S3 client takes the default credential chain, as `npm start` does.
      vi.stubEnv('AWS_ACCESS_KEY_ID', TEST_CREDENTIALS.accessKeyId);
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', TEST_CREDENTIALS.secretAccessKey);
      await moto.reset();
      await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    }
    return parseConfig({
      sources: [
        {
          provider: 'ringcentral',
          id: SOURCE_ID,
          serverUrl: sandbox.url,
          mediaUrl: sandbox.mediaUrl,
          clientId: sandbox.clientId,
          clientSecret: sandbox.clientSecret,
          jwt: sandbox.jwt,
          rateLimits: { heavyPerMinute: 600 },
          // No recordingFormat: the default (mp3) is what a user who never heard of the setting has.
          retention: { deleteFromSourceAfterDays: 4, dryRun: false, gracePeriodHours: 0, scanBackDays: 7 },
        },
      ],
      local: {
        port: await freePort(),
        archiveDir: join(dir, 'archive'),
        stateDir: join(dir, 'state'),
      },
      ...(moto
        ? {
            storage: {
              s3: { bucket: BUCKET, region: TEST_REGION, endpoint: moto.endpoint, forcePathStyle: true },
            },
          }
        : {}),
      // The sweep's window covers the legacy copy's day too: it must find that copy, not fetch it again.
      sweep: { lookbackHours: 24 * 6 },
      worker: { concurrency: 2 },
    });
  }

  async function keysOf(store: LocalHost['store']): Promise<string[]> {
    const keys: string[] = [];
    for await (const key of store.listKeys(`recordings/ringcentral/${SOURCE_ID}/`)) keys.push(key);
    return keys.sort();
  }

  /** What an earlier version stored for a WAV call: the bytes and `audio/wav`, under `{id}.mp3`. */
  async function storeLegacyCopy(store: LocalHost['store'], call: SandboxCall): Promise<string> {
    const file = call.recording;
    if (!file) throw new Error('call without recording');
    const key = copyKey(stemOf(call), 'mp3');
    const verifier = new RecordingVerifier({ sourceSize: file.size });
    pipeline(Readable.from([...recordingChunks(file)]), verifier, () => {});
    const tags = { provider: 'ringcentral', source: SOURCE_ID, 'retention-class': 'standard' };
    const stored = await store.putRecording({
      key,
      body: verifier,
      contentType: 'audio/wav',
      sourceSize: undefined,
      tags,
    });
    const recording: SourceRecording = {
      provider: 'ringcentral',
      sourceId: SOURCE_ID,
      recordingId: file.id,
      startedAt: call.startedAt,
      direction: 'inbound',
      fileExtension: 'mp3',
      raw: { legacy: true },
    };
    await store.putSidecar(
      key,
      buildSidecar(recording, {
        objectKey: key,
        size: stored.size,
        sha256: stored.sha256,
        checksum: stored.checksum,
        contentType: 'audio/wav',
        archivedAt: new Date(call.startedAt.getTime() + 600_000),
      }),
      tags,
    );
    return key;
  }

  it.skipIf(skip)(
    'names new copies .wav from the content, keeps a legacy .mp3 copy working, and status counts it',
    async () => {
      // Prepare: two recent WAV calls, and an old one an earlier version archived as .mp3.
      const config = await configure();
      const rc = sandbox as RingCentralSandbox;
      const now = Date.now();
      const recent = rc.generateCalls({
        count: 2,
        from: new Date(now - 20 * 3_600_000),
        to: new Date(now - 3_600_000),
      });
      const old = rc.addCall({ kind: 'inbound', startedAt: new Date(now - 5 * DAY_MS) });
      host = await startLocalHost({
        config,
        log: silentLog,
        serveWebhooks: false,
        scheduleSweep: false,
        scheduleRetention: false,
      });
      const legacyKey = await storeLegacyCopy(host.store, old);
      if (kind === 'folder' && dir) {
        // A folder copy's age is its mtime, which the kernel stamps; under libfaketime (the pinned-clock
        // runs) the kernel's clock is not the one this test shares, and a pinned instant before today
        // makes the copy look written in the future. Stamp it with the shared clock, as a real machine would.
        const writtenAt = new Date();
        await utimes(join(dir, 'archive', legacyKey), writtenAt, writtenAt);
      }

      // Act 1: a sweep over the last six days.
      const [sweep] = await host.sweepNow();
      await host.idle();

      // Assess 1: the recent calls are .wav, typed audio/wav; the legacy copy was found, not fetched again.
      expect(sweep).toMatchObject({ listed: 3, archived: 1, enqueued: 2 });
      const expected = [...recent.map((call) => copyKey(stemOf(call), 'wav')), legacyKey];
      expect(await keysOf(host.store)).toEqual(expected.flatMap((key) => [key, `${key}.json`]).sort());
      for (const call of recent) {
        const key = copyKey(stemOf(call), 'wav');
        const sidecar = await host.store.readSidecar(key);
        expect(sidecar).toMatchObject({
          contentType: 'audio/wav',
          objectKey: key,
          sha256: rc.expectedSha256(call.recording?.id ?? ''),
        });
        expect((await host.store.inspect(key))?.contentType).toBe('audio/wav');
        if (moto) {
          const head = await moto.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
          expect(head.ContentType).toBe('audio/wav');
        }
      }
      const contentRequests = rc.requestLog.filter(
        (entry) => entry.route === 'content' && entry.method === 'GET',
      );
      expect(contentRequests).toHaveLength(recent.length);

      // Act 2: retention (the old call is due), then status.
      const [retention] = await host.retentionNow();
      await host.idle();
      const report = await collectStatus(
        localStatusDependencies({ config, days: 7, checkRunningHost: false, log: silentLog }),
      );

      // Assess 2: the legacy copy vouched for the delete; status counts it as the one misnamed copy.
      expect(retention).toMatchObject({ due: 1, deleted: 1, skipped: 0, dueButNotArchived: 0 });
      expect(rc.deletedRecordingIds()).toEqual([old.recording?.id]);
      const [source] = report.sources;
      const oldDay = new Date(old.startedAt).toISOString().slice(0, 10);
      expect(
        source?.days.filter((day) => (day.misnamed ?? 0) > 0).map((day) => [day.day, day.misnamed]),
      ).toEqual([[oldDay, 1]]);
      expect(source?.days.find((day) => day.day === oldDay)?.archived.count).toBe(1);
      expect(formatStatus(report)).toContain(
        `1 copies on ${oldDay} have an extension that disagrees with their content`,
      );
    },
    120_000,
  );

  it.skipIf(skip)(
    'trusts the RIFF bytes over a media host that types every file application/octet-stream',
    async () => {
      // Prepare
      const config = await configure({ mediaContentType: 'generic' });
      const rc = sandbox as RingCentralSandbox;
      const [call] = rc.generateCalls({
        count: 1,
        from: new Date(Date.now() - 3 * 3_600_000),
        to: new Date(Date.now() - 3_600_000),
      });
      host = await startLocalHost({
        config,
        log: silentLog,
        serveWebhooks: false,
        scheduleSweep: false,
        scheduleRetention: false,
      });

      // Act
      await host.sweepNow();
      await host.idle();

      // Assess
      const key = copyKey(stemOf(call as SandboxCall), 'wav');
      expect(await keysOf(host.store)).toEqual([key, `${key}.json`]);
      expect(await host.store.readSidecar(key)).toMatchObject({ contentType: 'audio/wav' });
    },
    60_000,
  );
});
