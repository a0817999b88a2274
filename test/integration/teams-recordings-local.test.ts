/**
 * Local mode with one Teams recordings source pointed at the Teams sandbox, configured from a file as
 * the README shows: `npm start` creates one subscription per recording kind through Graph's validation
 * handshake against the local webhook server, archives by notification and by sweep, and acts on the
 * lifecycle events a delivery carries (recreate and sweep after `subscriptionRemoved`, reauthorize after
 * `reauthorizationRequired`, sweep after `missed`) without holding up the answer.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../functions/config';
import type { ArchiveStore } from '../../functions/core/ports';
import { type LocalHost, startLocalHost } from '../../functions/local/local-host';
import { MSTEAMS_SUBSCRIPTION_RESOURCES } from '../../functions/providers/teams-recordings/teams-recordings-subscriptions';
import { startTeamsSandbox, type TeamsSandbox } from '../../sandbox/providers/teams-recordings-sandbox';
import { recordingLog } from '../unit/providers/teams-recordings/teams-recordings-fixture';

const run = promisify(execFile);
const SECRET = 'local-teams-client-state-0123456789';
const SOURCE_ID = 'teams-local';
const HOUR_MS = 3_600_000;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** SHA-256 of every archived recording, by the Teams recording id its sidecar names. */
async function archivedSha256s(store: ArchiveStore): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  if (!store.listKeys) throw new Error('the folder store lists its keys');
  for await (const key of store.listKeys('')) {
    if (!key.endsWith('.mp4')) continue;
    const sidecar = await store.readSidecar(key);
    if (sidecar) found.set(String(sidecar.recordingId), String(sidecar.sha256));
  }
  return found;
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('local mode with a Teams recordings source (sandbox)', () => {
  let sandbox: TeamsSandbox;
  let dir: string;
  let host: LocalHost | undefined;

  beforeEach(async () => {
    sandbox = await startTeamsSandbox();
    dir = await mkdtemp(join(tmpdir(), 'callvault-teams-local-'));
  });

  afterEach(async () => {
    await host?.stop();
    host = undefined;
    await sandbox.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps its subscriptions, archives by notification and by sweep, and acts on lifecycle events', async () => {
    // Prepare: a config file as the README shows it, pointed at the sandbox.
    const alice = sandbox.addUser({ userPrincipalName: 'alice@contoso.example' });
    const port = await freePort();
    const configPath = join(dir, 'callvault.config.json');
    await writeFile(
      configPath,
      JSON.stringify({
        sources: [
          {
            provider: 'msteams',
            id: SOURCE_ID,
            tenantId: sandbox.tenantId,
            clientId: sandbox.clientId,
            clientSecret: sandbox.clientSecret,
            webhookSecret: SECRET,
            loginUrl: sandbox.url,
            graphUrl: sandbox.url,
            users: [alice.userPrincipalName],
            allowedDownloadHosts: [new URL(sandbox.contentUrl).host],
            mediaPersistenceApproved: true,
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
    const swept = sandbox.addRecording({
      kind: 'onlineMeetings',
      organizerId: alice.id,
      createdAt: new Date(now - 5 * HOUR_MS),
      size: 300_000,
    });
    const log = recordingLog();

    // Act 1: start-up (subscriptions, then the sweep), then an ad hoc call recording announced.
    host = await startLocalHost({ config, log, scheduleRetention: false });
    await host.idle();
    const adhoc = sandbox.addRecording({
      kind: 'adhocCalls',
      organizerId: alice.id,
      createdAt: new Date(now - HOUR_MS),
      size: 200_000,
    });
    const deliveries = await sandbox.notifyRecording(adhoc.id);
    await host.idle();

    // Assess 1
    const webhookUrl = `http://127.0.0.1:${port}/webhooks/msteams/${SOURCE_ID}`;
    const subscriptions = sandbox.subscriptions();
    expect(subscriptions.map((subscription) => subscription.resource).sort()).toEqual(
      Object.values(MSTEAMS_SUBSCRIPTION_RESOURCES).sort(),
    );
    for (const subscription of subscriptions) {
      expect(subscription).toMatchObject({
        changeType: 'created',
        notificationUrl: webhookUrl,
        lifecycleNotificationUrl: webhookUrl,
        clientState: SECRET,
      });
    }
    // Both URLs of both subscriptions answered the validation handshake.
    expect(sandbox.counters.validations).toBe(4);
    expect(deliveries.map((delivery) => delivery.status)).toEqual([202]);
    let archived = await archivedSha256s(host.store);
    expect(archived.get(swept.id)).toBe(sandbox.expectedSha256(swept.id));
    expect(archived.get(adhoc.id)).toBe(sandbox.expectedSha256(adhoc.id));

    // Act 2: Graph removes the meetings subscription; a meeting recorded meanwhile is never announced.
    const meetings = subscriptions.find(
      (subscription) => subscription.resource === MSTEAMS_SUBSCRIPTION_RESOURCES.onlineMeetings,
    );
    if (!meetings) throw new Error('no meetings subscription');
    const unannounced = sandbox.addRecording({
      kind: 'onlineMeetings',
      organizerId: alice.id,
      createdAt: new Date(now - 30 * 60_000),
      size: 100_000,
    });
    const removed = await sandbox.sendLifecycleEvent(meetings.id, 'subscriptionRemoved');
    await waitFor(
      () => sandbox.subscriptions().some((s) => s.resource === meetings.resource && s.id !== meetings.id),
      'the meetings subscription recreated',
    );
    await waitFor(
      async () => (await archivedSha256s(host?.store as ArchiveStore)).has(unannounced.id),
      'the sweep',
    );
    await host.idle();

    // Assess 2: answered at once, recreated through a new handshake, the gap swept.
    expect(removed.status).toBe(202);
    expect(sandbox.subscriptions()).toHaveLength(2);
    expect(sandbox.counters.validations).toBe(6);
    archived = await archivedSha256s(host.store);
    expect(archived.get(unannounced.id)).toBe(sandbox.expectedSha256(unannounced.id));

    // Act 3: reauthorization required on the ad hoc calls subscription.
    const calls = sandbox
      .subscriptions()
      .find((subscription) => subscription.resource === MSTEAMS_SUBSCRIPTION_RESOURCES.adhocCalls);
    if (!calls) throw new Error('no ad hoc calls subscription');
    const reauthorize = await sandbox.sendLifecycleEvent(calls.id, 'reauthorizationRequired');
    await waitFor(
      () => sandbox.subscriptions().find((s) => s.id === calls.id)?.reauthorizations === 1,
      'the reauthorization',
    );
    await host.idle();

    const archivedAtEnd = host.progress().archived;
    await host.stop();
    host = undefined;

    // Act 4: the scripts, as a user runs them, against the same config (retention set globally).
    await writeFile(
      configPath,
      JSON.stringify({
        ...JSON.parse(await readFile(configPath, 'utf8')),
        retention: { deleteFromSourceAfterDays: 30, dryRun: false },
      }),
    );
    const env = { ...process.env, CALLVAULT_CONFIG: configPath };
    const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
    const status = await run(tsx, ['scripts/status.ts', '--days', '2', '--json'], { env });
    const retention = await run(tsx, ['scripts/retention.ts'], { env }).catch(
      (error: { stdout: string; stderr: string }) => error,
    );

    // Assess 3: the same subscription kept, nothing archived twice.
    expect(reauthorize.status).toBe(202);
    expect(sandbox.subscriptions().map((s) => s.id)).toContain(calls.id);
    expect(archivedAtEnd).toBe(3);
    expect(
      log.lines.filter((line) => line.message === 'teams lifecycle events handled').map((l) => l.attributes),
    ).toEqual([
      expect.objectContaining({ sourceId: SOURCE_ID, ensured: true, swept: true }),
      expect.objectContaining({ sourceId: SOURCE_ID, reauthorized: [calls.id], swept: false }),
    ]);
    // Assess 4: status reports the source's archived recordings; retention skips it and says why.
    const report = JSON.parse(status.stdout) as {
      sources: {
        sourceId: string;
        days: {
          archived: { count: number };
          atSource?: { count: number };
          byUser?: { user: string; listed: number; archived: number }[];
        }[];
        lastRuns: { subscriptions?: { outcome: string; summary: { active: unknown[] } } };
      }[];
    };
    const teams = report.sources.find((source) => source.sourceId === SOURCE_ID);
    expect(teams?.days.reduce((sum, day) => sum + day.archived.count, 0)).toBe(3);
    // Listed against archived, per user and day, and the subscriptions the last check left active.
    const perUser = teams?.days.flatMap((day) => day.byUser ?? []) ?? [];
    expect(perUser.reduce((sum, row) => sum + row.listed, 0)).toBe(
      teams?.days.reduce((sum, day) => sum + (day.atSource?.count ?? 0), 0),
    );
    expect(perUser.every((row) => row.archived === row.listed)).toBe(true);
    expect(perUser.length).toBeGreaterThan(0);
    expect(teams?.lastRuns.subscriptions?.outcome).toBe('ok');
    expect(teams?.lastRuns.subscriptions?.summary.active.length).toBeGreaterThan(0);
    expect(retention.stdout + retention.stderr).toMatch(/retention skips teams-local/);
    expect(retention.stdout + retention.stderr).toMatch(/offers no delete/);
  }, 90_000);

  it('refuses a notification whose clientState is not ours, and enqueues nothing', async () => {
    // Covered at the adapter by the webhook unit tests; here through the host's real route.
    const port = await freePort();
    const alice = sandbox.addUser({ userPrincipalName: 'alice@contoso.example' });
    const config = loadConfigFile(
      await (async () => {
        const path = join(dir, 'callvault.config.json');
        await writeFile(
          path,
          JSON.stringify({
            sources: [
              {
                provider: 'msteams',
                id: SOURCE_ID,
                tenantId: sandbox.tenantId,
                clientId: sandbox.clientId,
                clientSecret: sandbox.clientSecret,
                webhookSecret: SECRET,
                loginUrl: sandbox.url,
                graphUrl: sandbox.url,
                users: [alice.id],
                allowedDownloadHosts: [new URL(sandbox.contentUrl).host],
                mediaPersistenceApproved: true,
              },
            ],
            local: { port, archiveDir: join(dir, 'archive'), stateDir: join(dir, 'state') },
            sweep: { enabled: false },
          }),
        );
        return path;
      })(),
    );
    host = await startLocalHost({ config, log: recordingLog() });
    const response = await fetch(`${host.webhookUrl}/webhooks/msteams/${SOURCE_ID}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        value: [
          {
            subscriptionId: 'b2d8b7a4-0000-4000-8000-000000000001',
            changeType: 'created',
            clientState: 'not-our-client-state-000000',
            tenantId: sandbox.tenantId,
            resource: "communications/adhocCalls('a')/recordings('b')",
            resourceData: { id: 'b' },
          },
        ],
      }),
    });
    await host.idle();
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(host.queue.stats()).toMatchObject({ pending: 0 });
    expect(host.progress().archived).toBe(0);
  });
});
