import { afterEach, describe, expect, it } from 'vitest';
import {
  ensureSubscriptionsForSource,
  type SubscriptionRecord,
  type SubscriptionRecords,
} from '../../../../functions/core/ensure-subscriptions-for-source';
import type { Clock } from '../../../../functions/core/ports';
import {
  MSTEAMS_RENEW_BEFORE_MS,
  teamsRecordingsSubscriptionFilters,
} from '../../../../functions/providers/teams-recordings/teams-recordings-subscriptions';
import { startHarness, type TeamsHarness, WEBHOOK_SECRET } from './teams-recordings-fixture';

function memoryRecords(): SubscriptionRecords {
  const saved = new Map<string, SubscriptionRecord[]>();
  return {
    load: async (sourceId) => saved.get(sourceId) ?? [],
    save: async (sourceId, records) => void saved.set(sourceId, records),
  };
}

/** A clock that starts now and moves only when told (token, subscriptions and sandbox share it). */
function steppingClock(): Clock & { advance(ms: number): void } {
  let now = Date.now();
  return {
    now: () => new Date(now),
    advance: (ms) => {
      now += ms;
    },
  };
}

describe('Teams subscriptions (SubscriptionApi for ensureSubscriptionsForSource)', () => {
  let harness: TeamsHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  function run(h: TeamsHarness, records: SubscriptionRecords, clock: Clock) {
    return ensureSubscriptionsForSource(
      {
        sourceId: h.config.id,
        address: h.webhookUrl,
        filters: teamsRecordingsSubscriptionFilters(h.config.recordings),
        secret: WEBHOOK_SECRET,
        renewBeforeMs: MSTEAMS_RENEW_BEFORE_MS,
      },
      { api: h.source.subscriptionApi(), records, clock, log: h.log },
    );
  }

  it('keeps fresh subscriptions, renews with PATCH before expiry, and never duplicates', async () => {
    // Prepare
    const clock = steppingClock();
    harness = await startHarness({ clock, sandbox: { clock } });
    const records = memoryRecords();
    const created = await run(harness, records, clock);

    // Act
    const soon = await run(harness, records, clock);
    clock.advance(48 * 3_600_000);
    const later = await run(harness, records, clock);

    // Assess
    expect(created.created).toHaveLength(2);
    expect(soon).toMatchObject({ kept: created.created, created: [], renewed: [] });
    expect(later).toMatchObject({ created: [], deleted: [] });
    expect(later.renewed.sort()).toEqual([...created.created].sort());
    const subscriptions = harness.sandbox.subscriptions();
    expect(subscriptions).toHaveLength(2);
    for (const subscription of subscriptions) {
      expect(Date.parse(subscription.expirationDateTime) - clock.now().getTime()).toBeGreaterThan(
        71 * 3_600_000,
      );
      expect(subscription.reauthorizations).toBe(1);
    }
    const patches = harness.sandbox.requestLog.filter(
      (entry) => entry.route === 'subscriptions' && entry.method === 'PATCH',
    );
    expect(patches.map((entry) => entry.status)).toEqual([200, 200]);
  });

  it('recreates a subscription Graph removed (subscriptionRemoved) on the next run', async () => {
    // Prepare
    const clock = steppingClock();
    harness = await startHarness({ clock, sandbox: { clock } });
    const records = memoryRecords();
    const first = await run(harness, records, clock);
    const removed = first.active.find((entry) => entry.filter.includes('onlineMeetings'));
    const delivery = await harness.sandbox.sendLifecycleEvent(removed?.id ?? '', 'subscriptionRemoved');

    // Act
    const second = await run(harness, records, clock);

    // Assess
    expect(delivery.status).toBe(202);
    expect(second.created).toHaveLength(1);
    expect(second.active.map((entry) => entry.filter).sort()).toEqual([
      'communications/adhocCalls/getAllRecordings',
      'communications/onlineMeetings/getAllRecordings',
    ]);
    expect(harness.sandbox.subscriptions()).toHaveLength(2);
  });

  it('reauthorizes a subscription after reauthorizationRequired, and reports one Graph no longer has', async () => {
    // Prepare
    harness = await startHarness();
    const records = memoryRecords();
    const report = await run(harness, records, { now: () => new Date() });
    const id = report.active[0]?.id ?? '';
    const api = harness.source.subscriptionApi();

    // Act
    const outcome = await api.reauthorize(id);
    const missing = await api.reauthorize('00000000-0000-4000-8000-000000000000');

    // Assess
    expect(outcome).toBe('reauthorized');
    expect(missing).toBe('gone');
    expect(
      harness.sandbox.subscriptions().find((subscription) => subscription.id === id)?.reauthorizations,
    ).toBe(1);
  });

  it('subscribes only to the configured kinds', async () => {
    // Prepare
    harness = await startHarness({ config: { recordings: ['onlineMeetings'] } });

    // Act
    const report = await run(harness, memoryRecords(), { now: () => new Date() });

    // Assess
    expect(report.active.map((entry) => entry.filter)).toEqual([
      'communications/onlineMeetings/getAllRecordings',
    ]);
  });

  it('creates each resource on its documented API version: meetings on /v1.0, ad hoc calls on /beta', async () => {
    // Prepare
    harness = await startHarness();

    // Act
    const report = await run(harness, memoryRecords(), { now: () => new Date() });

    // Assess
    expect(report.created).toHaveLength(2);
    const versions = Object.fromEntries(
      harness.sandbox.subscriptions().map((subscription) => [subscription.resource, subscription.apiVersion]),
    );
    expect(versions).toEqual({
      'communications/onlineMeetings/getAllRecordings': 'v1.0',
      'communications/adhocCalls/getAllRecordings': 'beta',
    });
    expect(harness.sandbox.counters.validations).toBe(4);
  });

  it('falls back to the other API version when Graph refuses the resource on the first', async () => {
    // Prepare: this Graph offers ad hoc calls on /v1.0 only, and meetings on /beta only.
    harness = await startHarness({
      sandbox: { subscriptionVersions: { adhocCalls: ['v1.0'], onlineMeetings: ['beta'] } },
    });

    // Act
    const report = await run(harness, memoryRecords(), { now: () => new Date() });

    // Assess
    expect(report.active).toHaveLength(2);
    const versions = Object.fromEntries(
      harness.sandbox.subscriptions().map((subscription) => [subscription.resource, subscription.apiVersion]),
    );
    expect(versions).toEqual({
      'communications/onlineMeetings/getAllRecordings': 'beta',
      'communications/adhocCalls/getAllRecordings': 'v1.0',
    });
    const posts = harness.sandbox.requestLog.filter(
      (entry) => entry.method === 'POST' && entry.path.endsWith('/subscriptions'),
    );
    expect(posts.map((entry) => `${entry.path} ${entry.status}`).sort()).toEqual([
      '/beta/subscriptions 201',
      '/beta/subscriptions 400',
      '/v1.0/subscriptions 201',
      '/v1.0/subscriptions 400',
    ]);
  });

  it('names both refusals when neither API version offers the resource', async () => {
    // Prepare
    harness = await startHarness({
      config: { recordings: ['adhocCalls'] },
      sandbox: { subscriptionVersions: { adhocCalls: [] } },
    });

    // Act
    const outcome = run(harness, memoryRecords(), { now: () => new Date() });

    // Assess
    await expect(outcome).rejects.toThrow(/beta: ExtensionError.*; v1\.0: ExtensionError/);
  });
});
