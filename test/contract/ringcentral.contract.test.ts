/**
 * The provider contract against the RingCentral sandbox. The adapter is built directly (not through
 * `createSource`) only to set its call-log page size to 2, so that six recordings cross pages; at
 * RingCentral's own 1,000 a page the contract would need a thousand calls. Where it differs: none beyond
 * what the platform decides (a late content 404 is judged against the call log: still listed is not ready).
 */
import { randomUUID } from 'node:crypto';
import type { WebhookRequest } from '../../functions/core/ports';
import { InProcessRateGateStore, InProcessTokenStore } from '../../functions/core/shared-state';
import {
  type RingCentralSourceConfig,
  ringCentralCredentialsSchema,
} from '../../functions/providers/ringcentral/ringcentral-config';
import { RingCentralSource } from '../../functions/providers/ringcentral/ringcentral-source';
import { PROVIDER_SANDBOXES } from '../../sandbox/providers';
import { telephonySessionEvent } from '../../sandbox/providers/ringcentral-sandbox-calls';
import { providerContract } from './provider-contract';

const entry = PROVIDER_SANDBOXES.ringcentral;

function delivery(body: string, token: string | undefined): WebhookRequest {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers['verification-token'] = token;
  return { method: 'POST', query: {}, headers, body };
}

providerContract({
  provider: 'ringcentral',
  capabilities: { list: true, paging: true, notReady: true, tokenRenewal: true, delete: true },
  expectations: {
    job: 'hint',
    offListHost: 'refused',
    gone: 'gone-at-source',
    throttledCall: 'listing',
    shortWait: 'hands-back',
    waitToleranceSeconds: 0,
  },
  async start(options = {}) {
    const running = await entry.start();
    const { sandbox } = running;
    const config = entry.sourceConfig(
      running,
      'contract-ringcentral',
      options.offListDownloads ? { allowedDownloadHosts: entry.offListDownloadHosts(running) } : {},
    ) as RingCentralSourceConfig;
    const source = new RingCentralSource({
      config,
      credentials: ringCentralCredentialsSchema.parse(entry.credentials(running)),
      tokenStore: new InProcessTokenStore(),
      rateGateStore: new InProcessRateGateStore(),
      deletesAtSource: true,
      tuning: { perPage: 2 },
    });
    const event = (telephonySessionId: string) => {
      const call = sandbox.calls().find((candidate) => candidate.telephonySessionId === telephonySessionId);
      if (!call) throw new Error(`no call ${telephonySessionId}`);
      return JSON.stringify(
        telephonySessionEvent(call, {
          statusCode: 'Disconnected',
          recordingActive: false,
          sequence: 7,
          eventTime: new Date(),
          subscriptionId: randomUUID(),
          accountId: sandbox.accountId,
          eventFilter: `/restapi/v1.0/account/${sandbox.accountId}/telephony/sessions`,
        }),
      );
    };
    return {
      source,
      addRecording: (startedAt) => sandbox.addCall({ startedAt }).recording?.id ?? '',
      expectedSha256: (id) => sandbox.expectedSha256(id),
      listingPagesServed: () => sandbox.requestLog.filter((request) => request.route === 'call-log').length,
      makeNotReady: (id) =>
        void sandbox.injectFault({ kind: 'not-found' }, { recordingId: id, times: Infinity }),
      makeGone: (id) => sandbox.expireRecording(id),
      revokeTokens: () => sandbox.revokeTokens(),
      tokenRequests: () => sandbox.counters.tokenRequests,
      throttle(waitSeconds, times) {
        const fault = sandbox.injectFault(
          { kind: 'rate-limit', retryAfterSeconds: waitSeconds },
          { routes: 'call-log', times },
        );
        return () => fault.hits;
      },
      mediaRequests: () => sandbox.requestLog.filter((request) => request.server === 'media').length,
      async announce() {
        const call = sandbox.addCall({ startedAt: new Date(Date.now() - 10 * 60_000) });
        return {
          request: delivery(event(call.telephonySessionId), entry.webhookSecret),
          recordingId: call.recording?.id ?? '',
        };
      },
      async forgedDeliveries() {
        const call = sandbox.addCall({ startedAt: new Date(Date.now() - 5 * 60_000) });
        const body = event(call.telephonySessionId);
        return [
          { why: 'no Verification-Token', request: delivery(body, undefined), status: 401 },
          {
            why: 'wrong Verification-Token',
            request: delivery(body, `${entry.webhookSecret}x`),
            status: 403,
          },
        ];
      },
      deletedAtSource: () => sandbox.deletedRecordingIds(),
      close: () => running.close(),
    };
  },
});
