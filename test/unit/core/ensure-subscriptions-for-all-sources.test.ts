import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsSubscriptionRecords } from '../../../functions/adapters/fs-subscription-records';
import { FsRunLedger } from '../../../functions/adapters/run-ledgers';
import { ensureSubscriptionsForAllSources } from '../../../functions/core/ensure-subscriptions-for-all-sources';
import type {
  RemoteSubscription,
  SubscriptionApi,
} from '../../../functions/core/ensure-subscriptions-for-source';
import { type RecordingSource, silentLog, type WebhookSubscriptionPlan } from '../../../functions/core/ports';
import { describeSubscriptions } from '../../../functions/ops/status-table';
import { fixedSourceRegistry } from '../../support/fixed-source-registry';

const NOW = new Date('2026-11-30T12:00:00Z');
const DAY = 86_400_000;

/** A platform's subscription list in memory (a hand-written fake of the port, as style.md asks). */
function fakePlatform(options: { failCreate?: boolean } = {}): SubscriptionApi {
  const subscriptions: RemoteSubscription[] = [];
  return {
    list: async () => subscriptions.map((subscription) => ({ ...subscription })),
    create: async ({ address, filter }) => {
      if (options.failCreate) throw new Error('platform answered 500');
      const created = {
        id: `sub-${subscriptions.length + 1}`,
        address,
        filter,
        status: 'active' as const,
        expiresAt: new Date(NOW.getTime() + (subscriptions.length + 2) * DAY),
      };
      subscriptions.push(created);
      return { ...created };
    },
    delete: async () => {},
  };
}

function sourceWith(api: SubscriptionApi, sourceId: string): RecordingSource {
  const plan: WebhookSubscriptionPlan = {
    api,
    filters: ['calls', 'meetings'],
    secret: 'secret-0123456789abcdef',
    address: (url) => url,
  };
  return {
    provider: 'msteams',
    sourceId,
    listRecordings: async function* () {},
    resolveHint: async () => [],
    openDownload: async () => {
      throw new Error('not used');
    },
    deleteRecording: async () => 'already-gone',
    handleWebhook: async () => ({ response: { status: 202, body: '' }, jobs: [] }),
    webhookSubscriptions: async () => plan,
  };
}

describe('ensureSubscriptionsForAllSources keeps what status shows', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callvault-manage-subscriptions-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('records each source’s active subscriptions with their expiry, and a failure with its reason', async () => {
    // Prepare
    const ledger = new FsRunLedger({ root: dir });
    const sources = fixedSourceRegistry(
      [
        { provider: 'msteams', id: 'teams' },
        { provider: 'msteams', id: 'broken' },
      ],
      ({ id }) => sourceWith(fakePlatform({ failCreate: id === 'broken' }), id),
    );

    // Act
    const result = await ensureSubscriptionsForAllSources('https://hooks.example.com', {
      sources,
      records: new FsSubscriptionRecords({ stateDir: dir }),
      clock: { now: () => NOW },
      log: silentLog,
      ledger,
    });

    // Assess
    expect(result.failed.map((failure) => failure.sourceId)).toEqual(['broken']);
    const ok = await ledger.last('subscriptions', 'teams');
    const failed = await ledger.last('subscriptions', 'broken');
    expect(ok).toMatchObject({ kind: 'subscriptions', outcome: 'ok' });
    expect(ok && describeSubscriptions(ok)).toBe(
      `2 active, next expiry ${new Date(NOW.getTime() + 2 * DAY).toISOString()}, checked ${NOW.toISOString()}`,
    );
    expect(failed && describeSubscriptions(failed)).toBe(
      `! last check failed (platform answered 500), checked ${NOW.toISOString()}`,
    );
  });
});
