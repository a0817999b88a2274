/**
 * The provider contract: what every adapter promises behind the one `RecordingSource` interface, checked
 * against its provider's sandbox over HTTP. Each provider's file (`{provider}.contract.test.ts`) builds a
 * harness from the sandbox registry (sandbox/providers/index.ts) and declares what its platform supports
 * and where its adapter is known to differ; every other line is the same for all providers.
 *
 * Webhooks go through core's `receiveWebhook` (the path the webhook Lambda and the local server take),
 * so "refused" means a 401/403 answer with nothing enqueued.
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ExpiredBeforeFetchError,
  GoneAtSourceError,
  NotReadyError,
  PermanentError,
  RateLimitedError,
} from '../../functions/core/errors';
import type { ArchiveJob, DownloadGrant } from '../../functions/core/jobs';
import { recordingFromJob } from '../../functions/core/jobs';
import {
  type DownloadStream,
  type JobQueue,
  type Log,
  type RecordingSource,
  systemClock,
  type WebhookRequest,
} from '../../functions/core/ports';
import { receiveWebhook } from '../../functions/core/receive-webhook';
import type { ProviderName, SourceRecording, TimeWindow } from '../../functions/core/recording';
import { InProcessRateGateStore, InProcessTokenStore } from '../../functions/core/shared-state';
import { RecordingVerifier } from '../../functions/core/verify-stream';
import { createSource } from '../../functions/providers';
import type { ProviderSandboxEntry } from '../../sandbox/providers';
import { fixedSourceRegistry } from '../support/fixed-source-registry';

/** A recording the contract downloads: a listed one, or one a notification granted. */
export interface DownloadTarget {
  recording: SourceRecording;
  grant?: DownloadGrant;
}

/** An authentic delivery announcing a recording, and the recording it names. */
export interface Announcement {
  request: WebhookRequest;
  recordingId: string;
}

/** A delivery the platform never sent (a wrong secret, signature or token) and the status it must get. */
export interface ForgedDelivery {
  why: string;
  request: WebhookRequest;
  status: 401 | 403;
}

/** One running sandbox and the real adapter pointed at it. */
export interface ContractWorld {
  source: RecordingSource;
  /** Adds a finished, downloadable recording whose call started at `startedAt`; returns its recording id. */
  addRecording(startedAt: Date): string;
  /** SHA-256 (hex) of the recording's bytes at the sandbox. */
  expectedSha256(recordingId: string): string;
  /** A recording to download, for sources that cannot list (the contract lists the others itself). */
  grantedTarget?(): Promise<DownloadTarget>;
  /** Listing pages the sandbox has served so far (platforms that page). */
  listingPagesServed?(): number;
  /** The recording stays listed but its content is not there yet. */
  makeNotReady?(recordingId: string): void;
  /** The recording is deleted at the platform behind callvault's back (or discarded by it). */
  makeGone(recordingId: string): void;
  /** Every access token the platform issued stops working (401 from now on). */
  revokeTokens?(): void;
  /** Token (login) requests the sandbox has answered so far. */
  tokenRequests?(): number;
  /**
   * The next `times` requests of the kind `throttledCall` makes answer 429 with the platform's wait
   * figure; returns how many requests the throttle has answered so far.
   */
  throttle(waitSeconds: number, times: number): () => number;
  /** Requests that reached the host serving recording bytes. */
  mediaRequests(): number;
  /** An authentic delivery announcing a new recording. */
  announce(): Promise<Announcement>;
  forgedDeliveries(): Promise<ForgedDelivery[]>;
  /** Recordings deleted through the API (callvault's retention). */
  deletedAtSource?(): string[];
  close(): Promise<void>;
}

export interface ProviderContractHarness {
  provider: ProviderName;
  /** What the platform supports; must agree with the adapter's own `capabilities`. */
  capabilities: {
    list: boolean;
    /** Listings come in pages the adapter follows. */
    paging: boolean;
    /** The platform lists a recording before its content can be fetched. */
    notReady: boolean;
    /** The adapter holds an access token it renews after a 401. */
    tokenRenewal: boolean;
    delete: boolean;
  };
  /** Where this adapter's behaviour differs from the others, declared rather than hidden. */
  expectations: {
    /** What an authentic webhook enqueues: a hint the worker resolves, or a job carrying its download grant. */
    job: 'hint' | 'fetch-now';
    /** A recording served from a host off the allow-list: refused, or fetched another way from the API host. */
    offListHost: 'refused' | 'downloads-from-api-host';
    /** What a download of a recording the platform no longer holds throws. */
    gone: 'gone-at-source' | 'expired-before-fetch';
    /** The call the throttle is armed on. */
    throttledCall: 'listing' | 'download';
    /**
     * A short wait (1 s): the adapter waits it out itself and completes, or hands it back to the queue
     * (RateLimitedError) and succeeds when asked again after it.
     */
    shortWait: 'waits-it-out' | 'hands-back';
    /** The wait the adapter hands back may differ from the platform's figure by this many seconds. */
    waitToleranceSeconds: number;
  };
  start(options?: { offListDownloads?: boolean }): Promise<ContractWorld>;
}

const HOUR = 3_600_000;

class CollectingQueue implements JobQueue {
  readonly jobs: ArchiveJob[] = [];
  async enqueue(jobs: readonly ArchiveJob[]): Promise<void> {
    this.jobs.push(...jobs);
  }
}

const quietLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Streams a download through core's verifier into nowhere, as a store would; returns its SHA-256. */
async function sha256Of(download: DownloadStream): Promise<string> {
  const verifier = new RecordingVerifier({ contentLength: download.contentLength });
  await pipeline(download.body, verifier, new Writable({ write: (_chunk, _encoding, done) => done() }));
  return verifier.summary().sha256;
}

function open(source: RecordingSource, target: DownloadTarget): Promise<DownloadStream> {
  if (target.grant) {
    if (!source.openGrantedDownload) throw new Error(`${source.provider} cannot open granted downloads`);
    return source.openGrantedDownload(target.recording, target.grant);
  }
  return source.openDownload(target.recording);
}

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

async function deliver(world: ContractWorld, request: WebhookRequest) {
  const queue = new CollectingQueue();
  const { provider, sourceId } = world.source;
  const response = await receiveWebhook(provider, sourceId, request, {
    sources: fixedSourceRegistry([{ provider, id: sourceId }], () => world.source),
    queue,
    log: quietLog,
  });
  return { response, jobs: queue.jobs };
}

/** A recording to download: listed from a narrow window around its start, or granted by the sandbox. */
async function newTarget(
  world: ContractWorld,
  startedAt = new Date(Date.now() - 3 * HOUR),
): Promise<DownloadTarget> {
  if (world.grantedTarget) return world.grantedTarget();
  const recordingId = world.addRecording(startedAt);
  const window = { from: new Date(startedAt.getTime() - 60_000), to: new Date(startedAt.getTime() + 60_000) };
  const listed = await collect(world.source.listRecordings(window));
  const recording = listed.find((candidate) => candidate.recordingId === recordingId);
  if (!recording) throw new Error(`the listing of ${world.source.provider} does not show ${recordingId}`);
  return { recording };
}

/** Runs the contract against one provider's sandbox. */
export function providerContract(harness: ProviderContractHarness): void {
  const { capabilities, expectations } = harness;

  describe(`${harness.provider} provider contract`, () => {
    let world: ContractWorld | undefined;
    afterEach(async () => {
      await world?.close();
      world = undefined;
    });

    it('declares the capabilities the harness expects', async () => {
      world = await harness.start();
      const declared = world.source.capabilities ?? { list: true, delete: true };
      expect({ list: declared.list, delete: declared.delete }).toEqual({
        list: capabilities.list,
        delete: capabilities.delete,
      });
      expect(world.source.provider).toBe(harness.provider);
    });

    it.runIf(capabilities.list)(
      'lists every recording whose call started inside the window, once, across pages, and none outside it',
      async () => {
        world = await harness.start();
        const now = Date.now();
        const window: TimeWindow = { from: new Date(now - 20 * HOUR), to: new Date(now - 4 * HOUR) };
        const inside = [19, 16, 13, 10, 7, 5].map((hours) =>
          world!.addRecording(new Date(now - hours * HOUR)),
        );
        const outside = [23, 2].map((hours) => world!.addRecording(new Date(now - hours * HOUR)));
        const pagesBefore = world.listingPagesServed?.() ?? 0;

        const listed = await collect(world.source.listRecordings(window));

        const ids = listed.map((recording) => recording.recordingId);
        expect(new Set(ids).size).toBe(ids.length);
        expect([...ids].sort()).toEqual([...inside].sort());
        for (const id of outside) expect(ids).not.toContain(id);
        for (const recording of listed) {
          expect(recording.provider).toBe(harness.provider);
          expect(recording.sourceId).toBe(world.source.sourceId);
          expect(recording.startedAt.getTime()).toBeGreaterThanOrEqual(window.from.getTime());
          expect(recording.startedAt.getTime()).toBeLessThan(window.to.getTime());
        }
        if (capabilities.paging) {
          expect((world.listingPagesServed?.() ?? 0) - pagesBefore).toBeGreaterThan(1);
        }
      },
    );

    it(`turns an authentic webhook into one ${expectations.job} job that leads to the recording's bytes`, async () => {
      world = await harness.start();
      const announced = await world.announce();

      const { response, jobs } = await deliver(world, announced.request);

      expect(response.status).toBeLessThan(300);
      expect(jobs).toHaveLength(1);
      const [job] = jobs;
      expect(job?.type).toBe(expectations.job);
      let target: DownloadTarget;
      if (job?.type === 'hint') {
        const resolved = await world.source.resolveHint(job);
        const recording = resolved.find((candidate) => candidate.recordingId === announced.recordingId);
        expect(recording).toBeDefined();
        target = { recording: recording as SourceRecording };
      } else if (job?.type === 'fetch-now') {
        target = { recording: recordingFromJob(job), grant: job.grant };
        expect(target.recording.recordingId).toBe(announced.recordingId);
      } else {
        throw new Error(`unexpected job ${JSON.stringify(job)}`);
      }
      expect(await sha256Of(await open(world.source, target))).toBe(
        world.expectedSha256(announced.recordingId),
      );
    });

    it(`never contacts a download host off the allow-list (${expectations.offListHost})`, async () => {
      world = await harness.start({ offListDownloads: true });
      const target = await newTarget(world);

      const attempt = open(world.source, target);

      if (expectations.offListHost === 'refused') {
        expect(await failureOf(attempt)).toBeInstanceOf(Error);
      } else {
        expect(await sha256Of(await attempt)).toBe(world.expectedSha256(target.recording.recordingId));
      }
      expect(world.mediaRequests()).toBe(0);
    });

    it.runIf(capabilities.notReady)(
      'tells content that is not there yet (still listed) from a recording gone at the source',
      async () => {
        world = await harness.start();
        const waiting = await newTarget(world);
        const deleted = await newTarget(world, new Date(Date.now() - 3 * HOUR - 5 * 60_000));
        world.makeNotReady?.(waiting.recording.recordingId);
        world.makeGone(deleted.recording.recordingId);

        const notReady = await failureOf(open(world.source, waiting));
        const gone = await failureOf(open(world.source, deleted));

        expect(notReady).toBeInstanceOf(NotReadyError);
        expect(gone).toBeInstanceOf(GoneAtSourceError);
      },
    );

    it(`ends a download of a recording the platform no longer holds as ${expectations.gone}`, async () => {
      world = await harness.start();
      const target = await newTarget(world);
      world.makeGone(target.recording.recordingId);

      const failure = await failureOf(open(world.source, target));

      expect(failure).toBeInstanceOf(
        expectations.gone === 'gone-at-source' ? GoneAtSourceError : ExpiredBeforeFetchError,
      );
      expect(failure).toMatchObject({ retryable: false });
    });

    it.runIf(capabilities.tokenRenewal)(
      'after a 401 for a revoked token gets a new one once and succeeds',
      async () => {
        world = await harness.start();
        const first = await newTarget(world);
        const tokensBefore = world.tokenRequests?.() ?? 0;
        world.revokeTokens?.();

        const second = await newTarget(world, new Date(Date.now() - 6 * HOUR));
        const bytes = await sha256Of(await open(world.source, first));

        expect(second.recording.recordingId).not.toBe(first.recording.recordingId);
        expect(bytes).toBe(world.expectedSha256(first.recording.recordingId));
        expect((world.tokenRequests?.() ?? 0) - tokensBefore).toBe(1);
      },
    );

    const throttledCall = (current: ContractWorld, target: DownloadTarget | undefined) =>
      target
        ? open(current.source, target).then(sha256Of)
        : collect(current.source.listRecordings({ from: new Date(Date.now() - 5 * HOUR), to: new Date() }));

    it(`hands a long 429 wait back to the queue (${expectations.throttledCall}) instead of asking again`, async () => {
      world = await harness.start();
      const waitSeconds = 120;
      const target = expectations.throttledCall === 'download' ? await newTarget(world) : undefined;
      const throttled = world.throttle(waitSeconds, Infinity);

      const failure = await failureOf(throttledCall(world, target));

      expect(failure).toBeInstanceOf(RateLimitedError);
      const handedBack = (failure as RateLimitedError).retryAfterSeconds ?? 0;
      expect(Math.abs(handedBack - waitSeconds)).toBeLessThanOrEqual(expectations.waitToleranceSeconds);
      expect(throttled()).toBe(1);
    });

    it(`honours a short 429 wait (${expectations.shortWait}) and then succeeds`, async () => {
      world = await harness.start();
      const target = expectations.throttledCall === 'download' ? await newTarget(world) : undefined;
      const throttled = world.throttle(1, 1);
      const started = Date.now();

      if (expectations.shortWait === 'waits-it-out') {
        await throttledCall(world, target);
      } else {
        const failure = await failureOf(throttledCall(world, target));
        expect(failure).toBeInstanceOf(RateLimitedError);
        expect((failure as RateLimitedError).retryAfterSeconds).toBe(1);
        // What the queue does with the wait: the job comes back once it has passed.
        await new Promise((resolve) => setTimeout(resolve, 1_000 - (Date.now() - started)));
        await throttledCall(world, target);
      }

      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
      expect(throttled()).toBe(1);
    });

    it('refuses deliveries with a wrong secret, signature or token, and enqueues nothing', async () => {
      world = await harness.start();
      const forged = await world.forgedDeliveries();
      expect(forged.length).toBeGreaterThan(0);

      for (const delivery of forged) {
        const { response, jobs } = await deliver(world, delivery.request);
        expect({ why: delivery.why, status: response.status, jobs }).toEqual({
          why: delivery.why,
          status: delivery.status,
          jobs: [],
        });
      }
    });

    if (capabilities.delete) {
      it('deletes exactly the one recording, then reports it already gone', async () => {
        world = await harness.start();
        const target = await newTarget(world);
        const kept = await newTarget(world, new Date(Date.now() - 3 * HOUR - 10 * 60_000));

        const first = await world.source.deleteRecording(target.recording);
        const second = await world.source.deleteRecording(target.recording);

        expect([first, second]).toEqual(['deleted', 'already-gone']);
        expect(world.deletedAtSource?.()).toEqual([target.recording.recordingId]);
        expect(await sha256Of(await open(world.source, kept))).toBe(
          world.expectedSha256(kept.recording.recordingId),
        );
      });
    } else {
      it('refuses to delete: the platform keeps nothing retention may delete', async () => {
        world = await harness.start();
        const target = await newTarget(world);

        const failure = await failureOf(world.source.deleteRecording(target.recording));

        expect(failure).toBeInstanceOf(PermanentError);
        expect(await sha256Of(await open(world.source, target))).toBe(
          world.expectedSha256(target.recording.recordingId),
        );
      });
    }
  });
}

/**
 * The real adapter for a running sandbox, built the way the hosts build it: the config and secret values
 * from the sandbox registry, validated and constructed by the provider registry (`createSource`).
 */
export function sourceFor<Running extends { close(): Promise<void> }>(
  entry: ProviderSandboxEntry<Running>,
  running: Running,
  options: { offListDownloads?: boolean } = {},
): Promise<RecordingSource> {
  const config = entry.sourceConfig(
    running,
    `contract-${entry.provider}`,
    options.offListDownloads ? { allowedDownloadHosts: entry.offListDownloadHosts(running) } : {},
  );
  return createSource(
    config,
    { values: entry.credentials(running), origin: 'the sandbox registry' },
    {
      clock: systemClock,
      log: quietLog,
      sharedState: { tokens: new InProcessTokenStore(), gates: new InProcessRateGateStore() },
      deletesAtSource: true,
    },
  );
}
