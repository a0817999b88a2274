import { afterEach, describe, expect, it } from 'vitest';
import { RateLimitedError } from '../../../../functions/core/errors';
import type { RequestLogEntry } from '../../../../sandbox/providers/ringcentral-sandbox';
import { JWT_GRANT } from '../../../../sandbox/providers/ringcentral-sandbox';
import {
  collect,
  consumeVerified,
  JAN_2024,
  JAN_WINDOW,
  type RingCentralHarness,
  startHarness,
} from './ringcentral-fixture';

const heavy = (log: readonly RequestLogEntry[]) => log.filter((entry) => entry.group === 'heavy');

/** Gaps between consecutive entries, in ms. */
function gaps(entries: readonly RequestLogEntry[]): number[] {
  return entries.slice(1).map((entry, index) => entry.atMs - (entries[index]?.atMs ?? 0));
}

describe('RingCentral Heavy-group gate', () => {
  let harness: RingCentralHarness | undefined;
  afterEach(async () => harness?.sandbox.close());

  it('after a 429 no Heavy request of any worker leaves before Retry-After has passed', async () => {
    // Prepare
    harness = await startHarness({ tuning: { maxGateWaitMs: 10_000 } });
    harness.sandbox.addCall({ startedAt: JAN_2024 });
    const [recording] = await collect(harness.source.listRecordings(JAN_WINDOW));
    harness.sandbox.injectFault({ kind: 'rate-limit', retryAfterSeconds: 2 }, { routes: 'content' });
    const other = harness.sibling();

    // Act: the 429, then three Heavy requests from two workers right away.
    const throttled = await harness.source.openDownload(recording!).catch((error: unknown) => error);
    const refused = heavy(harness.sandbox.requestLog).find((entry) => entry.status === 429);
    const [download, listed, otherDownload] = await Promise.all([
      harness.source.openDownload(recording!).then(consumeVerified),
      collect(other.listRecordings(JAN_WINDOW)),
      other.openDownload(recording!).then(consumeVerified),
    ]);

    // Assess
    expect(throttled).toBeInstanceOf(RateLimitedError);
    expect((throttled as RateLimitedError).retryAfterSeconds).toBe(2);
    expect(refused).toBeDefined();
    const after = heavy(harness.sandbox.requestLog).filter(
      (entry) => entry.atMs >= refused!.atMs && entry !== refused,
    );
    expect(after).toHaveLength(3);
    for (const entry of after) expect(entry.atMs - refused!.atMs).toBeGreaterThanOrEqual(2000);
    expect(listed.map((item) => item.recordingId)).toEqual([recording?.recordingId]);
    expect(download.sha256).toBe(harness.sandbox.expectedSha256(recording!.recordingId));
    expect(otherDownload.sha256).toBe(download.sha256);
  });

  it('hands a job back (RateLimitedError) instead of waiting longer than maxGateWaitMs, without sending', async () => {
    // Prepare
    harness = await startHarness({ tuning: { maxGateWaitMs: 500 } });
    harness.sandbox.addCall({ startedAt: JAN_2024 });
    const [recording] = await collect(harness.source.listRecordings(JAN_WINDOW));
    harness.sandbox.injectFault({ kind: 'rate-limit', retryAfterSeconds: 30 }, { routes: 'content' });
    await harness.source.openDownload(recording!).catch(() => undefined);
    const before = harness.sandbox.requestLog.length;

    // Act
    const failure = await harness
      .sibling()
      .openDownload(recording!)
      .catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(RateLimitedError);
    expect((failure as RateLimitedError).retryAfterSeconds).toBeGreaterThanOrEqual(29);
    expect(harness.sandbox.requestLog.length).toBe(before);
  });

  it('paces Heavy requests evenly from rateLimits.heavyPerMinute', async () => {
    // Prepare: 120 a minute is one every 500 ms (plus a 5 % margin); the sandbox agrees on the figure.
    harness = await startHarness({
      config: { rateLimits: { heavyPerMinute: 120 } },
      sandbox: { rateLimits: { heavy: { limit: 120, windowSeconds: 60 } } },
    });

    // Act: four listings from two workers at once.
    await Promise.all([
      collect(harness.source.listRecordings(JAN_WINDOW)),
      collect(harness.source.listRecordings(JAN_WINDOW)),
      collect(harness.sibling().listRecordings(JAN_WINDOW)),
      collect(harness.sibling().listRecordings(JAN_WINDOW)),
    ]);

    // Assess
    const calls = heavy(harness.sandbox.requestLog);
    expect(calls).toHaveLength(4);
    // Slots are 525 ms apart; gaps are measured at arrival, so a little network jitter is allowed.
    for (const gap of gaps(calls)) expect(gap).toBeGreaterThanOrEqual(475);
  });

  it("adopts RingCentral's X-Rate-Limit-Limit and -Window over the configured budget", async () => {
    // Prepare: configured 600 a minute, but the app's plan allows 3 a second.
    harness = await startHarness({
      config: { rateLimits: { heavyPerMinute: 600 } },
      sandbox: { rateLimits: { heavy: { limit: 3, windowSeconds: 1 } } },
    });

    // Act: five listings one after another; at the configured pace the fourth would be throttled.
    for (let index = 0; index < 5; index++) await collect(harness.source.listRecordings(JAN_WINDOW));

    // Assess
    const calls = heavy(harness.sandbox.requestLog);
    expect(calls.map((entry) => entry.status)).toEqual([200, 200, 200, 200, 200]);
    // Slots 350 ms apart (1 s / 3, plus the margin) instead of the configured 105 ms; measured at arrival.
    for (const gap of gaps(calls)) expect(gap).toBeGreaterThanOrEqual(300);
    expect(harness.sandbox.counters.throttled.heavy).toBe(0);
  });

  it('keeps what it learns per rate group: a media host reporting another group does not speed up the Heavy pacing', async () => {
    // Prepare: Heavy allows 3 per 2 s; the media host counts content in Medium (100 per 2 s) and says so.
    harness = await startHarness({
      tuning: { maxGateWaitMs: 10_000 },
      config: { rateLimits: { heavyPerMinute: 600 } },
      sandbox: {
        contentRateGroup: 'medium',
        rateLimits: { heavy: { limit: 3, windowSeconds: 2 }, medium: { limit: 100, windowSeconds: 2 } },
      },
    });
    harness.sandbox.addCall({ startedAt: JAN_2024, size: 2_000 });
    const [recording] = await collect(harness.source.listRecordings(JAN_WINDOW));

    // Act: four downloads (Medium's figures come back with each), then three workers list at once
    // (Heavy): their slots are taken before any answer could correct a pacing learnt from Medium.
    for (let index = 0; index < 4; index++)
      await consumeVerified(await harness.source.openDownload(recording!));
    const contentDone = Date.now();
    const workers = [harness.source, harness.sibling(), harness.sibling()];
    await Promise.all(workers.map((worker) => collect(worker.listRecordings(JAN_WINDOW))));

    // Assess: no Heavy 429, and the listings kept Heavy's pace (2 s / 3 plus the margin).
    const log = harness.sandbox.requestLog;
    const listings = log.filter((entry) => entry.route === 'call-log');
    const downloads = log.filter((entry) => entry.route === 'content');
    expect(listings.map((entry) => entry.status)).toEqual([200, 200, 200, 200]);
    expect(downloads.map((entry) => [entry.group, entry.status])).toEqual(
      downloads.map(() => ['medium', 200]),
    );
    expect(harness.sandbox.counters.throttled).toMatchObject({ heavy: 0, medium: 0 });
    for (const gap of gaps(listings.filter((entry) => entry.atMs >= contentDone))) {
      // Slots 700 ms apart (Medium's pacing would give 21 ms); measured at arrival on a busy machine.
      expect(gap).toBeGreaterThanOrEqual(500);
    }
  });

  it('closes the gate for the rest of the window when another client of the user spent the budget', async () => {
    // Prepare: a Heavy window of 2 requests per 2 s, spent by another app of the same user.
    harness = await startHarness({
      tuning: { maxGateWaitMs: 10_000 },
      sandbox: { rateLimits: { heavy: { limit: 2, windowSeconds: 2 } } },
    });
    const { sandbox } = harness;
    const token = await fetch(`${sandbox.url}/restapi/oauth/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${sandbox.clientId}:${sandbox.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: JWT_GRANT, assertion: sandbox.jwt }),
    }).then(async (response) => ((await response.json()) as { access_token: string }).access_token);
    for (let index = 0; index < 2; index++) {
      await fetch(`${sandbox.url}/restapi/v1.0/account/~/call-log?view=Detailed`, {
        headers: { authorization: `Bearer ${token}` },
      }).then((response) => response.arrayBuffer());
    }

    // Act
    const throttled = await collect(harness.source.listRecordings(JAN_WINDOW)).catch(
      (error: unknown) => error,
    );
    const refused = heavy(sandbox.requestLog).find((entry) => entry.status === 429);
    const listed = await collect(harness.sibling().listRecordings(JAN_WINDOW));

    // Assess
    expect(throttled).toBeInstanceOf(RateLimitedError);
    const retryAfter = (throttled as RateLimitedError).retryAfterSeconds ?? 0;
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(listed).toEqual([]);
    const next = heavy(sandbox.requestLog).at(-1);
    expect(next?.status).toBe(200);
    expect(next!.atMs - refused!.atMs).toBeGreaterThanOrEqual(retryAfter * 1000);
  });
});
