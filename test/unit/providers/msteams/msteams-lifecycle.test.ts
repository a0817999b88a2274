import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../../functions/adapters/fs-archive-store';
import { ensureSubscriptions, type SubscriptionRecord } from '../../../../functions/core/subscriptions';
import { sweepSource } from '../../../../functions/core/sweep';
import { actOnMsTeamsLifecycle } from '../../../../functions/providers/msteams/msteams-lifecycle';
import {
  MSTEAMS_RENEW_BEFORE_MS,
  msTeamsSubscriptionFilters,
} from '../../../../functions/providers/msteams/msteams-subscriptions';
import {
  capturingQueue,
  DAY,
  DAY_WINDOW,
  startHarness,
  type TeamsHarness,
  WEBHOOK_SECRET,
} from './msteams-fixture';

describe('actOnMsTeamsLifecycle', () => {
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
      ensureSubscriptions: async () => {
        calls.push('ensure');
        return ensureSubscriptions(
          {
            sourceId: h.config.id,
            address: h.webhookUrl,
            filters: msTeamsSubscriptionFilters(h.config.recordings),
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
    await handlers.ensureSubscriptions();
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
    const result = await actOnMsTeamsLifecycle(outcome.lifecycle, {
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
    const result = await actOnMsTeamsLifecycle(
      [{ event: 'missed', subscriptionId: 'sub-1', action: 'sweep-now' }],
      {
        sourceId: harness.config.id,
        api: harness.source.subscriptionApi(),
        handlers: {
          ensureSubscriptions: async () => calls.push('ensure'),
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
