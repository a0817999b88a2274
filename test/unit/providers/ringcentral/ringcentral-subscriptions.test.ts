import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsSubscriptionRecords } from '../../../../functions/adapters/fs-subscription-records';
import { ensureSubscriptionsForSource } from '../../../../functions/core/ensure-subscriptions-for-source';
import type { WebhookSubscriptionPlan } from '../../../../functions/core/ports';
import {
  normaliseEventFilter,
  parseRingCentralSubscription,
} from '../../../../functions/providers/ringcentral/ringcentral-subscriptions';
import { manualClock, type RingCentralHarness, startHarness, WEBHOOK_SECRET } from './ringcentral-fixture';

/** The adapter's own webhook handling behind a real HTTP endpoint, so the sandbox's handshake reaches it. */
async function receiver(harness: RingCentralHarness, options: { refuse?: boolean } = {}) {
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      if (options.refuse) {
        response.writeHead(500).end();
        return;
      }
      try {
        const outcome = await harness.source.handleWebhook({
          method: request.method ?? 'POST',
          query: {},
          headers: Object.fromEntries(
            Object.entries(request.headers).map(([name, value]) => [name, String(value)]),
          ),
          body: Buffer.concat(chunks).toString('utf8'),
        });
        response
          .writeHead(outcome.response.status, {
            ...outcome.response.headers,
            ...(outcome.response.contentType ? { 'content-type': outcome.response.contentType } : {}),
          })
          .end(outcome.response.body);
      } catch {
        response.writeHead(403).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/ringcentral/rc-test`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

describe('RingCentral subscriptions', () => {
  let harness: RingCentralHarness | undefined;
  let hook: Awaited<ReturnType<typeof receiver>> | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await hook?.close();
    await harness?.sandbox.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('creates through the handshake with the verificationToken, keeps, renews, and replaces a suspended one', async () => {
    // Prepare
    harness = await startHarness();
    hook = await receiver(harness);
    dir = await mkdtemp(join(tmpdir(), 'callvault-rc-subs-'));
    const plan = (await harness.source.webhookSubscriptions()) as WebhookSubscriptionPlan;
    const clock = manualClock(new Date());
    const deps = {
      api: plan.api,
      records: new FsSubscriptionRecords({ stateDir: dir }),
      clock,
      log: harness.log,
    };
    const input = {
      sourceId: 'rc-test',
      address: plan.address(hook.url),
      filters: plan.filters,
      secret: plan.secret,
    };

    // Act
    const first = await ensureSubscriptionsForSource(input, deps);
    const second = await ensureSubscriptionsForSource(input, deps);
    const soon = await ensureSubscriptionsForSource({ ...input, renewBeforeMs: 20 * 365 * 86_400_000 }, deps);
    harness.sandbox.setSubscriptionStatus(first.created[0] ?? '', 'Suspended');
    const replaced = await ensureSubscriptionsForSource(input, deps);

    // Assess
    expect(plan.secret).toBe(WEBHOOK_SECRET);
    expect(first.created).toHaveLength(1);
    expect(second).toMatchObject({ kept: first.created, created: [], deleted: [] });
    expect(soon).toMatchObject({ renewed: first.created, created: [] });
    // Renewed through the renew endpoint (no body); a PUT would need the eventFilters again.
    const renewals = harness.sandbox.requestLog.filter(
      (entry) => entry.route === 'subscription' && entry.method !== 'GET' && entry.path.endsWith('/renew'),
    );
    expect(renewals.map((entry) => [entry.method, entry.status])).toEqual([['POST', 200]]);
    expect(harness.sandbox.requestLog.some((entry) => entry.method === 'PUT')).toBe(false);
    expect(replaced).toMatchObject({ created: [expect.any(String)], deleted: first.created });
    const listed = harness.sandbox.subscriptions();
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ status: 'Active', deliveryMode: { address: hook.url } });
    expect(listed[0]?.expiresIn).toBeGreaterThan(9 * 365 * 86_400);
    expect(harness.sandbox.counters.handshakes).toBe(2);
    // The verificationToken it was created with is what deliveries carry.
    const call = harness.sandbox.startCall();
    const deliveries = await harness.sandbox.hangUp(call.telephonySessionId);
    expect(deliveries.map((delivery) => delivery.status)).toEqual([200]);
  });

  it('fails loudly when the handshake fails, and says nothing of the secret', async () => {
    harness = await startHarness();
    hook = await receiver(harness, { refuse: true });
    dir = await mkdtemp(join(tmpdir(), 'callvault-rc-subs-'));
    const plan = (await harness.source.webhookSubscriptions()) as WebhookSubscriptionPlan;
    const run = ensureSubscriptionsForSource(
      { sourceId: 'rc-test', address: hook.url, filters: plan.filters, secret: plan.secret },
      {
        api: plan.api,
        records: new FsSubscriptionRecords({ stateDir: dir }),
        clock: manualClock(),
        log: harness.log,
      },
    );
    await expect(run).rejects.toThrow(/SUB-525|invalid reply|HTTP 500/);
    await expect(run).rejects.not.toThrow(WEBHOOK_SECRET);
    expect(harness.sandbox.subscriptions()).toEqual([]);
  });

  it('wants no subscription without a webhookSecret', async () => {
    harness = await startHarness({ webhookSecret: null });
    expect(await harness.source.webhookSubscriptions()).toBeUndefined();
  });

  it('reads listed subscriptions whatever account spelling RingCentral uses', () => {
    expect(normaliseEventFilter('/restapi/v1.0/account/37439510/telephony/sessions')).toBe(
      '/restapi/v1.0/account/~/telephony/sessions',
    );
    expect(
      parseRingCentralSubscription({
        id: 'a',
        status: 'Blacklisted',
        eventFilters: ['/restapi/v1.0/account/1/telephony/sessions'],
        expirationTime: '2036-01-01T00:00:00.000Z',
        deliveryMode: { transportType: 'WebHook', address: 'https://x.example/h' },
      }),
    ).toEqual({
      id: 'a',
      address: 'https://x.example/h',
      filter: '/restapi/v1.0/account/~/telephony/sessions',
      status: 'blacklisted',
      expiresAt: new Date('2036-01-01T00:00:00.000Z'),
    });
    expect(
      parseRingCentralSubscription({ id: 'p', deliveryMode: { transportType: 'PubNub' } }),
    ).toBeUndefined();
  });
});
