/**
 * `npm start` with nothing configured: a clearly labelled demo against the bundled Telphin and
 * RingCentral sandboxes side by side (simulators written from the documented APIs, not the real
 * platforms). Telphin: The sweep archives the last
 * two days, a download that breaks halfway is retried, two fresh calls arrive by webhook, and a forged
 * webhook is refused. Everything lands in ./archive exactly as it would in S3. Beside it, a Microsoft Graph
 * calling bot's notification is archived and a forged one refused (demo-graph-calling-bot.ts), and Teams ad hoc
 * call and meeting recordings are archived by notification and by sweep (demo-teams-recordings.ts).
 */
import { randomBytes } from 'node:crypto';
import { parseConfig } from '../../functions/config';
import { recordingKey } from '../../functions/core/keys';
import type { Log } from '../../functions/core/ports';
import { type LocalHost, startLocalHost } from '../../functions/local/local-host';
import { formatBytes } from '../../functions/ops/format-bytes';
import { startTelphinSandbox, telphinHangupWebhookBody } from '../providers/telphin-sandbox';
import { demoFind } from './demo-find';
import { startGraphDemo } from './demo-graph-calling-bot';
import { type DemoPart, ringCentralDemoPart } from './demo-ringcentral';
import { teamsRecordingsDemoPart } from './demo-teams-recordings';

const DEMO_SOURCE_ID = 'demo';

export async function runDemo(options: { log: Log; serve: boolean; port?: number }): Promise<LocalHost> {
  const { log } = options;
  const say = (line: string) => log.info(`[demo] ${line}`);
  say(
    'No config file found: running the DEMO against the bundled Telphin, RingCentral, Microsoft Graph and Teams sandboxes (simulators, not the real platforms).',
  );
  say('Write ./callvault.config.json (see README) to archive your real recordings.');

  const sandbox = await startTelphinSandbox({ host: '127.0.0.1', storageHost: 'localhost' });
  const now = new Date();
  const history = sandbox.generateRecordings({
    count: 12,
    from: new Date(now.getTime() - 40 * 3_600_000),
    to: new Date(now.getTime() - 3_600_000),
    flow: 'alternate',
  });
  // Real-world faults, so the demo shows them being survived rather than merely described.
  const [brokenDownload, flakyStorage] = history;
  if (brokenDownload)
    sandbox.injectFault({ kind: 'reset-mid-body' }, { recordUuid: brokenDownload.recordUuid });
  if (flakyStorage)
    sandbox.injectFault(
      { kind: 'server-error', status: 503 },
      { recordUuid: flakyStorage.recordUuid, routes: 'storage' },
    );
  say(`Telphin sandbox at ${sandbox.url} holds ${history.length} recordings from the last 40 hours.`);
  say('One download will be cut halfway and one storage request will fail with 503: both are retried.');

  // Other platforms' parts: each brings its sandbox, its sources and its own steps.
  const graph = await startGraphDemo(log);
  const parts: DemoPart[] = [
    await ringCentralDemoPart(log),
    await teamsRecordingsDemoPart(log),
    {
      sources: [graph.source],
      run: async (host) => ({ verified: (await graph.run(host)) ? 1 : 0, expected: 1 }),
      close: () => graph.close(),
    },
  ];

  const webhookSecret = randomBytes(24).toString('hex');
  const config = parseConfig({
    sources: [
      ...parts.flatMap((part) => part.sources),
      {
        provider: 'telphin',
        id: DEMO_SOURCE_ID,
        apiUrl: sandbox.url,
        clientId: sandbox.clientId,
        clientSecret: sandbox.clientSecret,
        webhookSecret,
        scope: { client: '@me' },
        allowedDownloadHosts: [new URL(sandbox.url).hostname, new URL(sandbox.storageOrigin).hostname],
      },
    ],
    local: { port: options.port ?? 0, archiveDir: './archive', stateDir: './.callvault/demo' },
    sweep: { lookbackHours: 48, intervalSeconds: 300 },
    // Short backoff so the demo's retries happen within seconds rather than minutes.
    worker: { concurrency: 4, maxReceiveCount: 5 },
  });

  const host = await startLocalHost({
    config,
    log,
    retryPolicy: {
      transientBaseSeconds: 1,
      transientMaxSeconds: 4,
      notReadyBaseSeconds: 2,
      notReadyMaxSeconds: 8,
    },
    // The sandboxes run on this machine, so they reach the webhook server at its own address.
    publicUrl: 'server',
  });
  await host.idle();
  say(`Sweep done: ${host.progress().archived} recordings archived so far.`);

  // Two calls end now; Telphin posts hangup events, which are hints the worker resolves through the API.
  const fresh = [0, 1].map((i) =>
    sandbox.addRecording({
      startedAt: new Date(Date.now() - (90 + i * 30) * 1000),
      durationSeconds: 60 + i * 30,
      flow: 'in',
    }),
  );
  const hookUrl = `${host.webhookUrl}/webhooks/telphin/${DEMO_SOURCE_ID}`;
  for (const recording of fresh) {
    const response = await fetch(`${hookUrl}?token=${webhookSecret}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: telphinHangupWebhookBody(recording),
    });
    say(`Webhook for call ${recording.callUuid.slice(0, 8)}… answered ${response.status}.`);
  }
  const [announced] = fresh;
  const forged = await fetch(`${hookUrl}?token=not-the-secret`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: announced ? telphinHangupWebhookBody(announced) : '',
  });
  say(`A webhook with a wrong token was refused with ${forged.status} and enqueued nothing.`);
  await host.idle();

  const partResults = [];
  for (const part of parts) partResults.push(await part.run(host));

  // Check every archived copy against the bytes the sandbox served.
  const all = [...history, ...fresh];
  let verified = 0;
  for (const recording of all) {
    const key = recordingKey({
      provider: 'telphin',
      sourceId: DEMO_SOURCE_ID,
      recordingId: recording.recordUuid,
      startedAt: recording.startedAt,
      fileExtension: 'mp3',
    });
    const sidecar = await host.store.readSidecar(key);
    if (sidecar?.sha256 === sandbox.expectedSha256(recording.recordUuid)) verified += 1;
    else log.error('[demo] archived copy missing or different', { key });
  }
  const { archived, bytes } = host.progress();
  say(
    `Done: ${archived} recordings (${formatBytes(bytes)}) archived under ./archive/recordings/ (Telphin copies in telphin/${DEMO_SOURCE_ID}/).`,
  );
  say(
    `${verified} of ${all.length} copies match the sandbox's bytes (SHA-256), each with its .json sidecar.`,
  );
  // The archive is searchable: one question to the catalogue the worker kept beside it.
  const [asked] = fresh;
  const found =
    asked !== undefined &&
    (await demoFind({
      archiveDir: config.local.archiveDir,
      store: host.store,
      objectKey: recordingKey({
        provider: 'telphin',
        sourceId: DEMO_SOURCE_ID,
        recordingId: asked.recordUuid,
        startedAt: asked.startedAt,
        fileExtension: 'mp3',
      }),
      log,
    }));
  if (!found || verified !== all.length || partResults.some((result) => result.verified !== result.expected))
    process.exitCode = 1;
  const closeSandboxes = async () => {
    await sandbox.close();
    for (const part of parts) await part.close();
  };

  if (options.serve) {
    say(`Still serving: webhooks at ${hookUrl}?token=${webhookSecret} — Ctrl-C to stop.`);
    const stop = host.stop.bind(host);
    host.stop = async () => {
      await stop();
      await closeSandboxes();
    };
    return host;
  }
  await host.stop();
  await closeSandboxes();
  return host;
}
