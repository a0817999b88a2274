/**
 * Teams recordings fault scenarios on the local pipeline (folder store, in-process queue, webhook server)
 * with the Teams sandbox as the platform. After each, the promise: every recording archived exactly once,
 * byte for byte, nothing dead-lettered unless a human must act, and nothing ever deleted at Teams (Graph
 * offers no delete; the sandbox has none to count).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config';
import { silentLog } from '../../functions/core/ports';
import { consoleLog } from '../../functions/local/console-log';
import { type LocalHost, startLocalHost } from '../../functions/local/local-host';
import {
  startTeamsSandbox,
  TEAMS_RESOURCE_SPELLINGS,
  type TeamsSandbox,
  type TeamsSandboxRecording,
  type TeamsSandboxUser,
} from '../../sandbox/providers/teams-recordings-sandbox';

const SECRET = 'teams-faults-client-state-0123456789';
const HOUR_MS = 3_600_000;
/** Each scenario has its own source id, so the process's shared token state never carries over. */
let scenario = 0;
let SOURCE_ID = 'teams-faults-0';

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

describe('Teams recordings faults', () => {
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
    SOURCE_ID = `teams-faults-${scenario}`;
    const teams = await startTeamsSandbox();
    sandbox = teams;
    const alice = teams.addUser({ userPrincipalName: 'alice@contoso.example' });
    const root = await mkdtemp(join(tmpdir(), 'callvault-teams-faults-'));
    dir = root;
    const port = await freePort();
    const start = async (hostOptions: { scheduleSweep?: boolean } = {}) => {
      const host = await startLocalHost({
        config: parseConfig({
          sources: [
            {
              provider: 'msteams',
              id: SOURCE_ID,
              tenantId: teams.tenantId,
              clientId: teams.clientId,
              clientSecret: teams.clientSecret,
              webhookSecret: SECRET,
              loginUrl: teams.url,
              graphUrl: teams.url,
              users: [alice.id],
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
        }),
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
    return { teams, alice, start };
  }

  /** The promise, for the recordings Teams held. */
  async function assertArchivedOnce(host: LocalHost, recordings: readonly TeamsSandboxRecording[]) {
    const teams = sandbox as TeamsSandbox;
    const keys: string[] = [];
    for await (const key of host.store.listKeys?.(`recordings/msteams/${SOURCE_ID}/`) ?? []) keys.push(key);
    // One object and one sidecar per recording, nothing else.
    expect(keys.filter((key) => key.endsWith('.mp4'))).toHaveLength(recordings.length);
    expect(keys).toHaveLength(2 * recordings.length);
    const archived = new Map<string, string>();
    for (const key of keys.filter((k) => k.endsWith('.mp4'))) {
      const sidecar = await host.store.readSidecar(key);
      archived.set(String(sidecar?.recordingId), String(sidecar?.sha256));
    }
    for (const recording of recordings) {
      expect(archived.get(recording.id), recording.id).toBe(teams.expectedSha256(recording.id));
    }
    expect(host.queue.stats().deadLettered).toBe(0);
  }

  const recordingsOf = (teams: TeamsSandbox, alice: TeamsSandboxUser, count: number, ageHours = 10) =>
    Array.from({ length: count }, (_, i) =>
      teams.addRecording({
        kind: i % 2 === 0 ? 'adhocCalls' : 'onlineMeetings',
        organizerId: alice.id,
        createdAt: new Date(Date.now() - (ageHours - i * 0.5) * HOUR_MS),
        size: 150_000 + i * 10_000,
      }),
    );

  it('Graph throttling storm (429 and 503 with Retry-After) and cut downloads: everything archived once', async () => {
    const { teams, alice, start } = await setUp();
    const recordings = recordingsOf(teams, alice, 6);
    teams.injectFault({ kind: 'throttle', retryAfterSeconds: 1 }, { routes: ['list', 'metadata'], times: 3 });
    teams.injectFault(
      { kind: 'throttle', status: 503, retryAfterSeconds: 1 },
      { routes: 'content', times: 2 },
    );
    teams.injectFault({ kind: 'reset-mid-body' }, { routes: 'download', times: 2 });

    const host = await start();
    await host.idle();
    // A sweep the storm cut short is made good by the next one, as on the schedule.
    if (host.progress().archived < recordings.length) {
      await host.sweepNow();
      await host.idle();
    }

    expect(teams.counters.throttled).toBeGreaterThanOrEqual(5);
    await assertArchivedOnce(host, recordings);
  }, 60_000);

  it('every resource spelling Graph may send is archived from its notification alone, none dropped', async () => {
    // Prepare: the scheduled sweep is off and the start-up sweep finds nothing, so only the
    // notifications (or the sweeps they ask for) can archive what follows.
    const { teams, alice, start } = await setUp();
    const host = await start({ scheduleSweep: false });
    await host.idle();
    const log: { spelling: string; status: number | undefined }[] = [];
    const recordings: TeamsSandboxRecording[] = [];

    // Act: one new recording of each kind per spelling, announced in that spelling.
    for (const [index, spelling] of TEAMS_RESOURCE_SPELLINGS.entries()) {
      for (const kind of ['adhocCalls', 'onlineMeetings'] as const) {
        const recording = teams.addRecording({
          kind,
          organizerId: alice.id,
          createdAt: new Date(Date.now() - (30 + index) * 60_000),
          size: 120_000 + index * 1_000,
        });
        recordings.push(recording);
        for (const delivery of await teams.notifyRecording(recording.id, { spelling })) {
          log.push({ spelling, status: delivery.status });
        }
        await host.idle();
        expect(host.progress().archived, `${spelling} ${kind}`).toBe(recordings.length);
      }
    }

    // Assess: every delivery accepted, every recording archived once, byte for byte.
    expect(log).toHaveLength(2 * TEAMS_RESOURCE_SPELLINGS.length);
    expect(log.every((entry) => entry.status === 202)).toBe(true);
    await assertArchivedOnce(host, recordings);
  }, 90_000);

  it('an authenticated notification callvault cannot read leads to a sweep that archives the recording', async () => {
    // Prepare
    const { teams, alice, start } = await setUp();
    const host = await start({ scheduleSweep: false });
    await host.idle();
    const sweepsBefore = teams.counters.listRequests;
    const unread = teams.addRecording({
      kind: 'onlineMeetings',
      organizerId: alice.id,
      createdAt: new Date(Date.now() - 20 * 60_000),
      size: 180_000,
    });
    expect(teams.resourceOf(unread.id, 'unreadable').resource).not.toMatch(/users/i);

    // Act: answered at once; the sweep runs after the answer.
    const deliveries = await teams.notifyRecording(unread.id, { spelling: 'unreadable' });
    await host.idle();

    // Assess
    expect(deliveries.map((delivery) => delivery.status)).toEqual([202]);
    expect(teams.counters.listRequests).toBeGreaterThan(sweepsBefore);
    await assertArchivedOnce(host, [unread]);
  }, 60_000);

  it('content still processing after the notification: retried as not ready, archived once ready', async () => {
    const { teams, alice, start } = await setUp();
    const host = await start({ scheduleSweep: false });
    await host.idle();
    const fresh = teams.addRecording({
      kind: 'onlineMeetings',
      organizerId: alice.id,
      createdAt: new Date(Date.now() - 60_000),
      size: 200_000,
      ready: false,
    });

    const deliveries = await teams.notifyRecording(fresh.id);
    await waitFor(() => teams.counters.contentRequests >= 2);
    teams.setReady(fresh.id, true);
    await host.idle();

    expect(deliveries.map((delivery) => delivery.status)).toEqual([202]);
    await assertArchivedOnce(host, [fresh]);
  }, 60_000);

  it('subscriptions expired while callvault was down: recreated at start-up, and the sweep archives what they missed', async () => {
    const { teams, alice, start } = await setUp();
    const first = await start({ scheduleSweep: false });
    await first.idle();
    const before = teams.subscriptions().map((subscription) => subscription.id);
    await first.stop();
    hosts.splice(hosts.indexOf(first), 1);
    // Down past the 3-day lifetime: Graph dropped the subscriptions; recordings were made meanwhile.
    for (const subscription of teams.subscriptions()) {
      teams.sendLifecycleEvent(subscription.id, 'subscriptionRemoved').catch(() => {});
    }
    await waitFor(() => teams.subscriptions().length === 0);
    const meanwhile = recordingsOf(teams, alice, 3, 5);

    const second = await start();
    await second.idle();

    expect(before).toHaveLength(2);
    const after = teams.subscriptions();
    expect(after).toHaveLength(2);
    expect(after.some((subscription) => before.includes(subscription.id))).toBe(false);
    await assertArchivedOnce(second, meanwhile);
  }, 60_000);

  it('both subscriptions removed at once: each recreated exactly once, the gap swept', async () => {
    const { teams, alice, start } = await setUp();
    const host = await start({ scheduleSweep: false });
    await host.idle();
    const before = teams.subscriptions();
    const unannounced = recordingsOf(teams, alice, 2, 3);

    const deliveries = await Promise.all(
      before.map((subscription) => teams.sendLifecycleEvent(subscription.id, 'subscriptionRemoved')),
    );
    await waitFor(() => host.progress().archived === unannounced.length);
    await host.idle();

    expect(deliveries.map((delivery) => delivery.status)).toEqual([202, 202]);
    const after = teams.subscriptions();
    expect(after.map((subscription) => subscription.resource).sort()).toEqual(
      before.map((subscription) => subscription.resource).sort(),
    );
    expect(after.some((subscription) => before.some((gone) => gone.id === subscription.id))).toBe(false);
    await assertArchivedOnce(host, unannounced);
  }, 60_000);

  it('a missed-notifications event sweeps at once, without waiting for the schedule', async () => {
    const { teams, alice, start } = await setUp();
    const host = await start({ scheduleSweep: false });
    await host.idle();
    const unannounced = recordingsOf(teams, alice, 2, 2);
    const [subscription] = teams.subscriptions();
    if (!subscription) throw new Error('no subscription');

    const delivery = await teams.sendLifecycleEvent(subscription.id, 'missed');
    await waitFor(() => host.progress().archived === unannounced.length);
    await host.idle();

    expect(delivery.status).toBe(202);
    expect(teams.subscriptions().map((s) => s.id)).toContain(subscription.id);
    await assertArchivedOnce(host, unannounced);
  }, 60_000);
});
