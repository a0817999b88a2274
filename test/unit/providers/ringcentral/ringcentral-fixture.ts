/** Shared set-up for the RingCentral adapter tests: a sandbox on loopback and an adapter pointed at it. */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Clock, DownloadStream } from '../../../../functions/core/ports';
import {
  InProcessRateGateStore,
  InProcessTokenStore,
  type RateGateStore,
  type TokenStore,
} from '../../../../functions/core/shared-state';
import { RecordingVerifier, type StreamSummary } from '../../../../functions/core/verify-stream';
import {
  type RingCentralSourceConfig,
  ringCentralSourceSchema,
} from '../../../../functions/providers/ringcentral/ringcentral-config';
import {
  RingCentralSource,
  type RingCentralSourceOptions,
} from '../../../../functions/providers/ringcentral/ringcentral-source';
import {
  type RingCentralSandbox,
  type RingCentralSandboxOptions,
  startRingCentralSandbox,
} from '../../../../sandbox/providers/ringcentral-sandbox';
import { type LogLine, recordingLog } from '../../../support/recording-log';

export const WEBHOOK_SECRET = 'rc-verification-token-0123456789';

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

export interface RingCentralHarness {
  sandbox: RingCentralSandbox;
  source: RingCentralSource;
  config: RingCentralSourceConfig;
  log: ReturnType<typeof recordingLog>;
  tokenStore: TokenStore;
  gateStore: RateGateStore;
  /** Another adapter of the same source (another worker), sharing the stores. */
  sibling(overrides?: Partial<RingCentralSourceOptions>): RingCentralSource;
}

export async function startHarness(
  options: {
    sandbox?: RingCentralSandboxOptions;
    config?: Record<string, unknown>;
    clock?: Clock;
    tuning?: RingCentralSourceOptions['tuning'];
    webhookSecret?: string | null;
    jwt?: string;
  } = {},
): Promise<RingCentralHarness> {
  const sandbox = await startRingCentralSandbox({
    // A generous Heavy budget unless a test is about it: the tests are not about waiting.
    rateLimits: { heavy: { limit: 1000, windowSeconds: 60 }, ...options.sandbox?.rateLimits },
    ...options.sandbox,
  });
  const config = ringCentralSourceSchema.parse({
    provider: 'ringcentral',
    id: 'rc-test',
    serverUrl: sandbox.url,
    mediaUrl: sandbox.mediaUrl,
    rateLimits: { heavyPerMinute: 600 },
    ...options.config,
  });
  const log = recordingLog();
  const tokenStore = new InProcessTokenStore();
  const gateStore = new InProcessRateGateStore();
  const build = (overrides: Partial<RingCentralSourceOptions> = {}) =>
    new RingCentralSource({
      config,
      credentials: {
        clientId: sandbox.clientId,
        clientSecret: sandbox.clientSecret,
        jwt: options.jwt ?? sandbox.jwt,
        webhookSecret: options.webhookSecret === null ? undefined : (options.webhookSecret ?? WEBHOOK_SECRET),
      },
      clock: options.clock,
      log,
      tokenStore,
      rateGateStore: gateStore,
      tuning: { idleTimeoutMs: 2000, connectTimeoutMs: 2000, leasePollMs: 20, ...options.tuning },
      ...overrides,
    });
  return { sandbox, source: build(), config, log, tokenStore, gateStore, sibling: build };
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
export const JAN_WINDOW = { from: new Date('2024-01-10T00:00:00Z'), to: new Date('2024-01-11T00:00:00Z') };
