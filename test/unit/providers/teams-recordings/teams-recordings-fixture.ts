/**
 * Shared set-up for the Teams adapter tests: the Teams sandbox on loopback, an adapter pointed at it,
 * and callvault's own webhook server (receiveWebhook) in front of the adapter, so subscriptions
 * validate and notifications arrive over real HTTP.
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArchiveJob } from '../../../../functions/core/jobs';
import type { Clock, DownloadStream, JobQueue } from '../../../../functions/core/ports';
import { InProcessTokenStore, type TokenStore } from '../../../../functions/core/shared-state';
import { RecordingVerifier, type StreamSummary } from '../../../../functions/core/verify-stream';
import { startWebhookServer, type WebhookServer } from '../../../../functions/local/webhook-server';
import {
  type TeamsRecordingsSourceConfig,
  teamsRecordingsSourceSchema,
} from '../../../../functions/providers/teams-recordings/teams-recordings-config';
import {
  TeamsRecordingsSource,
  type TeamsRecordingsSourceOptions,
} from '../../../../functions/providers/teams-recordings/teams-recordings-source';
import {
  startTeamsSandbox,
  type TeamsSandbox,
  type TeamsSandboxOptions,
  type TeamsSandboxUser,
} from '../../../../sandbox/providers/teams-recordings-sandbox';
import { fixedSourceRegistry } from '../../../support/fixed-source-registry';
import { type LogLine, recordingLog } from '../../../support/recording-log';

export const WEBHOOK_SECRET = 'teams-client-state-0123456789abcdef';
export const SOURCE_ID = 'contoso-teams';

export { type LogLine, recordingLog };

/** A queue that keeps what it was given, standing in for SQS. */
export function capturingQueue(): JobQueue & { jobs: ArchiveJob[] } {
  const jobs: ArchiveJob[] = [];
  return {
    jobs,
    async enqueue(batch) {
      jobs.push(...batch);
    },
  };
}

export interface TeamsHarness {
  sandbox: TeamsSandbox;
  source: TeamsRecordingsSource;
  config: TeamsRecordingsSourceConfig;
  log: ReturnType<typeof recordingLog>;
  tokenStore: TokenStore;
  alice: TeamsSandboxUser;
  bob: TeamsSandboxUser;
  /** Another adapter of the same source (another worker), sharing the token store. */
  sibling(overrides?: Partial<TeamsRecordingsSourceOptions>): TeamsRecordingsSource;
  /** callvault's webhook route for this source, served by the local webhook server. */
  webhookUrl: string;
  queue: ReturnType<typeof capturingQueue>;
  close(): Promise<void>;
}

export async function startHarness(
  options: {
    sandbox?: TeamsSandboxOptions;
    config?: Record<string, unknown>;
    clock?: Clock;
    tuning?: TeamsRecordingsSourceOptions['tuning'];
    clientSecret?: string;
  } = {},
): Promise<TeamsHarness> {
  const sandbox = await startTeamsSandbox(options.sandbox);
  const alice = sandbox.addUser({ userPrincipalName: 'alice@contoso.example', displayName: 'Alice' });
  const bob = sandbox.addUser({ userPrincipalName: 'bob@contoso.example', displayName: 'Bob' });
  const config = teamsRecordingsSourceSchema.parse({
    provider: 'msteams',
    id: SOURCE_ID,
    tenantId: sandbox.tenantId,
    loginUrl: sandbox.url,
    graphUrl: sandbox.url,
    users: [alice.id, bob.userPrincipalName],
    allowedDownloadHosts: [new URL(sandbox.contentUrl).host],
    mediaPersistenceApproved: true,
    ...options.config,
  });
  const log = recordingLog();
  const tokenStore = new InProcessTokenStore();
  const build = (overrides: Partial<TeamsRecordingsSourceOptions> = {}) =>
    new TeamsRecordingsSource({
      config,
      credentials: {
        clientId: sandbox.clientId,
        clientSecret: options.clientSecret ?? sandbox.clientSecret,
        webhookSecret: WEBHOOK_SECRET,
      },
      tokenStore,
      clock: options.clock,
      log,
      tuning: { idleTimeoutMs: 5000, connectTimeoutMs: 2000, leasePollMs: 10, ...options.tuning },
      ...overrides,
    });
  const source = build();
  const queue = capturingQueue();
  const server: WebhookServer = await startWebhookServer({
    host: '127.0.0.1',
    port: 0,
    log,
    deps: {
      sources: fixedSourceRegistry([{ provider: 'msteams', id: SOURCE_ID }], () => source),
      queue,
      log,
    },
  });
  return {
    sandbox,
    source,
    config,
    log,
    tokenStore,
    alice,
    bob,
    sibling: build,
    webhookUrl: `${server.url}/webhooks/msteams/${SOURCE_ID}`,
    queue,
    close: async () => {
      await server.close();
      await sandbox.close();
    },
  };
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Streams a download through core's verifier into nowhere, like a store would. */
export async function consumeVerified(
  download: DownloadStream,
  onChunk?: (bytesSoFar: number) => void,
): Promise<StreamSummary> {
  const verifier = new RecordingVerifier({ contentLength: download.contentLength });
  let seen = 0;
  const sink = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      seen += chunk.length;
      onChunk?.(seen);
      done();
    },
  });
  await pipeline(download.body, verifier, sink);
  return verifier.summary();
}

export const DAY = new Date('2024-03-12T09:30:00Z');
export const DAY_WINDOW = { from: new Date('2024-03-12T00:00:00Z'), to: new Date('2024-03-13T00:00:00Z') };
