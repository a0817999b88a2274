/**
 * Measurement 5: the Microsoft Graph calling bot in local mode (`startLocalHost`, FsArchiveStore in a temp
 * folder, in-process queue, the webhook over loopback HTTP) against the Graph sandbox:
 * - time from a signed notification to the verified copy (sidecar written) of a 2-minute WAV, sequential;
 * - signing-key fetches for 1,000 valid notifications (target: 1), then for 1,000 forged ones with unknown
 *   `kid`s (target: at most one per unknown-key cooldown interval);
 * - the webhook's reply times under 50 concurrent deliveries of completed recordings, with the worker
 *   fetching behind them (target: p99 under 1 s).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../functions/config';
import { recordingKey } from '../functions/core/keys';
import { silentLog } from '../functions/core/ports';
import { type LocalHost, startLocalHost } from '../functions/local/local-host';
import { DEFAULT_UNKNOWN_KEY_COOLDOWN_MS } from '../functions/providers/graph-calling-bot/openid-key-set';
import {
  callStateNotification,
  commsNotificationsBody,
  type GraphSandbox,
  type GraphSandboxRecording,
  graphBotSourceFields,
  startGraphSandbox,
} from '../sandbox/providers/graph-calling-bot-sandbox';
import { WAV_HEADER_BYTES } from '../sandbox/providers/graph-calling-bot-sandbox-audio';
import { onCleanup } from './lib/processes';
import { round, type Summary, summarise } from './lib/stats';

const SOURCE_ID = 'bench-bot';
/** 16 kHz, 16-bit mono PCM (the sandbox's format) for 120 s. */
export const TWO_MINUTE_WAV_BYTES = 120 * 16_000 * 2 + WAV_HEADER_BYTES;

export interface GraphCallingBotBenchOptions {
  latencyRuns: number;
  keyNotifications: number;
  concurrentDeliveries: number;
  concurrentRounds: number;
}

export interface GraphCallingBotBenchSummary {
  notificationToVerifiedCopyMs: Summary & { bytes: number; verified: number };
  keyFetchesForValid: { notifications: number; fetches: number };
  keyFetchesForUnknownKids: {
    notifications: number;
    fetches: number;
    allowed: number;
    elapsedMs: number;
    cooldownMs: number;
    refused: number;
  };
  webhookUnderConcurrency: {
    concurrency: number;
    deliveries: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    statuses: Record<string, number>;
    archived: number;
  };
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

async function post(url: string, body: string, token: string): Promise<number> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body,
  });
  await response.arrayBuffer();
  return response.status;
}

async function verifiedSidecar(host: LocalHost, recording: GraphSandboxRecording, days: Date[]) {
  for (const day of days) {
    const key = recordingKey({
      provider: 'msgraph',
      sourceId: SOURCE_ID,
      recordingId: recording.operationId,
      startedAt: day,
      fileExtension: 'wav',
    });
    const sidecar = await host.store.readSidecar(key);
    if (sidecar) return sidecar.sha256 === recording.sha256;
  }
  return false;
}

export async function measureGraphCallingBot(
  options: GraphCallingBotBenchOptions,
  log: (line: string) => void,
): Promise<GraphCallingBotBenchSummary> {
  const root = await mkdtemp(join(tmpdir(), 'callvault-bench-msgraph-'));
  const sandbox: GraphSandbox = await startGraphSandbox({ host: '127.0.0.1' });
  const config = parseConfig({
    sources: [graphBotSourceFields(sandbox, SOURCE_ID)],
    local: { port: 0, archiveDir: join(root, 'archive'), stateDir: join(root, 'state') },
    sweep: { enabled: false },
    worker: { concurrency: 4 },
  });
  const host = await startLocalHost({ config, log: silentLog });
  const cleanup = onCleanup('msgraph bench', async () => {
    await host.stop();
    await sandbox.close();
    await rm(root, { recursive: true, force: true });
  });
  try {
    const url = `${host.webhookUrl}/webhooks/msgraph/${SOURCE_ID}`;
    const token = await sandbox.signNotificationToken();

    // 1. Keys for valid notifications: the first fetch serves all of them.
    const idle = commsNotificationsBody([callStateNotification('bench-call', 'established')]);
    const fetchesBefore = sandbox.counters.keySetRequests;
    for (let i = 0; i < options.keyNotifications; i++) {
      const status = await post(url, idle, await sandbox.signNotificationToken());
      if (status !== 202) throw new Error(`a valid notification answered ${status}`);
    }
    const keyFetchesForValid = {
      notifications: options.keyNotifications,
      fetches: sandbox.counters.keySetRequests - fetchesBefore,
    };
    log(
      `msgraph: ${keyFetchesForValid.fetches} key fetch(es) for ${options.keyNotifications} valid notifications`,
    );

    // 2. Forged tokens naming a fresh unknown kid each.
    const forgedBefore = sandbox.counters.keySetRequests;
    const forgedStarted = performance.now();
    let refused = 0;
    for (let i = 0; i < options.keyNotifications; i++) {
      const status = await post(url, idle, await sandbox.signNotificationToken({ fault: 'unknown-kid' }));
      if (status === 401 || status === 403) refused += 1;
    }
    const elapsedMs = performance.now() - forgedStarted;
    const keyFetchesForUnknownKids = {
      notifications: options.keyNotifications,
      fetches: sandbox.counters.keySetRequests - forgedBefore,
      allowed: 1 + Math.floor(elapsedMs / DEFAULT_UNKNOWN_KEY_COOLDOWN_MS),
      elapsedMs: round(elapsedMs, 0),
      cooldownMs: DEFAULT_UNKNOWN_KEY_COOLDOWN_MS,
      refused,
    };
    log(
      `msgraph: ${keyFetchesForUnknownKids.fetches} key fetch(es) for ${options.keyNotifications} unknown kids in ${round(elapsedMs / 1000, 1)} s (${refused} refused)`,
    );

    // 3. Notification → verified copy of a 2-minute WAV, one at a time.
    const latencies: number[] = [];
    let verified = 0;
    for (let run = 0; run < options.latencyRuns; run++) {
      const recording = sandbox.addRecording({ size: TWO_MINUTE_WAV_BYTES });
      const body = sandbox.completedNotification(recording);
      const before = new Date();
      const started = performance.now();
      const status = await post(url, body, token);
      await host.idle();
      latencies.push(performance.now() - started);
      if (status !== 202) throw new Error(`a completed recording's notification answered ${status}`);
      if (await verifiedSidecar(host, recording, [before, new Date()])) verified += 1;
    }
    const latency = summarise(latencies);
    log(`msgraph: notification → verified copy of a 2-minute WAV: median ${latency.median} ms`);

    // 4. Reply times under concurrent deliveries, the worker fetching behind them.
    const replies: number[] = [];
    const statuses: Record<string, number> = {};
    const delivered: GraphSandboxRecording[] = [];
    for (let round = 0; round < options.concurrentRounds; round++) {
      const batch = Array.from({ length: options.concurrentDeliveries }, () => sandbox.addRecording());
      delivered.push(...batch);
      const bodies = batch.map((recording) => sandbox.completedNotification(recording));
      await Promise.all(
        bodies.map(async (body) => {
          const started = performance.now();
          const status = await post(url, body, token);
          replies.push(performance.now() - started);
          statuses[status] = (statuses[status] ?? 0) + 1;
        }),
      );
    }
    await host.idle();
    let archived = 0;
    const today = new Date();
    for (const recording of delivered) {
      if (await verifiedSidecar(host, recording, [recording.createdAt, today])) archived += 1;
    }
    const webhookUnderConcurrency = {
      concurrency: options.concurrentDeliveries,
      deliveries: replies.length,
      p50Ms: round(percentile(replies, 50), 1),
      p99Ms: round(percentile(replies, 99), 1),
      maxMs: round(Math.max(...replies), 1),
      statuses,
      archived,
    };
    log(
      `msgraph: ${replies.length} deliveries, ${options.concurrentDeliveries} at a time: p99 ${webhookUnderConcurrency.p99Ms} ms; ${archived} archived`,
    );
    return {
      notificationToVerifiedCopyMs: { ...latency, bytes: TWO_MINUTE_WAV_BYTES, verified },
      keyFetchesForValid,
      keyFetchesForUnknownKids,
      webhookUnderConcurrency,
    };
  } finally {
    await cleanup();
  }
}
