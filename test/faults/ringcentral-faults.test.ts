/**
 * RingCentral fault scenarios on the local pipeline (folder store, in-process queue, webhook server) with
 * the RingCentral sandbox as the platform. After each, the same promise as for Telphin: every recording
 * archived exactly once, byte for byte, nothing dead-lettered, nothing deleted at the source, no call-log
 * row ever deleted. Clocks are pinned or short so the scenarios take seconds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config';
import { recordingKey } from '../../functions/core/keys';
import { type Clock, type Log, silentLog } from '../../functions/core/ports';
import { consoleLog } from '../../functions/local/console-log';
import { type LocalHost, startLocalHost } from '../../functions/local/local-host';
import {
  type RingCentralSandbox,
  type RingCentralSandboxOptions,
  type SandboxCall,
  startRingCentralSandbox,
} from '../../sandbox/providers/ringcentral-sandbox';

const SECRET = 'rc-faults-verification-token-0123';
/**
 * Sessions and rate gates live in the process's shared state, keyed by source: each scenario gets its
 * own source id so that one scenario's shifted clock or closed gate cannot reach the next.
 */
let scenario = 0;
let SOURCE_ID = 'rc-faults-0';

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

/** Real time plus whatever the test adds: waits still end, and a minute passes in an instant. */
function shiftableClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return {
    now: () => new Date(Date.now() + offset),
    advance: (ms) => {
      offset += ms;
    },
  };
}

describe('RingCentral faults', () => {
  let sandbox: RingCentralSandbox | undefined;
  let dir: string | undefined;
  const hosts: LocalHost[] = [];

  afterEach(async () => {
    for (const host of hosts.splice(0)) await host.stop();
    await sandbox?.close();
    sandbox = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function setUp(options: RingCentralSandboxOptions = {}) {
    scenario += 1;
    SOURCE_ID = `rc-faults-${scenario}`;
    sandbox = await startRingCentralSandbox({
      rateLimits: { heavy: { limit: 600, windowSeconds: 60 } },
      ...options,
    });
    dir = await mkdtemp(join(tmpdir(), 'callvault-rc-faults-'));
    const port = await freePort();
    const rc = sandbox;
    const root = dir;
    const config = (overrides: Record<string, unknown> = {}) =>
      parseConfig({
        sources: [
          {
            provider: 'ringcentral',
            id: SOURCE_ID,
            serverUrl: rc.url,
            mediaUrl: rc.mediaUrl,
            clientId: rc.clientId,
            clientSecret: rc.clientSecret,
            jwt: rc.jwt,
            webhookSecret: SECRET,
            rateLimits: { heavyPerMinute: 600 },
          },
        ],
        local: {
          port,
          publicUrl: `http://127.0.0.1:${port}`,
          archiveDir: join(root, 'archive'),
          stateDir: join(root, 'state'),
        },
        worker: { concurrency: 2, maxReceiveCount: 20 },
        ...overrides,
      });
    const start = async (
      overrides: Record<string, unknown> = {},
      hostOptions: { clock?: Clock; scheduleSweep?: boolean; log?: Log } = {},
    ) => {
      const host = await startLocalHost({
        config: config(overrides),
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
    return { sandbox: rc, port, start };
  }

  /** The promise, for the calls the platform held. */
  async function assertArchivedOnce(host: LocalHost, calls: readonly SandboxCall[]) {
    const rc = sandbox as RingCentralSandbox;
    const recorded = calls.filter((call) => call.recording);
    const keys: string[] = [];
    for await (const key of host.store.listKeys?.(`recordings/ringcentral/${SOURCE_ID}/`) ?? [])
      keys.push(key);
    const ids = new Set(recorded.map((call) => call.recording?.id));
    // One object and one sidecar per recording, nothing else.
    expect(keys.filter((key) => !key.endsWith('.json'))).toHaveLength(ids.size);
    expect(keys).toHaveLength(2 * ids.size);
    for (const call of recorded) {
      const key = recordingKey({
        provider: 'ringcentral',
        sourceId: SOURCE_ID,
        recordingId: call.recording?.id ?? '',
        startedAt: call.startedAt,
        fileExtension: call.recording?.format ?? 'mp3',
      });
      const sidecar = await host.store.readSidecar(key);
      expect(sidecar?.sha256, key).toBe(rc.expectedSha256(call.recording?.id ?? ''));
    }
    expect(host.queue.stats().deadLettered).toBe(0);
    expect(rc.deletedRecordingIds()).toEqual([]);
    expect(rc.counters.callLogDeletes).toBe(0);
  }

  it('Heavy 429 storm: no Heavy request before Retry-After, and everything archived', async () => {
    // Prepare: one worker, so a request in flight cannot straddle a 429.
    const { sandbox: rc, start } = await setUp();
    const calls = rc.generateCalls({
      count: 5,
      from: new Date(Date.now() - 6 * 3_600_000),
      to: new Date(Date.now() - 600_000),
    });
    const storm = rc.injectFault(
      { kind: 'rate-limit', retryAfterSeconds: 1 },
      // Downloads: a throttled sweep listing fails the run, and the next sweep lists again.
      { routes: 'content', times: 4 },
    );

    // Act
    const host = await start({ worker: { concurrency: 1, maxReceiveCount: 20 } });
    await host.idle();

    // Assess: after every 429, the next Heavy request waited the whole Retry-After.
    const heavy = rc.requestLog.filter((entry) => entry.group === 'heavy');
    const throttled = heavy.filter((entry) => entry.status === 429);
    expect(storm.hits).toBe(4);
    expect(throttled.length).toBe(4);
    for (const refusal of throttled) {
      const next = heavy.find((entry) => entry.atMs > refusal.atMs);
      if (next) expect(next.atMs - refusal.atMs).toBeGreaterThanOrEqual(1000);
    }
    await assertArchivedOnce(host, calls);
  }, 60_000);

  it('content not ready for a minute after hang-up: retried as not ready, archived once ready, never gone', async () => {
    // Prepare: the sandbox and the host share a clock the test can move a minute ahead.
    const clock = shiftableClock();
    const { sandbox: rc, start } = await setUp({ clock, recordingReadyDelayMs: 60_000 });
    const host = await start({}, { clock });
    await host.idle();

    // Act: the call ends; its webhook arrives at once, but the content is not there for a minute.
    const call = rc.startCall({ kind: 'outbound', durationSeconds: 50 });
    const deliveries = await rc.hangUp(call.telephonySessionId);
    await waitFor(() => host.queue.stats().retried >= 3);
    const archivedBeforeReady = host.progress().archived;
    clock.advance(61_000);
    await host.idle();

    // Assess
    expect(deliveries.map((delivery) => delivery.status)).toEqual([200]);
    expect(archivedBeforeReady).toBe(0);
    expect(
      rc.requestLog.filter((entry) => entry.route === 'content' && entry.status === 404).length,
    ).toBeGreaterThanOrEqual(2);
    await assertArchivedOnce(host, [call]);
  }, 60_000);

  it('blacklisting: deliveries fail while we are down, the subscription is blacklisted, recreated at start-up, and the sweep archives what the lost webhooks announced', async () => {
    // Prepare: subscribed, then down.
    const { sandbox: rc, start } = await setUp();
    const first = await start();
    await first.idle();
    const [original] = rc.subscriptions();
    await first.stop();
    hosts.splice(hosts.indexOf(first), 1);

    // Act: three calls end while nobody listens; then callvault starts again.
    const missed: SandboxCall[] = [];
    for (let i = 0; i < 3; i += 1) {
      const call = rc.startCall({ kind: 'inbound', durationSeconds: 40 });
      await rc.hangUp(call.telephonySessionId);
      missed.push(call);
    }
    const statusWhileDown = rc.subscriptions().map((subscription) => subscription.status);
    const second = await start();
    await second.idle();
    const later = rc.startCall({ kind: 'outbound', durationSeconds: 40 });
    const laterDeliveries = await rc.hangUp(later.telephonySessionId);
    await second.idle();

    // Assess
    expect(statusWhileDown).toEqual(['Blacklisted']);
    const now = rc.subscriptions();
    expect(now).toHaveLength(1);
    expect(now[0]?.status).toBe('Active');
    expect(now[0]?.id).not.toBe(original?.id);
    expect(laterDeliveries.map((delivery) => delivery.status)).toEqual([200]);
    await assertArchivedOnce(second, [...missed, later]);
  }, 60_000);

  it('deliveries carrying the secret in Validation-Token (the current "Receiving webhooks" page) are archived, not taken for handshakes', async () => {
    // Prepare: no sweep after start-up, so only the webhook can archive the call that ends later.
    const { sandbox: rc, start } = await setUp({ deliveryTokenHeader: 'Validation-Token' });
    const host = await start({}, { scheduleSweep: false });
    await host.idle();

    // Act
    const call = rc.startCall({ kind: 'outbound', durationSeconds: 40 });
    const deliveries = await rc.hangUp(call.telephonySessionId);
    await host.idle();

    // Assess: the handshake still passed, and the delivery became a job.
    expect(rc.counters.handshakes).toBe(1);
    expect(deliveries.map((delivery) => delivery.status)).toEqual([200]);
    expect(host.progress().archived).toBe(1);
    await assertArchivedOnce(host, [call]);
  }, 60_000);

  it('an app without CallControl: named at start-up with its errorCode, the subscription refused and recorded, the sweep archives everything', async () => {
    // Prepare
    const { sandbox: rc, start } = await setUp({
      appPermissions: ['ReadCallLog', 'ReadCallRecording', 'ReadAccounts', 'SubscriptionWebhook'],
    });
    const calls = rc.generateCalls({
      count: 3,
      from: new Date(Date.now() - 6 * 3_600_000),
      to: new Date(Date.now() - 600_000),
    });
    const lines: { level: string; message: string; attributes?: Record<string, unknown> }[] = [];
    const at = (level: string) => (message: string, attributes?: Record<string, unknown>) =>
      void lines.push({ level, message, attributes });
    const log: Log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };

    // Act
    const host = await start({}, { log });
    await host.idle();

    // Assess
    const named = lines.filter((line) => line.attributes?.errorCode === 'RINGCENTRAL_PERMISSION_MISSING');
    expect(named.length).toBeGreaterThanOrEqual(1);
    expect(named.every((line) => line.level === 'error' && line.message.includes('CallControl'))).toBe(true);
    expect(rc.subscriptions()).toEqual([]);
    expect(rc.counters.handshakes).toBe(0);
    await assertArchivedOnce(host, calls);
  }, 60_000);

  it('token expiry mid-run: every session ended while jobs run, one new login, nothing lost', async () => {
    const { sandbox: rc, start } = await setUp();
    const calls = rc.generateCalls({
      count: 6,
      from: new Date(Date.now() - 6 * 3_600_000),
      to: new Date(Date.now() - 600_000),
    });
    const host = await start({ worker: { concurrency: 1, maxReceiveCount: 20 } }, { scheduleSweep: false });

    const sweeping = host.sweepNow();
    await waitFor(() => host.progress().archived >= 2);
    rc.revokeTokens();
    await sweeping;
    await host.idle();

    expect(rc.counters.logins).toBe(2);
    expect(rc.counters.unauthorizedRequests).toBeGreaterThanOrEqual(1);
    await assertArchivedOnce(host, calls);
  }, 60_000);

  it('a recording on two legs (an internal call) is archived once, by webhook and sweep alike', async () => {
    const { sandbox: rc, start } = await setUp();
    const host = await start();
    await host.idle();

    const call = rc.startCall({ kind: 'internal', durationSeconds: 40 });
    await rc.hangUp(call.telephonySessionId);
    await host.idle();
    await host.sweepNow();
    await host.idle();

    const downloads = rc.requestLog.filter(
      (entry) => entry.route === 'content' && entry.method === 'GET' && entry.status === 200,
    );
    expect(downloads).toHaveLength(1);
    await assertArchivedOnce(host, [call]);
  }, 60_000);

  it('a WAV account the config says nothing about: a cut download and a webhook, every copy .wav, once', async () => {
    // Prepare: the company records WAV; recordingFormat is left at its default (mp3).
    const { sandbox: rc, start } = await setUp({ recordingFormat: 'wav' });
    const history = rc.generateCalls({
      count: 3,
      from: new Date(Date.now() - 6 * 3_600_000),
      to: new Date(Date.now() - 600_000),
    });
    const cut = rc.injectFault(
      { kind: 'reset-mid-body', afterBytes: 20_000 },
      { routes: 'content', times: 1 },
    );

    // Act: the sweep archives the history (one download cut and retried), then a call ends by webhook.
    const host = await start();
    await host.idle();
    const live = rc.startCall({ kind: 'inbound', durationSeconds: 30 });
    await rc.hangUp(live.telephonySessionId);
    await host.idle();

    // Assess
    expect(cut.hits).toBe(1);
    await assertArchivedOnce(host, [...history, live]);
    const keys: string[] = [];
    for await (const key of host.store.listKeys(`recordings/ringcentral/${SOURCE_ID}/`)) keys.push(key);
    expect(keys.filter((key) => !key.endsWith('.json')).every((key) => key.endsWith('.wav'))).toBe(true);
    for (const key of keys.filter((name) => !name.endsWith('.json')))
      expect((await host.store.readSidecar(key))?.contentType, key).toBe('audio/wav');
  }, 60_000);

  it('fuzzed webhook bodies and headers: never a 5xx, never a job; 4xx without the token or with a body that is not JSON', async () => {
    const { port, start } = await setUp();
    const host = await start({}, { scheduleSweep: false });
    const url = `http://127.0.0.1:${port}/webhooks/ringcentral/${SOURCE_ID}`;
    const headerName = fc
      .stringMatching(/^[a-z][a-z0-9-]{0,20}$/)
      .filter((name) => !['content-length', 'host', 'transfer-encoding', 'connection'].includes(name));
    const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,60}$/);

    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.constant('{"body":{"parties":"x"},"event":"/restapi/v1.0/account/~/telephony/sessions"}'),
        ),
        fc.dictionary(headerName, headerValue, { maxKeys: 4 }),
        fc.constantFrom('none', 'wrong', 'right'),
        async (body, headers, token) => {
          const sent: Record<string, string> = { 'content-type': 'application/json', ...headers };
          delete sent['verification-token'];
          delete sent['validation-token'];
          if (token === 'wrong') sent['verification-token'] = `${SECRET}x`;
          if (token === 'right') sent['verification-token'] = SECRET;
          const response = await fetch(url, { method: 'POST', headers: sent, body });
          await response.arrayBuffer();
          let json = true;
          try {
            JSON.parse(body);
          } catch {
            json = false;
          }
          expect(response.status).toBeLessThan(500);
          if (token !== 'right' || !json) {
            expect(response.status).toBeGreaterThanOrEqual(400);
          }
          const stats = host.queue.stats();
          expect(stats.pending + stats.inFlight + stats.delayed + stats.succeeded + stats.retried).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  }, 60_000);
});
