import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../../functions/adapters/fs-archive-store';
import {
  ensureSubscriptionsForSource,
  type SubscriptionRecord,
} from '../../../../functions/core/ensure-subscriptions-for-source';
import { sweepSource } from '../../../../functions/core/sweep-source';
import { actOnTeamsRecordingsLifecycle } from '../../../../functions/providers/teams-recordings/teams-recordings-lifecycle-follow-up';
import {
  MSTEAMS_RENEW_BEFORE_MS,
  teamsRecordingsSubscriptionFilters,
} from '../../../../functions/providers/teams-recordings/teams-recordings-subscriptions';
import {
  capturingQueue,
  DAY,
  DAY_WINDOW,
  startHarness,
  type TeamsHarness,
  WEBHOOK_SECRET,
} from './teams-recordings-fixture';

describe('actOnTeamsRecordingsLifecycle', () => {
  let harness: TeamsHarness | undefined;
  let root: string | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
    if (root) await rm(root, { recursive: true, force: true });
    root = undefined;
  });

  it('reauthorizes, recreates the removed subscription once, then sweeps once, for lifecycle events arriving over HTTP', async () => {
    // Prepare
    harness = await startHarness();
    const h = harness;
    let saved: SubscriptionRecord[] = [];
    const records = {
      load: async () => saved,
      save: async (_id: string, next: SubscriptionRecord[]) => {
        saved = next;
      },
    };
    const calls: string[] = [];
    const queue = capturingQueue();
    root = await mkdtemp(join(tmpdir(), 'callvault-msteams-'));
    const store = new FsArchiveStore({ root });
    const handlers = {
      ensureSubscriptionsForSource: async () => {
        calls.push('ensure');
        return ensureSubscriptionsForSource(
          {
            sourceId: h.config.id,
            address: h.webhookUrl,
            filters: teamsRecordingsSubscriptionFilters(h.config.recordings),
            secret: WEBHOOK_SECRET,
            renewBeforeMs: MSTEAMS_RENEW_BEFORE_MS,
          },
          { api: h.source.subscriptionApi(), records, clock: { now: () => new Date() }, log: h.log },
        );
      },
      sweepNow: async () => {
        calls.push('sweep');
        return sweepSource(h.source, DAY_WINDOW, { store, queue, log: h.log });
      },
    };
    await handlers.ensureSubscriptionsForSource();
    calls.length = 0;
    const [adhoc, meetings] = harness.sandbox
      .subscriptions()
      .sort((a, b) => a.resource.localeCompare(b.resource));
    harness.sandbox.addRecording({ organizerId: harness.alice.id, createdAt: DAY });
    // Graph delivers the events to our webhook; the outcome is what the host would pass on.
    await harness.sandbox.sendLifecycleEvent(meetings?.id ?? '', 'subscriptionRemoved');
    const outcome = await harness.source.handleWebhook({
      method: 'POST',
      query: {},
      headers: {},
      body: JSON.stringify({
        value: [
          {
            subscriptionId: adhoc?.id,
            clientState: WEBHOOK_SECRET,
            lifecycleEvent: 'reauthorizationRequired',
          },
          {
            subscriptionId: meetings?.id,
            clientState: WEBHOOK_SECRET,
            lifecycleEvent: 'subscriptionRemoved',
          },
          { subscriptionId: adhoc?.id, clientState: WEBHOOK_SECRET, lifecycleEvent: 'missed' },
        ],
      }),
    });

    // Act
    const result = await actOnTeamsRecordingsLifecycle(outcome.lifecycle, {
      sourceId: harness.config.id,
      api: harness.source.subscriptionApi(),
      handlers,
      log: harness.log,
    });

    // Assess
    expect(result).toEqual({ reauthorized: [adhoc?.id], ensured: true, swept: true });
    expect(calls).toEqual(['ensure', 'sweep']);
    expect(harness.sandbox.subscriptions()).toHaveLength(2);
    expect(harness.sandbox.subscriptions().find((s) => s.id === adhoc?.id)?.reauthorizations).toBe(1);
    expect(queue.jobs).toHaveLength(1);
  });

  it('only sweeps for missed notifications', async () => {
    // Prepare
    harness = await startHarness();
    const calls: string[] = [];

    // Act
    const result = await actOnTeamsRecordingsLifecycle(
      [{ event: 'missed', subscriptionId: 'sub-1', action: 'sweep-now' }],
      {
        sourceId: harness.config.id,
        api: harness.source.subscriptionApi(),
        handlers: {
          ensureSubscriptionsForSource: async () => calls.push('ensure'),
          sweepNow: async () => calls.push('sweep'),
        },
        log: harness.log,
      },
    );

    // Assess
    expect(result).toEqual({ reauthorized: [], ensured: false, swept: true });
    expect(calls).toEqual(['sweep']);
  });
});
