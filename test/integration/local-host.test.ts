/**
 * Local mode (`npm start`) end to end: the Telphin sandbox as the platform, the local folder as the
 * archive, the in-process queue, the HTTP webhook server and the sweep — all in this process.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config';
import { recordingKey } from '../../functions/core/keys';
import { silentLog } from '../../functions/core/ports';
import { type LocalHost, startLocalHost } from '../../functions/local/local-host';
import {
  type SandboxRecording,
  startTelphinSandbox,
  type TelphinSandbox,
  telphinHangupWebhookBody,
} from '../../sandbox/providers/telphin-sandbox';

const SECRET = 'local-webhook-secret-0123456789';

describe('local host', () => {
  let sandbox: TelphinSandbox;
  let dir: string;
  let host: LocalHost | undefined;

  beforeEach(async () => {
    sandbox = await startTelphinSandbox();
    dir = await mkdtemp(join(tmpdir(), 'callvault-local-'));
  });

  afterEach(async () => {
    await host?.stop();
    host = undefined;
    await sandbox.close();
    await rm(dir, { recursive: true, force: true });
  });

  const config = (overrides: Record<string, unknown> = {}) =>
    parseConfig({
      sources: [
        {
          provider: 'telphin',
          id: 'office',
          apiUrl: sandbox.url,
          clientId: sandbox.clientId,
          clientSecret: sandbox.clientSecret,
          webhookSecret: SECRET,
          allowedDownloadHosts: [new URL(sandbox.url).hostname, new URL(sandbox.storageOrigin).hostname],
        },
      ],
      local: { port: 0, archiveDir: join(dir, 'archive'), stateDir: join(dir, 'state') },
      worker: { concurrency: 2 },
      ...overrides,
    });

  const pathOf = (recording: SandboxRecording) =>
    join(
      dir,
      'archive',
      recordingKey({
        provider: 'telphin',
        sourceId: 'office',
        recordingId: recording.recordUuid,
        startedAt: new Date(Math.floor(recording.startedAt.getTime() / 1000) * 1000),
        fileExtension: 'mp3',
      }),
    );

  const sha256Of = async (path: string) =>
    createHash('sha256')
      .update(await readFile(path))
      .digest('hex');

  it('archives the last two days on start-up and what webhooks announce afterwards, mirroring the S3 layout', async () => {
    const history = sandbox.generateRecordings({
      count: 5,
      from: new Date(Date.now() - 30 * 3_600_000),
      to: new Date(Date.now() - 3_600_000),
    });
    host = await startLocalHost({ config: config(), log: silentLog });
    await host.idle();
    const fresh = sandbox.addRecording({ startedAt: new Date(Date.now() - 120_000), flow: 'in' });

    const accepted = await fetch(`${host.webhookUrl}/webhooks/telphin/office?token=${SECRET}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: telphinHangupWebhookBody(fresh),
    });
    const refused = await fetch(`${host.webhookUrl}/webhooks/telphin/office?token=wrong-${SECRET}`, {
      method: 'POST',
      body: telphinHangupWebhookBody(fresh),
    });
    const unknown = await fetch(`${host.webhookUrl}/webhooks/telphin/elsewhere?token=${SECRET}`, {
      method: 'POST',
      body: '',
    });
    await host.idle();

    expect([accepted.status, refused.status, unknown.status]).toEqual([200, 403, 404]);
    for (const recording of [...history, fresh]) {
      expect(await sha256Of(pathOf(recording))).toBe(sandbox.expectedSha256(recording.recordUuid));
      const sidecar = JSON.parse(await readFile(`${pathOf(recording)}.json`, 'utf8'));
      expect(sidecar).toMatchObject({
        recordingId: recording.recordUuid,
        sha256: sandbox.expectedSha256(recording.recordUuid),
      });
    }
    expect(host.progress().archived).toBe(6);
    const ledger = JSON.parse(await readFile(join(dir, 'archive', 'state/runs/sweep/office.json'), 'utf8'));
    expect(ledger).toMatchObject({ kind: 'sweep', outcome: 'ok', summary: { listed: 5, enqueued: 5 } });
  });

  it('lists the whole lookback at start-up even when later sweeps list only recent hours (it may follow downtime)', async () => {
    const [older, recent] = [30 * 60, 30].map((minutesAgo) =>
      sandbox.addRecording({ startedAt: new Date(Date.now() - minutesAgo * 60_000), flow: 'in' }),
    );
    host = await startLocalHost({
      config: config({ sweep: { lookbackHours: 48, recentLookbackHours: 6, intervalSeconds: 3_600 } }),
      log: silentLog,
      serveWebhooks: false,
      scheduleRetention: false,
    });
    await host.idle();
    await expect.poll(() => host?.progress().archived, { timeout: 20_000 }).toBe(2);

    for (const recording of [older, recent]) {
      expect(await sha256Of(pathOf(recording!))).toBe(sandbox.expectedSha256(recording!.recordUuid));
    }
    // An explicit sweep lists the window it is given: the recent hours hold one recording, archived.
    const [sweptRecent] = await host.sweepNow(6);
    expect(sweptRecent).toMatchObject({ listed: 1, archived: 1, enqueued: 0 });
  });

  // Pinned clocks minutes after a month began (after a 30-day month, at a new year, after a leap day):
  // the 48 h lookback spans two UTC months and three UTC days, whatever today is.
  it.each(['2026-12-01T00:20:00Z', '2027-01-01T00:20:00Z', '2028-03-01T00:20:00Z'])(
    'sweeps a lookback across the month that began before %s: both months listed, each day folder checked',
    async (at) => {
      const now = Date.parse(at);
      const clock = { now: () => new Date(now) };
      const minutesAgo = (minutes: number) => new Date(now - minutes * 60_000);
      const inLookback = [minutesAgo(40 * 60), minutesAgo(30), minutesAgo(10)].map((startedAt) =>
        sandbox.addRecording({ startedAt, durationSeconds: 60, flow: 'in' }),
      );
      const beforeLookback = sandbox.addRecording({ startedAt: minutesAgo(50 * 60), durationSeconds: 60 });
      host = await startLocalHost({
        config: config({ sweep: { lookbackHours: 48 } }),
        log: silentLog,
        clock,
        scheduleSweep: false,
        scheduleRetention: false,
        serveWebhooks: false,
      });

      const listCallsBefore = sandbox.counters.listCalls;
      const [first] = await host.sweepNow();
      await host.idle();
      const listCallsOfFirst = sandbox.counters.listCalls - listCallsBefore;
      const [second] = await host.sweepNow();

      expect(listCallsOfFirst).toBe(2);
      expect(first).toMatchObject({ listed: 3, archived: 0, enqueued: 3 });
      // Each copy is at the key of its own UTC day: three day folders.
      const days = new Set(inLookback.map((recording) => recording.startedAt.toISOString().slice(0, 10)));
      expect(days.size).toBe(3);
      for (const recording of inLookback)
        expect(await sha256Of(pathOf(recording))).toBe(sandbox.expectedSha256(recording.recordUuid));
      await expect(readFile(pathOf(beforeLookback))).rejects.toMatchObject({ code: 'ENOENT' });
      // The second sweep finds every copy in its own day's folder and enqueues nothing.
      expect(second).toMatchObject({ listed: 3, archived: 3, enqueued: 0 });
    },
  );

  it('stops cleanly mid-upload: nothing half-written left as if complete, the job saved for the next start', async () => {
    const [slow] = sandbox.generateRecordings({
      count: 1,
      from: new Date(Date.now() - 7_200_000),
      to: new Date(Date.now() - 3_600_000),
      size: 400_000,
    });
    sandbox.injectFault(
      { kind: 'slow-body', bytesPerSecond: 50_000 },
      { recordUuid: slow!.recordUuid, routes: ['storage', 'file'] },
    );
    host = await startLocalHost({ config: config(), log: silentLog });
    // Wait until the download is under way.
    for (
      let i = 0;
      i < 100 && sandbox.counters.storageDownloads + sandbox.counters.fileDownloads === 0;
      i++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));

    await host.stop();
    host = undefined;

    const files = await readdir(join(dir, 'archive'), { recursive: true });
    expect(files.filter((file) => file.endsWith('.mp3'))).toEqual([]);
    const saved = JSON.parse(await readFile(join(dir, 'state', 'pending-jobs.json'), 'utf8'));
    expect(JSON.stringify(saved)).toContain(slow!.recordUuid);

    // The next start picks the saved job up and completes it.
    sandbox.clearFaults();
    host = await startLocalHost({ config: config({ sweep: { enabled: false } }), log: silentLog });
    await host.idle();
    expect(await sha256Of(pathOf(slow!))).toBe(sandbox.expectedSha256(slow!.recordUuid));
  });
});
