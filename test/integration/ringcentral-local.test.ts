/**
 * Local mode with one RingCentral source pointed at the sandbox, configured from a file as the README
 * shows: `npm start` manages the subscription (real Validation-Token handshake against the local
 * webhook server), archives by webhook and by sweep, replaces a blacklisted subscription, refuses forged
 * deliveries; `npm run backfill`, `npm run retention` and `npm run status` work for the source.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../functions/config';
import { recordingKey, sidecarKey } from '../../functions/core/keys';
import { silentLog } from '../../functions/core/ports';
import { type LocalHost, startLocalHost } from '../../functions/local/local-host';
import {
  type RingCentralSandbox,
  type SandboxCall,
  startRingCentralSandbox,
} from '../../sandbox/providers/ringcentral-sandbox';

const run = promisify(execFile);
const SECRET = 'local-rc-webhook-secret-0123456789';
const SOURCE_ID = 'rc-local';
const DAY_MS = 86_400_000;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('local mode with a RingCentral source (sandbox)', () => {
  let sandbox: RingCentralSandbox;
  let dir: string;
  let host: LocalHost | undefined;

  beforeEach(async () => {
    sandbox = await startRingCentralSandbox({
      recordingReadyDelayMs: 500,
      rateLimits: { heavy: { limit: 600, windowSeconds: 60 } },
    });
    dir = await mkdtemp(join(tmpdir(), 'callvault-rc-local-'));
  });

  afterEach(async () => {
    await host?.stop();
    host = undefined;
    await sandbox.close();
    await rm(dir, { recursive: true, force: true });
  });

  const keyOf = (call: SandboxCall) => {
    if (!call.recording) throw new Error('call without recording');
    return recordingKey({
      provider: 'ringcentral',
      sourceId: SOURCE_ID,
      recordingId: call.recording.id,
      startedAt: call.startedAt,
      fileExtension: call.recording.format,
    });
  };

  it('archives by webhook and by sweep, keeps its subscription, and serves backfill, retention and status', async () => {
    // Prepare: a config file as the README shows it, pointed at the sandbox.
    const port = await freePort();
    const configPath = join(dir, 'callvault.config.json');
    await writeFile(
      configPath,
      JSON.stringify({
        sources: [
          {
            provider: 'ringcentral',
            id: SOURCE_ID,
            serverUrl: sandbox.url,
            mediaUrl: sandbox.mediaUrl,
            clientId: sandbox.clientId,
            clientSecret: sandbox.clientSecret,
            jwt: sandbox.jwt,
            webhookSecret: SECRET,
            rateLimits: { heavyPerMinute: 600 },
            retention: { deleteFromSourceAfterDays: 4, dryRun: false, gracePeriodHours: 0, scanBackDays: 5 },
          },
        ],
        local: {
          port,
          publicUrl: `http://127.0.0.1:${port}`,
          archiveDir: join(dir, 'archive'),
          stateDir: join(dir, 'state'),
        },
        sweep: { lookbackHours: 24 },
        worker: { concurrency: 2 },
      }),
    );
    const config = loadConfigFile(configPath);
    const now = Date.now();
    const recent = sandbox.generateCalls({
      count: 3,
      from: new Date(now - 20 * 3_600_000),
      to: new Date(now - 3_600_000),
    });
    const old = sandbox.addCall({ kind: 'inbound', startedAt: new Date(now - 5 * DAY_MS) });

    // Act 1: start-up (subscriptions, then the sweep), then a call hung up and announced by webhook.
    host = await startLocalHost({
      config,
      log: silentLog,
      retryPolicy: { notReadyBaseSeconds: 1, notReadyMaxSeconds: 2 },
      // Retention would archive the old call at start-up (due but not archived); here backfill does.
      scheduleRetention: false,
    });
    await host.idle();
    const [subscription] = sandbox.subscriptions();
    const afterSweep = host.progress().archived;
    const live = sandbox.startCall({ kind: 'outbound', durationSeconds: 40 });
    const deliveries = await sandbox.hangUp(live.telephonySessionId);
    await host.idle();
    const afterWebhook = host.progress().archived;

    // Assess 1
    expect(sandbox.counters.handshakes).toBe(1);
    expect(subscription).toMatchObject({
      status: 'Active',
      eventFilters: ['/restapi/v1.0/account/~/telephony/sessions'],
      deliveryMode: { address: `http://127.0.0.1:${port}/webhooks/ringcentral/${SOURCE_ID}` },
    });
    expect(afterSweep).toBe(recent.length);
    expect(deliveries.map((delivery) => delivery.status)).toEqual([200]);
    expect(afterWebhook).toBe(recent.length + 1);
    for (const call of [...recent, live]) {
      const sidecar = await host.store.readSidecar(keyOf(call));
      expect(sidecar?.sha256).toBe(sandbox.expectedSha256(call.recording?.id ?? ''));
    }

    // Act 2: RingCentral blacklists the subscription; the next check (as with every sweep) replaces it.
    sandbox.setSubscriptionStatus(subscription?.id ?? '', 'Blacklisted');
    const repaired = await host.subscriptionsNow();
    const again = await host.subscriptionsNow();
    const second = sandbox.startCall({ kind: 'inbound', durationSeconds: 40 });
    const secondDeliveries = await sandbox.hangUp(second.telephonySessionId);
    const forged = await fetch(`http://127.0.0.1:${port}/webhooks/ringcentral/${SOURCE_ID}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'verification-token': 'forged-token-0123456789' },
      body: '{}',
    });
    await host.idle();

    // Assess 2
    expect(repaired?.reports[0]).toMatchObject({
      created: [expect.any(String)],
      deleted: [subscription?.id],
    });
    expect(again?.reports[0]).toMatchObject({
      kept: repaired?.reports[0]?.created,
      created: [],
      deleted: [],
    });
    expect(sandbox.subscriptions().map((listed) => listed.status)).toEqual(['Active']);
    expect(secondDeliveries.map((delivery) => delivery.status)).toEqual([200]);
    expect(forged.status).toBe(403);
    expect(await host.store.inspect(keyOf(second))).toBeDefined();
    await host.stop();
    host = undefined;

    // Act 3: the scripts, as a user runs them, against the same config.
    const env = { ...process.env, CALLVAULT_CONFIG: configPath };
    const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const backfill = await run(
      tsx,
      [
        'scripts/backfill.ts',
        '--source',
        SOURCE_ID,
        '--from',
        day(now - 6 * DAY_MS),
        '--to',
        day(now - 4 * DAY_MS),
      ],
      { env },
    );
    // Retention reads a local copy's age from its mtime, which the kernel stamps. Under libfaketime (the
    // pinned-clock runs) the kernel's clock is not the one this test and its children share, and a
    // pinned instant before today makes the copy look written in the future (too young to vouch).
    // Stamp it with the shared clock, as an unfaked machine would have.
    const copyWrittenAt = new Date();
    await utimes(join(dir, 'archive', keyOf(old)), copyWrittenAt, copyWrittenAt);
    const retention = await run(tsx, ['scripts/retention.ts'], { env });
    const status = await run(tsx, ['scripts/status.ts', '--days', '6', '--json'], { env });

    // Assess 3: backfill archived the old call, retention deleted it at the source (its size from a HEAD
    // of the content vouched), nothing newer was touched, and status reports the source.
    expect(backfill.stdout + backfill.stderr).toContain(SOURCE_ID);
    const oldCopy = await readFile(join(dir, 'archive', sidecarKey(keyOf(old))), 'utf8');
    expect(JSON.parse(oldCopy).sha256).toBe(sandbox.expectedSha256(old.recording?.id ?? ''));
    expect(sandbox.deletedRecordingIds()).toEqual([old.recording?.id]);
    expect(sandbox.counters.callLogDeletes).toBe(0);
    expect(retention.stdout + retention.stderr).toMatch(/deleted/);
    expect(status.stdout).toContain(SOURCE_ID);
    // The Heavy budget's forecast: 600 a minute, paced by the gate at one slot per 105 ms, is 822,857
    // requests a day; the sweep's 288 pages a day come off; each recording spends 3 (its hint's lookup,
    // its download, its delete, as retention deletes here): 274,189 a day, far above what arrived.
    const report = JSON.parse(status.stdout) as {
      sources: {
        sourceId: string;
        budget?: { capacityPerDay: number; arrivedLast24h: number; verdict: string };
      }[];
    };
    const budget = report.sources.find((source) => source.sourceId === SOURCE_ID)?.budget;
    expect(budget).toMatchObject({
      capacityPerDay: 274_189,
      listingRequestsPerDay: 288,
      verdict: 'keeps-up',
    });
    expect(budget?.arrivedLast24h).toBeGreaterThan(0);
  }, 120_000);
});
