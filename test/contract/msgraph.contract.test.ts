/**
 * The provider contract against the Microsoft Graph sandbox playing a Teams calling bot. Where the bot
 * differs from every other provider, by the platform's design (README, "Microsoft Graph calling bot"):
 * - nothing can be listed or deleted: a `recordResponse` recording is reachable only through the
 *   notification announcing it, which carries its location and a short-lived access token, so a webhook
 *   enqueues a `fetch-now` job with that grant rather than a hint;
 * - there is no token of callvault's own to renew: a 401 or 404 on a grant means the token expired or
 *   the file was discarded, and the job ends as expired-before-fetch (there is no "not ready");
 * - Graph's 429 is met on the download, the only call the worker makes.
 */

import { recordingFromJob } from '../../functions/core/jobs';
import type { WebhookRequest } from '../../functions/core/ports';
import { PROVIDER_SANDBOXES } from '../../sandbox/providers';
import type { GraphSandboxRecording } from '../../sandbox/providers/graph-calling-bot-sandbox';
import { providerContract, sourceFor } from './provider-contract';

const entry = PROVIDER_SANDBOXES.msgraph;

function delivery(body: string, bearer: string | undefined): WebhookRequest {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
  return { method: 'POST', query: {}, headers, body };
}

providerContract({
  provider: 'msgraph',
  capabilities: { list: false, paging: false, notReady: false, tokenRenewal: false, delete: false },
  expectations: {
    job: 'fetch-now',
    offListHost: 'refused',
    gone: 'expired-before-fetch',
    throttledCall: 'download',
    shortWait: 'hands-back',
    waitToleranceSeconds: 0,
  },
  async start(options = {}) {
    const running = await entry.start();
    const { sandbox } = running;
    // Notifications are accepted by a source that allows the recording host; the one under test may not.
    const accepting = await sourceFor(entry, running);
    const made = new Map<string, GraphSandboxRecording>();
    const announced = async () => {
      const recording = sandbox.addRecording();
      made.set(recording.operationId, recording);
      const request = delivery(
        sandbox.completedNotification(recording),
        await sandbox.signNotificationToken(),
      );
      return { recording, request };
    };
    return {
      source: await sourceFor(entry, running, options),
      addRecording() {
        throw new Error('the Graph bot lists nothing: recordings arrive only by notification');
      },
      expectedSha256: (id) => made.get(id)?.sha256 ?? '',
      async grantedTarget() {
        const { request } = await announced();
        const [job] = (await accepting.handleWebhook(request)).jobs;
        if (job?.type !== 'fetch-now')
          throw new Error(`expected a fetch-now job, got ${JSON.stringify(job)}`);
        return { recording: recordingFromJob(job), grant: job.grant };
      },
      makeGone: (id) => sandbox.discard(id),
      throttle(waitSeconds, times) {
        const before = sandbox.counters.throttledRecordingRequests;
        sandbox.injectFault({ kind: 'throttle', retryAfterSeconds: waitSeconds }, { times });
        return () => sandbox.counters.throttledRecordingRequests - before;
      },
      mediaRequests: () => sandbox.counters.recordingRequests,
      async announce() {
        const { recording, request } = await announced();
        return { request, recordingId: recording.operationId };
      },
      async forgedDeliveries() {
        const { recording } = await announced();
        const body = sandbox.completedNotification(recording);
        return [
          { why: 'no token', request: delivery(body, undefined), status: 401 },
          {
            why: 'signed with a key Microsoft does not publish',
            request: delivery(body, await sandbox.signNotificationToken({ fault: 'unknown-kid' })),
            status: 403,
          },
          {
            why: 'another app as audience',
            request: delivery(body, await sandbox.signNotificationToken({ fault: 'wrong-audience' })),
            status: 403,
          },
        ];
      },
      close: () => running.close(),
    };
  },
});
