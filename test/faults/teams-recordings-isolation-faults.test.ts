/**
 * One user outside Teams' application access policy must not cost the others their archive. A four-user
 * tenant on the Teams sandbox, where Graph answers 403 "No application access policy found for this app."
 * on the fourth user's `onlineMeetings` paths only (the policy is granted per user in a real tenant):
 * the other recordings are archived by notification, by the sweep and by a lifecycle follow-up; the fourth
 * user's meeting recordings are reported (run ledger, `npm run status`, the sweep's metric) and retried
 * from where they were last covered once the policy is granted. Also: metered meeting-recording content
 * refused with 402 waits as a named admin error instead of being dead-lettered.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FsRunLedger } from '../../functions/adapters/run-ledgers';
import type { AwsRuntime } from '../../functions/composition/aws-runtime';
import { buildSourceRegistry, inlineCredentials } from '../../functions/composition/sources';
import { type CallvaultConfig, parseConfig } from '../../functions/config';
import type { ArchiveJob } from '../../functions/core/jobs';
import { scopeFailuresOf } from '../../functions/core/listing-scopes';
import { type Clock, silentLog, systemClock } from '../../functions/core/ports';
import { consoleLog } from '../../functions/local/console-log';
import { type LocalHost, startLocalHost } from '../../functions/local/local-host';
import { METRICS_NAMESPACE, SWEEP_SCOPES_NOT_COVERED_METRIC } from '../../functions/observability/names';
import { localStatusDependencies } from '../../functions/ops/status-dependencies';
import { collectStatus } from '../../functions/ops/status-report';
import { formatStatus } from '../../functions/ops/status-table';
import { createSweepHandler } from '../../functions/sweep';
import {
  ACCESS_POLICY_MESSAGE,
  startTeamsSandbox,
  type TeamsKind,
  type TeamsSandbox,
  type TeamsSandboxRecording,
  type TeamsSandboxUser,
} from '../../sandbox/providers/teams-recordings-sandbox';

const SECRET = 'teams-isolation-client-state-0123456789';
const HOUR_MS = 3_600_000;
let scenario = 0;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The JSON lines the Powertools metrics print (EMF) while `act` runs. */
async function printedMetrics(act: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const printed: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    printed.push(String(chunk));
    return true;
  };
  const writes = [
    vi.spyOn(process.stdout, 'write').mockImplementation(capture),
    vi.spyOn(process.stderr, 'write').mockImplementation(capture),
  ];
  try {
    await act();
  } finally {
    for (const write of writes) write.mockRestore();
  }
  return printed
    .flatMap((text) => text.split('\n'))
    .filter((text) => text.startsWith('{') && text.includes('"_aws"'))
    .map((text) => JSON.parse(text) as Record<string, unknown>);
}

describe('Teams: one user outside the access policy', () => {
  let sandbox: TeamsSandbox | undefined;
  let dir: string | undefined;
  const hosts: LocalHost[] = [];

  afterEach(async () => {
    for (const host of hosts.splice(0)) await host.stop();
    await sandbox?.close();
    sandbox = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function setUp() {
    scenario += 1;
    const sourceId = `teams-isolation-${scenario}`;
    const teams = await startTeamsSandbox();
    sandbox = teams;
    const alice = teams.addUser({ userPrincipalName: 'alice@contoso.example' });
    const bob = teams.addUser({ userPrincipalName: 'bob@contoso.example' });
    const carol = teams.addUser({ userPrincipalName: 'carol@contoso.example' });
    // Outside the policy: Graph refuses this user's meeting paths only.
    const dave = teams.addUser({
      userPrincipalName: 'dave@contoso.example',
      policyGranted: false,
      refusedKinds: ['onlineMeetings'],
    });
    const root = await mkdtemp(join(tmpdir(), 'callvault-teams-isolation-'));
    dir = root;
    const port = await freePort();
    const config: CallvaultConfig = parseConfig({
      sources: [
        {
          provider: 'msteams',
          id: sourceId,
          tenantId: teams.tenantId,
          clientId: teams.clientId,
          clientSecret: teams.clientSecret,
          webhookSecret: SECRET,
          loginUrl: teams.url,
          graphUrl: teams.url,
          users: [alice.userPrincipalName, bob.id, carol.id, dave.userPrincipalName],
          allowedDownloadHosts: [new URL(teams.contentUrl).host],
          mediaPersistenceApproved: true,
        },
      ],
      local: {
        port,
        publicUrl: `http://127.0.0.1:${port}`,
        archiveDir: join(root, 'archive'),
        stateDir: join(root, 'state'),
      },
      sweep: { lookbackHours: 24 },
      worker: { concurrency: 2, maxReceiveCount: 20 },
    });
    const start = async (hostOptions: { scheduleSweep?: boolean; clock?: Clock } = {}) => {
      const host = await startLocalHost({
        config,
        log: process.env.FAULTS_VERBOSE ? consoleLog({ level: 'debug' }) : silentLog,
        retryPolicy: {
          notReadyBaseSeconds: 1,
          notReadyMaxSeconds: 1,
          transientBaseSeconds: 1,
          transientMaxSeconds: 1,
        },
        scheduleRetention: false,
        ...hostOptions,
      });
      hosts.push(host);
      return host;
    };
    const ledger = new FsRunLedger({ root: join(root, 'archive') });
    return { teams, sourceId, config, users: { alice, bob, carol, dave }, start, ledger };
  }

  const both: readonly TeamsKind[] = ['adhocCalls', 'onlineMeetings'];
  const recordingsOf = (
    teams: TeamsSandbox,
    users: readonly TeamsSandboxUser[],
    ageHours: number,
  ): TeamsSandboxRecording[] =>
    users.flatMap((user, u) =>
      both.map((kind, k) =>
        teams.addRecording({
          kind,
          organizerId: user.id,
          createdAt: new Date(Date.now() - (ageHours + u * 0.05 + k * 0.01) * HOUR_MS),
          size: 120_000 + u * 10_000 + k * 1_000,
        }),
      ),
    );

  async function archivedIds(host: LocalHost, sourceId: string): Promise<Map<string, string>> {
    const archived = new Map<string, string>();
    for await (const key of host.store.listKeys?.(`recordings/msteams/${sourceId}/`) ?? []) {
      if (!key.endsWith('.mp4')) continue;
      const sidecar = await host.store.readSidecar(key);
      if (sidecar) archived.set(String(sidecar.recordingId), String(sidecar.sha256));
    }
    return archived;
  }

  it('archives the other users by sweep, notification and missed-event sweep; reports the fourth in the ledger, status and metric', async () => {
    const { teams, sourceId, config, users, start, ledger } = await setUp();
    const { alice, bob, carol, dave } = users;
    const older = recordingsOf(teams, [alice, bob, carol, dave], 10);

    // Act 1: the start-up sweep.
    const host = await start();
    await host.idle();

    // Act 2: new recordings announced by notification.
    const fresh = recordingsOf(teams, [alice, bob, carol], 0.2);
    const deliveries = await Promise.all(fresh.map((recording) => teams.notifyRecording(recording.id)));
    await waitFor(() => host.progress().archived >= 7 + fresh.length);
    await host.idle();

    // Act 3: Graph says it dropped notifications; the follow-up sweeps the source.
    const unannounced = recordingsOf(teams, [alice, bob, carol], 0.1);
    const [subscription] = teams.subscriptions();
    if (!subscription) throw new Error('no subscription');
    const missed = await teams.sendLifecycleEvent(subscription.id, 'missed');
    await waitFor(() => host.progress().archived >= 7 + fresh.length + unannounced.length);
    await host.idle();

    // Assess: everything of the three users, and the fourth user's ad hoc calls, archived byte for byte.
    const expected = [...older, ...fresh, ...unannounced].filter(
      (recording) => !(recording.organizerId === dave.id && recording.kind === 'onlineMeetings'),
    );
    const archived = await archivedIds(host, sourceId);
    for (const recording of expected) {
      expect(archived.get(recording.id), recording.id).toBe(teams.expectedSha256(recording.id));
    }
    expect(archived.size).toBe(expected.length);
    expect(deliveries.flat().map((delivery) => delivery.status)).toEqual(fresh.map(() => 202));
    expect(missed.status).toBe(202);
    expect(host.queue.stats().deadLettered).toBe(0);
    // Graph refused exactly the fourth user's meeting paths, and nothing else.
    const refused = teams.requestLog.filter((entry) => entry.status === 403);
    expect(refused.length).toBeGreaterThanOrEqual(2);
    for (const entry of refused) expect(entry.path).toMatch(new RegExp(`/users/${dave.id}/onlineMeetings/`));

    // The run ledger: the sweep was partial, with the fourth user's meeting recordings and the reason.
    const sweep = await ledger.last('sweep', sourceId);
    expect(sweep?.outcome).toBe('partial');
    const notCovered = scopeFailuresOf(sweep?.summary);
    expect(notCovered.map((failure) => failure.scope)).toEqual([`${dave.id}/onlineMeetings`]);
    expect(notCovered[0]?.label).toBe('dave@contoso.example meeting recordings');
    expect(notCovered[0]?.reason).toContain(ACCESS_POLICY_MESSAGE);
    expect(notCovered[0]?.reason).toContain('Grant-CsApplicationAccessPolicy');
    expect(notCovered[0]?.attempts).toBeGreaterThanOrEqual(2);

    // npm run status: the user not covered, why, and the fix.
    const report = await collectStatus(localStatusDependencies({ config, days: 2 }));
    const text = formatStatus(report);
    expect(text).toContain('! not covered by the last sweep (1;');
    expect(text).toMatch(
      /dave@contoso\.example meeting recordings: since \S+, \d+ sweeps: .*No application access policy/,
    );
    expect(text).toContain('New-CsApplicationAccessPolicy');
    const status = report.sources.find((source) => source.sourceId === sourceId);
    expect(status?.notCovered?.map((failure) => failure.subject)).toEqual([dave.id]);

    // The sweep function's metric: one part not covered, for this source and in total.
    const enqueued: ArchiveJob[] = [];
    const runtime = {
      env: { config },
      sources: buildSourceRegistry(config, inlineCredentials, { clock: systemClock, log: silentLog }),
      store: host.store,
      queue: { enqueue: async (jobs: readonly ArchiveJob[]) => void enqueued.push(...jobs) },
      clock: systemClock,
      ledger,
      logger: silentLog,
    } as unknown as AwsRuntime;
    const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'callvault' });
    let answer: unknown;
    const emitted = await printedMetrics(async () => {
      answer = await createSweepHandler(() => runtime, metrics)(
        {},
        { getRemainingTimeInMillis: () => 60_000 },
      );
      metrics.publishStoredMetrics();
    });
    const values = emitted
      .filter((line) => SWEEP_SCOPES_NOT_COVERED_METRIC in line)
      .map((line) => ({ source: line.source, value: line[SWEEP_SCOPES_NOT_COVERED_METRIC] }));
    expect(values).toContainEqual({ source: sourceId, value: 1 });
    expect(values).toContainEqual({ source: undefined, value: 1 });
    expect((answer as { partial: string[] }).partial).toEqual([`msteams/${sourceId}`]);
    expect(enqueued).toHaveLength(0);
  }, 90_000);

  it('once the policy is granted, the next sweep lists that user from where it was last covered, and only that user', async () => {
    const { teams, sourceId, users, start, ledger } = await setUp();
    const { alice, dave } = users;
    // The host's clock runs ahead between sweeps, as days pass between scheduled runs.
    let aheadMs = 0;
    const t0 = Date.now();
    const host = await start({ scheduleSweep: false, clock: { now: () => new Date(Date.now() + aheadMs) } });
    await host.sweepNow();
    await host.idle();
    const failedFirst = scopeFailuresOf((await ledger.last('sweep', sourceId))?.summary)[0];
    expect(failedFirst?.scope).toBe(`${dave.id}/onlineMeetings`);
    // Made 12 hours before the first sweep: inside its window, outside every later sweep's 24 hours.
    const twelveHoursBefore = new Date(t0 - 12 * HOUR_MS);
    const daves = teams.addRecording({
      kind: 'onlineMeetings',
      organizerId: dave.id,
      createdAt: twelveHoursBefore,
      size: 140_000,
    });
    const alices = teams.addRecording({
      kind: 'onlineMeetings',
      organizerId: alice.id,
      createdAt: twelveHoursBefore,
      size: 130_000,
    });

    aheadMs = 30 * HOUR_MS;
    await host.sweepNow();
    await host.idle();
    const second = await ledger.last('sweep', sourceId);
    expect(second?.outcome).toBe('partial');
    const kept = scopeFailuresOf(second?.summary)[0];
    expect(kept?.since).toBe(failedFirst?.since);
    expect(kept?.attempts).toBe(2);

    teams.setPolicyGranted(dave.id, true);
    aheadMs = 31 * HOUR_MS;
    const before = teams.requestLog.length;
    await host.sweepNow();
    await host.idle();

    const archived = await archivedIds(host, sourceId);
    expect(archived.get(daves.id)).toBe(teams.expectedSha256(daves.id));
    // The others kept their normal window: what lies outside it is a backfill's job, not every sweep's.
    expect(archived.has(alices.id)).toBe(false);
    const last = await ledger.last('sweep', sourceId);
    expect(last?.outcome).toBe('ok');
    expect(scopeFailuresOf(last?.summary)).toEqual([]);
    const wide = teams.requestLog
      .slice(before)
      .filter(
        (entry) =>
          entry.route === 'list' && decodeURIComponent(entry.path).includes(failedFirst?.since ?? '-'),
      );
    expect(wide.length).toBeGreaterThanOrEqual(1);
    for (const entry of wide) expect(entry.path).toContain(`/users/${dave.id}/onlineMeetings/`);
  }, 90_000);

  it('a configured user deleted from the tenant (404) is reported; the others are swept', async () => {
    const { teams, sourceId, config, users, start, ledger } = await setUp();
    const source = config.sources[0] as { users: string[] };
    source.users = [...source.users, 'erin@contoso.example'];
    const { alice, bob, carol, dave } = users;
    const recordings = recordingsOf(teams, [alice, bob, carol, dave], 5);
    const host = await start({ scheduleSweep: false });
    await host.sweepNow();
    await host.idle();

    const archived = await archivedIds(host, sourceId);
    const expected = recordings.filter(
      (recording) => !(recording.organizerId === dave.id && recording.kind === 'onlineMeetings'),
    );
    expect([...archived.keys()].sort()).toEqual(expected.map((recording) => recording.id).sort());
    const failures = scopeFailuresOf((await ledger.last('sweep', sourceId))?.summary);
    expect(failures.map((failure) => failure.label).sort()).toEqual([
      'dave@contoso.example meeting recordings',
      'erin@contoso.example ad hoc call recordings',
      'erin@contoso.example meeting recordings',
    ]);
    expect(failures.find((failure) => failure.subject === 'erin@contoso.example')?.reason).toContain(
      'does not exist in the tenant',
    );
  }, 90_000);

  it('metered meeting-recording content refused (402): a named admin error, jobs wait, status says so, archived once billing is linked', async () => {
    const { teams, sourceId, config, users, start, ledger } = await setUp();
    const { alice } = users;
    teams.setMeteredBilling('unlinked');
    const call = teams.addRecording({
      kind: 'adhocCalls',
      organizerId: alice.id,
      createdAt: new Date(Date.now() - 2 * HOUR_MS),
      size: 110_000,
    });
    const meeting = teams.addRecording({
      kind: 'onlineMeetings',
      organizerId: alice.id,
      createdAt: new Date(Date.now() - HOUR_MS),
      size: 120_000,
    });
    const host = await start({ scheduleSweep: false });
    await host.sweepNow();
    // Refused three times at least: retried, not dead-lettered.
    await waitFor(
      () => teams.requestLog.filter((entry) => entry.route === 'content' && entry.status === 402).length >= 3,
    );

    const admin = await ledger.last('admin', sourceId);
    expect(admin?.summary.adminError).toBe('TEAMS_METERED_API_BILLING');
    expect(admin?.summary.code).toBe('BILLING_REQUIRED');
    expect(String(admin?.summary.reason)).toContain('Microsoft.GraphServices/accounts');
    expect(host.queue.stats().deadLettered).toBe(0);
    const text = formatStatus(await collectStatus(localStatusDependencies({ config, days: 1 })));
    expect(text).toMatch(
      /! TEAMS_METERED_API_BILLING \(last seen \S+; jobs wait and retry until it is fixed\)/,
    );
    // Ad hoc call content is not metered: archived meanwhile.
    expect((await archivedIds(host, sourceId)).get(call.id)).toBe(teams.expectedSha256(call.id));

    teams.setMeteredBilling('linked');
    await host.idle();

    const archived = await archivedIds(host, sourceId);
    expect(archived.get(meeting.id)).toBe(teams.expectedSha256(meeting.id));
    expect(host.queue.stats().deadLettered).toBe(0);
  }, 90_000);
});
