/**
 * The RingCentral part of the demo, against the bundled RingCentral sandbox (a simulator written from
 * RingCentral's documented API, not RingCentral): a subscription created through the real
 * Validation-Token handshake against the local webhook server, a call hung up → webhook → archived
 * once its content is ready, the sweep archiving the rest, a forged Verification-Token refused, and
 * every copy's SHA-256 checked against the sandbox's bytes.
 */
import { randomBytes } from 'node:crypto';
import { sourceWebhookUrl } from '../../functions/core/ensure-subscriptions-for-all-sources';
import { recordingKey } from '../../functions/core/keys';
import type { Log } from '../../functions/core/ports';
import type { LocalHost } from '../../functions/local/local-host';
import { type RingCentralSandbox, startRingCentralSandbox } from '../providers/ringcentral-sandbox';

const SOURCE_ID = 'demo-rc';
/** Content answers 404 this long after hang-up, as on RingCentral (there: seconds to minutes). */
const NOT_READY_MS = 4_000;
/**
 * The demo's Heavy budget per minute. RingCentral's default plan allows 10; the demo asks for more so
 * it finishes in seconds (the source's `rateLimits.heavyPerMinute` says what the account allows).
 */
const DEMO_HEAVY_PER_MINUTE = 120;

export interface DemoPart {
  /** Source entries for the demo's config. */
  sources: Record<string, unknown>[];
  /** Runs once the host has done its start-up subscriptions check and sweep. Answers copies verified. */
  run(host: LocalHost): Promise<{ verified: number; expected: number }>;
  close(): Promise<void>;
}

export async function ringCentralDemoPart(log: Log): Promise<DemoPart> {
  const say = (line: string) => log.info(`[demo:ringcentral] ${line}`);
  const sandbox: RingCentralSandbox = await startRingCentralSandbox({
    recordingReadyDelayMs: NOT_READY_MS,
    rateLimits: { heavy: { limit: DEMO_HEAVY_PER_MINUTE, windowSeconds: 60 } },
  });
  const now = Date.now();
  const history = sandbox.generateCalls({
    count: 6,
    from: new Date(now - 30 * 3_600_000),
    to: new Date(now - 3_600_000),
  });
  say(
    `RingCentral sandbox at ${sandbox.url} (media ${sandbox.mediaUrl}) holds ${history.length} recorded calls from the last 30 hours.`,
  );
  const webhookSecret = randomBytes(24).toString('hex');

  return {
    sources: [
      {
        provider: 'ringcentral',
        id: SOURCE_ID,
        serverUrl: sandbox.url,
        mediaUrl: sandbox.mediaUrl,
        clientId: sandbox.clientId,
        clientSecret: sandbox.clientSecret,
        jwt: sandbox.jwt,
        webhookSecret,
        rateLimits: { heavyPerMinute: DEMO_HEAVY_PER_MINUTE },
      },
    ],
    async run(host) {
      const [subscription] = sandbox.subscriptions();
      say(
        subscription
          ? `Subscription ${subscription.id.slice(0, 8)}… is ${subscription.status}: created after our server echoed RingCentral's Validation-Token (${sandbox.counters.handshakes} handshake).`
          : 'No subscription was created: see the errors above.',
      );

      // A call is answered and recorded; when it ends RingCentral posts the telephony-session event.
      const live = sandbox.startCall({ kind: 'inbound', durationSeconds: 45 });
      const deliveries = await sandbox.hangUp(live.telephonySessionId);
      say(
        `Call ${live.telephonySessionId.slice(0, 8)}… hung up; the webhook answered ${deliveries.map((delivery) => delivery.status ?? delivery.error).join(', ')}. Its content is not ready for ${NOT_READY_MS / 1000} s: the worker retries.`,
      );

      // A call whose event never arrives: the sweep finds it in the call log.
      const missed = sandbox.addCall({ kind: 'outbound', startedAt: new Date(Date.now() - 10 * 60_000) });
      await host.sweepNow();
      say('A call whose webhook never came was found by the sweep.');

      const hookUrl = sourceWebhookUrl(host.webhookUrl, 'ringcentral', SOURCE_ID);
      const forged = await fetch(hookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'verification-token': 'not-the-secret' },
        body: JSON.stringify({
          uuid: 'forged',
          event: '/restapi/v1.0/account/~/telephony/sessions',
          body: {},
        }),
      });
      say(
        `A delivery with a forged Verification-Token was refused with ${forged.status} and enqueued nothing.`,
      );
      await host.idle();

      let verified = 0;
      const calls = [...history, live, missed];
      for (const call of calls) {
        if (!call.recording) continue;
        const key = recordingKey({
          provider: 'ringcentral',
          sourceId: SOURCE_ID,
          recordingId: call.recording.id,
          startedAt: call.startedAt,
          fileExtension: call.recording.format,
        });
        const sidecar = await host.store.readSidecar(key);
        if (sidecar?.sha256 === sandbox.expectedSha256(call.recording.id)) verified += 1;
        else log.error('[demo:ringcentral] archived copy missing or different', { key });
      }
      const expected = calls.filter((call) => call.recording).length;
      say(
        `${verified} of ${expected} RingCentral copies match the sandbox's bytes (SHA-256), under ./archive/recordings/ringcentral/${SOURCE_ID}/.`,
      );
      return { verified, expected };
    },
    close: () => sandbox.close(),
  };
}
