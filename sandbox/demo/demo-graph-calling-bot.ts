/**
 * The Microsoft Graph part of the `npm start` demo, against the bundled Graph sandbox (a simulator written
 * from Microsoft's documented notifications and key endpoints, not Microsoft): a bot notification whose
 * recording is archived and checked byte for byte, and a forged notification that is refused and enqueues
 * nothing. The source is configured with `mediaPersistenceApproved: true` because the demo's audio is
 * synthetic; a real bot needs the approval the README's media persistence section describes.
 */
import { recordingKey } from '../../functions/core/keys';
import type { ArchiveStore, Log } from '../../functions/core/ports';
import { type GraphSandbox, startGraphSandbox } from '../providers/graph-calling-bot-sandbox';

export const GRAPH_DEMO_SOURCE_ID = 'demo-bot';

export interface GraphDemo {
  /** The source entry the demo's config must hold. */
  source: Record<string, unknown>;
  /**
   * Posts one signed and one forged notification to the local host, waits for the queue, and checks the
   * archived copy; true when the copy matches the sandbox's bytes and the forgery was refused.
   */
  run(host: { webhookUrl: string; store: ArchiveStore; idle(): Promise<void> }): Promise<boolean>;
  close(): Promise<void>;
}

export async function startGraphDemo(log: Log): Promise<GraphDemo> {
  const say = (line: string) => log.info(`[demo] ${line}`);
  const sandbox: GraphSandbox = await startGraphSandbox({ host: '127.0.0.1' });
  say(
    `Microsoft Graph sandbox at ${sandbox.url} (a simulator, not Microsoft) plays a calling bot's notifications.`,
  );
  return {
    source: {
      provider: 'msgraph',
      id: GRAPH_DEMO_SOURCE_ID,
      botAppId: sandbox.botAppId,
      tenantId: sandbox.tenantId,
      notificationSigners: sandbox.notificationSigners,
      allowedDownloadHosts: [sandbox.recordingHostPort],
      mediaPersistenceApproved: true,
    },
    run: async (host) => {
      const hookUrl = `${host.webhookUrl}/webhooks/msgraph/${GRAPH_DEMO_SOURCE_ID}`;
      const recording = sandbox.addRecording();
      const body = sandbox.completedNotification(recording);
      const post = async (token: string) =>
        fetch(hookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body,
        });
      const before = new Date();
      const signed = await post(await sandbox.signNotificationToken());
      const after = new Date();
      say(`A signed bot notification (recordOperation completed) answered ${signed.status}.`);
      const forged = await post(await sandbox.signNotificationToken({ fault: 'tampered' }));
      say(`A forged notification (payload altered after signing) was refused with ${forged.status}.`);
      await host.idle();

      // The key is dated by the notification's arrival, which may fall either side of midnight UTC.
      const keys = [before, after].map((receivedAt) =>
        recordingKey({
          provider: 'msgraph',
          sourceId: GRAPH_DEMO_SOURCE_ID,
          recordingId: recording.operationId,
          startedAt: receivedAt,
          fileExtension: 'wav',
        }),
      );
      let verified = false;
      for (const key of new Set(keys)) {
        const sidecar = await host.store.readSidecar(key);
        if (sidecar?.sha256 === recording.sha256) verified = true;
      }
      const refused = forged.status >= 400 && forged.status < 500;
      if (verified && refused) {
        say(
          `The bot's recording is archived under ./archive/recordings/graph-calling-bot/${GRAPH_DEMO_SOURCE_ID}/ and matches the sandbox's bytes; the forgery enqueued nothing, and the token never left the queue.`,
        );
      } else {
        log.error('[demo] the Graph bot demo did not end as expected', {
          verified,
          forgedStatus: forged.status,
        });
      }
      return verified && refused && sandbox.counters.completedDownloads === 1;
    },
    close: () => sandbox.close(),
  };
}
