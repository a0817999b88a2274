import { afterEach, describe, expect, it } from 'vitest';
import { UnauthenticatedError } from '../../../../functions/core/errors';
import { TelphinSource } from '../../../../functions/providers/telphin/telphin-source';
import { collect, JAN_2024, manualClock, startHarness, type TelphinHarness } from './telphin-fixture';

const window = { from: new Date('2024-01-10T00:00:00Z'), to: new Date('2024-01-11T00:00:00Z') };

describe('Telphin OAuth token handling', () => {
  let harness: TelphinHarness | undefined;
  afterEach(async () => harness?.sandbox.close());

  it('reuses one token across calls while it is valid', async () => {
    // Prepare
    harness = await startHarness();
    harness.sandbox.addRecording({ startedAt: JAN_2024 });

    // Act
    await collect(harness.source.listRecordings(window));
    await collect(harness.source.listRecordings(window));
    await harness.source.stats(window);

    // Assess
    expect(harness.sandbox.counters.tokenRequests).toBe(1);
    expect(harness.sandbox.counters.listCalls).toBe(2);
  });

  it('requests a new token once the cached one nears expires_in', async () => {
    // Prepare
    const clock = manualClock();
    harness = await startHarness({ clock, sandbox: { tokenTtlSeconds: 600, clock } });
    await collect(harness.source.listRecordings(window));

    // Act: 9 minutes later the token is within its renewal margin (60 s or 10 %).
    clock.advance(9 * 60 * 1000 + 1000);
    await collect(harness.source.listRecordings(window));

    // Assess: renewed before the sandbox ever had to refuse it.
    expect(harness.sandbox.counters.tokenRequests).toBe(2);
    expect(harness.sandbox.counters.unauthorizedRequests).toBe(0);
  });

  it('drops the token after a 401 and retries the request once with a fresh one', async () => {
    // Prepare
    harness = await startHarness();
    harness.sandbox.addRecording({ startedAt: JAN_2024 });
    await collect(harness.source.listRecordings(window));
    harness.sandbox.revokeTokens();

    // Act
    const listed = await collect(harness.source.listRecordings(window));

    // Assess
    expect(listed).toHaveLength(1);
    expect(harness.sandbox.counters.tokenRequests).toBe(2);
    expect(harness.sandbox.counters.unauthorizedRequests).toBe(1);
  });

  it('renews after the server expired the token early (short expires_in)', async () => {
    // Prepare: the sandbox's clock runs ahead of the adapter's, so the server expires the token first.
    const serverClock = manualClock();
    harness = await startHarness({ sandbox: { clock: serverClock, tokenTtlSeconds: 5 } });
    await collect(harness.source.listRecordings(window));
    serverClock.advance(10_000);

    // Act
    await collect(harness.source.listRecordings(window));

    // Assess
    expect(harness.sandbox.counters.unauthorizedRequests).toBe(1);
    expect(harness.sandbox.counters.tokenRequests).toBe(2);
  });

  it('shares one in-flight token request between concurrent callers', async () => {
    // Prepare
    harness = await startHarness();
    const recording = harness.sandbox.addRecording({ startedAt: JAN_2024 });
    const listed = await collect(harness.source.listRecordings(window));
    const fresh = new TelphinSource({
      config: harness.config,
      credentials: { clientId: harness.sandbox.clientId, clientSecret: harness.sandbox.clientSecret },
    });
    const before = harness.sandbox.counters.tokenRequests;

    // Act: three calls that do not share the list mutex, all needing a token at once.
    const results = await Promise.all(
      [1, 2, 3].map(async () => {
        const download = await fresh.openDownload(listed[0]!);
        download.body.resume();
        return download.contentLength;
      }),
    );

    // Assess
    expect(results).toEqual([recording.size, recording.size, recording.size]);
    expect(harness.sandbox.counters.tokenRequests - before).toBe(1);
  });

  it('refuses wrong credentials without echoing the secret', async () => {
    // Prepare
    harness = await startHarness();
    const wrong = new TelphinSource({
      config: harness.config,
      credentials: { clientId: harness.sandbox.clientId, clientSecret: 'super-secret-value-42' },
    });

    // Act
    const failure = await collect(wrong.listRecordings(window)).catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(UnauthenticatedError);
    expect(String((failure as Error).message)).not.toContain('super-secret-value-42');
    expect(String((failure as Error).message)).toMatch(/refused the client credentials/);
  });
});
