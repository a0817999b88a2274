/**
 * The provider contract against the Telphin sandbox. Where Telphin's adapter differs from the others:
 * - the record list answers a whole window in one response (no pages; the adapter splits windows by
 *   month instead), so paging is not part of its contract;
 * - a storage link on a host off the allow-list is never contacted: the recording is downloaded directly
 *   from the API host instead (README, "Download hosts");
 * - the quota's 429 carries `X-RateLimit-Reset`, not `Retry-After`; that is the wait handed back.
 */
import type { WebhookRequest } from '../../functions/core/ports';
import { PROVIDER_SANDBOXES } from '../../sandbox/providers';
import { telphinHangupWebhookBody } from '../../sandbox/providers/telphin-sandbox';
import { providerContract, sourceFor } from './provider-contract';

const entry = PROVIDER_SANDBOXES.telphin;

function delivery(body: string, token: string | undefined): WebhookRequest {
  return {
    method: 'POST',
    query: token === undefined ? {} : { token },
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  };
}

providerContract({
  provider: 'telphin',
  capabilities: { list: true, paging: false, notReady: true, tokenRenewal: true, delete: true },
  expectations: {
    job: 'hint',
    offListHost: 'downloads-from-api-host',
    gone: 'gone-at-source',
    throttledCall: 'listing',
    shortWait: 'hands-back',
    waitToleranceSeconds: 0,
  },
  async start(options = {}) {
    const running = await entry.start();
    const { sandbox } = running;
    return {
      source: await sourceFor(entry, running, options),
      addRecording: (startedAt) => sandbox.addRecording({ startedAt }).recordUuid,
      expectedSha256: (id) => sandbox.expectedSha256(id),
      makeNotReady: (id) =>
        void sandbox.injectFault({ kind: 'not-found' }, { recordUuid: id, times: Infinity }),
      makeGone: (id) => sandbox.removeRecording(id),
      revokeTokens: () => sandbox.revokeTokens(),
      tokenRequests: () => sandbox.counters.tokenRequests,
      throttle(waitSeconds, times) {
        const fault = sandbox.injectFault(
          { kind: 'hourly-quota', resetSeconds: waitSeconds },
          { routes: 'list', times },
        );
        return () => fault.hits;
      },
      mediaRequests: () => sandbox.counters.storageDownloads,
      async announce() {
        const recording = sandbox.addRecording({ startedAt: new Date(Date.now() - 10 * 60_000) });
        return {
          request: delivery(telphinHangupWebhookBody(recording), entry.webhookSecret),
          recordingId: recording.recordUuid,
        };
      },
      async forgedDeliveries() {
        const body = telphinHangupWebhookBody(sandbox.addRecording({ startedAt: new Date() }));
        return [
          { why: 'no token', request: delivery(body, undefined), status: 401 },
          { why: 'wrong token', request: delivery(body, `${entry.webhookSecret}x`), status: 403 },
        ];
      },
      deletedAtSource: () => sandbox.deletedIds(),
      close: () => running.close(),
    };
  },
});
