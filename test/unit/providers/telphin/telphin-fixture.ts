/** Shared set-up for the Telphin adapter tests: a sandbox on loopback and an adapter pointed at it. */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Clock, DownloadStream } from '../../../../functions/core/ports';
import { RecordingVerifier, type StreamSummary } from '../../../../functions/core/verify-stream';
import {
  type TelphinSourceConfig,
  telphinSourceSchema,
} from '../../../../functions/providers/telphin/telphin-config';
import {
  TelphinSource,
  type TelphinSourceOptions,
} from '../../../../functions/providers/telphin/telphin-source';
import {
  startTelphinSandbox,
  type TelphinSandbox,
  type TelphinSandboxOptions,
} from '../../../../sandbox/providers/telphin-sandbox';
import { type LogLine, recordingLog } from '../../../support/recording-log';

export const WEBHOOK_SECRET = 'webhook-secret-0123456789abcdef';

export { type LogLine, recordingLog };

/** A clock tests move by hand. */
export function manualClock(start = new Date()): Clock & { advance(ms: number): void } {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    advance: (ms) => {
      now += ms;
    },
  };
}

export interface TelphinHarness {
  sandbox: TelphinSandbox;
  source: TelphinSource;
  config: TelphinSourceConfig;
  log: ReturnType<typeof recordingLog>;
}

export async function startHarness(
  options: {
    sandbox?: TelphinSandboxOptions;
    config?: Record<string, unknown>;
    clock?: Clock;
    tuning?: TelphinSourceOptions['tuning'];
    webhookSecret?: string | null;
  } = {},
): Promise<TelphinHarness> {
  const sandbox = await startTelphinSandbox({ listLatencyMs: 5, ...options.sandbox });
  const config = telphinSourceSchema.parse({
    provider: 'telphin',
    id: 'telphin-test',
    apiUrl: sandbox.url,
    allowedDownloadHosts: ['127.0.0.1', 'localhost'],
    ...options.config,
  });
  const log = recordingLog();
  const source = new TelphinSource({
    config,
    credentials: {
      clientId: sandbox.clientId,
      clientSecret: sandbox.clientSecret,
      webhookSecret: options.webhookSecret === null ? undefined : (options.webhookSecret ?? WEBHOOK_SECRET),
    },
    clock: options.clock,
    log,
    tuning: { concurrentRetryDelayMs: 20, idleTimeoutMs: 2000, connectTimeoutMs: 2000, ...options.tuning },
  });
  return { sandbox, source, config, log };
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Streams a download through core's verifier into nowhere, like a store would. */
export async function consumeVerified(download: DownloadStream, sourceSize?: number): Promise<StreamSummary> {
  const verifier = new RecordingVerifier({ contentLength: download.contentLength, sourceSize });
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  await pipeline(download.body, verifier, sink);
  return verifier.summary();
}

export const JAN_2024 = new Date('2024-01-10T10:00:00Z');
