import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsSubscriptionRecords } from '../../../functions/adapters/fs-subscription-records';
import {
  ensureSubscriptionsForSource,
  type RemoteSubscription,
  type SubscriptionApi,
} from '../../../functions/core/ensure-subscriptions-for-source';
import { silentLog } from '../../../functions/core/ports';

const NOW = new Date('2026-11-30T12:00:00Z');
const ADDRESS = 'https://hooks.example.com/webhooks/ringcentral/rc-main';
const FILTER = '/restapi/v1.0/account/~/telephony/sessions';
const DAY = 86_400_000;

/** A platform's subscription list in memory: a hand-written fake of the port, as style.md asks. */
class FakePlatform implements SubscriptionApi {
  subscriptions: (RemoteSubscription & { secret: string })[] = [];
  calls: string[] = [];
  private next = 1;

  async list() {
    this.calls.push('list');
    return this.subscriptions.map(({ secret: _secret, ...subscription }) => ({ ...subscription }));
  }
  async create(wanted: { address: string; filter: string; secret: string }) {
    const subscription = {
      id: `sub-${this.next++}`,
      ...wanted,
      status: 'active' as const,
      expiresAt: new Date(NOW.getTime() + 7 * DAY),
    };
    this.subscriptions.push(subscription);
    this.calls.push(`create ${subscription.id}`);
    return { ...subscription };
  }
  async renew(subscription: RemoteSubscription) {
    const stored = this.subscriptions.find((candidate) => candidate.id === subscription.id);
    if (!stored) throw new Error('404');
    stored.expiresAt = new Date(NOW.getTime() + 7 * DAY);
    this.calls.push(`renew ${subscription.id}`);
    return { ...stored };
  }
  async delete(subscription: RemoteSubscription) {
    this.subscriptions = this.subscriptions.filter((candidate) => candidate.id !== subscription.id);
    this.calls.push(`delete ${subscription.id}`);
  }
}

describe('ensureSubscriptionsForSource', () => {
  let dir: string;
  let platform: FakePlatform;
  let records: FsSubscriptionRecords;
  const clock = { now: () => NOW };
  const ensure = (secret = 'secret-one-0123456789', filters = [FILTER]) =>
    ensureSubscriptionsForSource(
      { sourceId: 'rc-main', address: ADDRESS, filters, secret },
      { api: platform, records, clock, log: silentLog },
    );

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callvault-subscriptions-'));
    platform = new FakePlatform();
    records = new FsSubscriptionRecords({ stateDir: dir });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates one subscription, then keeps it on every later run', async () => {
    const first = await ensure();
    const second = await ensure();
    const third = await ensure();

    expect(first.created).toEqual(['sub-1']);
    expect(second.kept).toEqual(['sub-1']);
    expect(third).toMatchObject({ created: [], deleted: [], renewed: [] });
    expect(platform.subscriptions).toHaveLength(1);
  });

  it('renews a subscription that expires within the renewal margin', async () => {
    await ensure();
    const stored = platform.subscriptions[0];
    if (stored) stored.expiresAt = new Date(NOW.getTime() + DAY);

    const report = await ensure();

    expect(report.renewed).toEqual(['sub-1']);
    expect(platform.subscriptions[0]?.expiresAt?.getTime()).toBe(NOW.getTime() + 7 * DAY);
  });

  it('replaces a blacklisted or expired subscription: the new one is created before the old is deleted', async () => {
    await ensure();
    const stored = platform.subscriptions[0];
    if (stored) stored.status = 'blacklisted';

    const report = await ensure();

    expect(report).toMatchObject({ created: ['sub-2'], deleted: ['sub-1'] });
    expect(platform.calls.slice(-2)).toEqual(['create sub-2', 'delete sub-1']);
    expect(platform.subscriptions.map((subscription) => subscription.status)).toEqual(['active']);
  });

  it('replaces a subscription after the webhook secret changed, since the platform never shows the old one', async () => {
    await ensure('secret-one-0123456789');

    const report = await ensure('secret-two-0123456789');

    expect(report).toMatchObject({ created: ['sub-2'], deleted: ['sub-1'] });
    expect(platform.subscriptions.map((subscription) => subscription.secret)).toEqual([
      'secret-two-0123456789',
    ]);
  });

  it('does not trust a subscription at our address that it has no record of creating', async () => {
    platform.subscriptions.push({
      id: 'foreign',
      address: ADDRESS,
      filter: FILTER,
      status: 'active',
      expiresAt: new Date(NOW.getTime() + 7 * DAY),
      secret: 'unknown',
    });

    const report = await ensure();

    expect(report).toMatchObject({ created: ['sub-1'], deleted: ['foreign'] });
  });

  it('removes our strays with other filters, and leaves other addresses alone', async () => {
    platform.subscriptions.push(
      {
        id: 'stray',
        address: ADDRESS,
        filter: '/restapi/v1.0/account/~/presence',
        status: 'active',
        secret: 'x',
      },
      {
        id: 'someone-else',
        address: 'https://other.example.com/hook',
        filter: FILTER,
        status: 'active',
        secret: 'y',
      },
    );

    const report = await ensure();

    expect(report.deleted).toEqual(['stray']);
    expect(platform.subscriptions.map((subscription) => subscription.id).sort()).toEqual([
      'someone-else',
      'sub-1',
    ]);
  });

  it('records no secret, only its fingerprint', async () => {
    await ensure('secret-one-0123456789');
    const saved = JSON.stringify(await records.load('rc-main'));
    expect(saved).not.toContain('secret-one-0123456789');
    expect(saved).toContain('sub-1');
  });
});
