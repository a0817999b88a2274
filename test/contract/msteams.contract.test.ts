/**
 * The provider contract against the Teams sandbox (Graph's recordings API, simulated). Where Teams
 * differs: Graph has no delete for these recordings (retention skips the source), and content a listed
 * recording does not serve yet is Teams still processing it (not ready).
 */
import { randomUUID } from 'node:crypto';
import type { WebhookRequest } from '../../functions/core/ports';
import { PROVIDER_SANDBOXES } from '../../sandbox/providers';
import { providerContract, sourceFor } from './provider-contract';

const entry = PROVIDER_SANDBOXES.msteams;

function delivery(notifications: Record<string, unknown>[]): WebhookRequest {
  return {
    method: 'POST',
    query: {},
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ value: notifications }),
  };
}

providerContract({
  provider: 'msteams',
  capabilities: { list: true, paging: true, notReady: true, tokenRenewal: true, delete: false },
  expectations: {
    job: 'hint',
    offListHost: 'refused',
    gone: 'gone-at-source',
    throttledCall: 'listing',
    shortWait: 'waits-it-out',
    waitToleranceSeconds: 0,
  },
  async start(options = {}) {
    const running = await entry.start();
    const { sandbox, user } = running;
    const created = (id: string, clientState: string | undefined) => ({
      subscriptionId: randomUUID(),
      changeType: 'created',
      ...(clientState === undefined ? {} : { clientState }),
      tenantId: sandbox.tenantId,
      resource: sandbox.resourceOf(id, 'docs').resource,
    });
    return {
      source: await sourceFor(entry, running, options),
      addRecording: (createdAt) => sandbox.addRecording({ organizerId: user.id, createdAt }).id,
      expectedSha256: (id) => sandbox.expectedSha256(id),
      listingPagesServed: () => sandbox.requestLog.filter((request) => request.route === 'list').length,
      makeNotReady: (id) => sandbox.setReady(id, false),
      makeGone: (id) => sandbox.expire(id),
      revokeTokens: () => sandbox.revokeTokens(),
      tokenRequests: () => sandbox.counters.tokenRequests,
      throttle(waitSeconds, times) {
        const fault = sandbox.injectFault(
          { kind: 'throttle', retryAfterSeconds: waitSeconds },
          { routes: 'list', times },
        );
        return () => fault.hits;
      },
      mediaRequests: () => sandbox.requestLog.filter((request) => request.server === 'content').length,
      async announce() {
        const recording = sandbox.addRecording({
          organizerId: user.id,
          createdAt: new Date(Date.now() - 10 * 60_000),
        });
        return { request: delivery([created(recording.id, entry.webhookSecret)]), recordingId: recording.id };
      },
      async forgedDeliveries() {
        const { id } = sandbox.addRecording({ organizerId: user.id, createdAt: new Date() });
        return [
          {
            why: 'wrong clientState',
            request: delivery([created(id, `${entry.webhookSecret}x`)]),
            status: 403,
          },
          { why: 'no clientState', request: delivery([created(id, undefined)]), status: 403 },
        ];
      },
      close: () => running.close(),
    };
  },
});
