/**
 * The Microsoft Teams part of the demo, against the bundled Teams sandbox (a simulator written from
 * Microsoft Graph's documented API, not Microsoft Graph): subscriptions created through Graph's
 * validation handshake against the local webhook server, an ad hoc call recording announced by a
 * `created` notification and archived as MP4, a meeting recording the sweep finds, a notification with
 * a wrong clientState refused, and every copy's SHA-256 checked against the sandbox's bytes.
 */
import { randomBytes } from 'node:crypto';
import { sourceWebhookUrl } from '../../functions/core/ensure-subscriptions-for-all-sources';
import type { Log } from '../../functions/core/ports';
import { startTeamsSandbox } from '../providers/teams-recordings-sandbox';
import type { DemoPart } from './demo-ringcentral';

const SOURCE_ID = 'demo-teams';
/** Small recordings, so the demo stays fast; real meeting recordings run to hundreds of MB. */
const RECORDING_BYTES = 2 * 1024 * 1024;

export async function teamsRecordingsDemoPart(log: Log): Promise<DemoPart> {
  const say = (line: string) => log.info(`[demo:msteams] ${line}`);
  const sandbox = await startTeamsSandbox({ host: '127.0.0.1', contentHost: 'localhost' });
  const alice = sandbox.addUser({ userPrincipalName: 'alice@contoso.example', displayName: 'Alice' });
  const now = Date.now();
  const earlier = sandbox.addRecording({
    kind: 'onlineMeetings',
    organizerId: alice.id,
    createdAt: new Date(now - 6 * 3_600_000),
    durationSeconds: 1_800,
    size: RECORDING_BYTES,
  });
  say(
    `Teams sandbox at ${sandbox.url} (content ${sandbox.contentUrl}) holds a meeting recording from today.`,
  );
  const webhookSecret = randomBytes(24).toString('hex');

  return {
    sources: [
      {
        provider: 'msteams',
        id: SOURCE_ID,
        tenantId: sandbox.tenantId,
        clientId: sandbox.clientId,
        clientSecret: sandbox.clientSecret,
        webhookSecret,
        loginUrl: sandbox.url,
        graphUrl: sandbox.url,
        users: [alice.userPrincipalName],
        allowedDownloadHosts: [new URL(sandbox.contentUrl).host],
        mediaPersistenceApproved: true,
      },
    ],
    async run(host) {
      const subscriptions = sandbox.subscriptions();
      say(
        subscriptions.length > 0
          ? `${subscriptions.length} subscriptions (${subscriptions.map((s) => s.resource.split('/')[1]).join(', ')}) created after our server echoed Graph's validationToken (${sandbox.counters.validations} validations).`
          : 'No subscription was created: see the errors above.',
      );

      // An ad hoc call is recorded; Graph posts a `created` notification carrying our clientState.
      const call = sandbox.addRecording({
        kind: 'adhocCalls',
        organizerId: alice.id,
        createdAt: new Date(Date.now() - 5 * 60_000),
        durationSeconds: 300,
        size: RECORDING_BYTES,
      });
      const deliveries = await sandbox.notifyRecording(call.id);
      say(
        `Ad hoc call recording announced; the webhook answered ${deliveries.map((d) => d.status ?? d.error).join(', ')}.`,
      );

      // A meeting recording whose notification never came: the sweep finds it per user.
      const missed = sandbox.addRecording({
        kind: 'onlineMeetings',
        organizerId: alice.id,
        createdAt: new Date(Date.now() - 40 * 60_000),
        durationSeconds: 900,
        size: RECORDING_BYTES,
      });
      await host.sweepNow();
      say('A meeting recording whose notification never came was found by the sweep.');

      const forged = await fetch(sourceWebhookUrl(host.webhookUrl, 'msteams', SOURCE_ID), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          value: [
            {
              subscriptionId: subscriptions[0]?.id ?? 'unknown',
              changeType: 'created',
              clientState: 'not-the-client-state',
              tenantId: sandbox.tenantId,
              resource: `communications/adhocCalls('${call.containerId}')/recordings('${call.id}')`,
              resourceData: { id: call.id },
            },
          ],
        }),
      });
      say(`A notification with a wrong clientState was refused with ${forged.status} and enqueued nothing.`);
      await host.idle();

      const wanted = [earlier, call, missed];
      const archived = new Map<string, string>();
      for await (const key of host.store.listKeys?.(`recordings/msteams/${SOURCE_ID}/`) ?? []) {
        if (!key.endsWith('.mp4')) continue;
        const sidecar = await host.store.readSidecar(key);
        if (sidecar) archived.set(String(sidecar.recordingId), String(sidecar.sha256));
      }
      let verified = 0;
      for (const recording of wanted) {
        if (archived.get(recording.id) === sandbox.expectedSha256(recording.id)) verified += 1;
        else log.error('[demo:msteams] archived copy missing or different', { recordingId: recording.id });
      }
      say(
        `${verified} of ${wanted.length} Teams MP4 copies match the sandbox's bytes (SHA-256), under ./archive/recordings/teams-recordings/${SOURCE_ID}/.`,
      );
      return { verified, expected: wanted.length };
    },
    close: () => sandbox.close(),
  };
}
