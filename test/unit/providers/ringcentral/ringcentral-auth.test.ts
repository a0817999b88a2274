import { afterEach, describe, expect, it } from 'vitest';
import { RateLimitedError } from '../../../../functions/core/errors';
import { decideRetry } from '../../../../functions/core/retry-policy';
import { CredentialsRefusedError } from '../../../../functions/providers/ringcentral/ringcentral-auth';
import {
  collect,
  consumeVerified,
  JAN_2024,
  JAN_WINDOW,
  manualClock,
  type RingCentralHarness,
  startHarness,
} from './ringcentral-fixture';

describe('RingCentral session handling', () => {
  let harness: RingCentralHarness | undefined;
  afterEach(async () => harness?.sandbox.close());

  it('logs in once (JWT grant, Basic client credentials) and reuses the token for every request', async () => {
    // Prepare
    harness = await startHarness();
    harness.sandbox.addCall({ startedAt: JAN_2024 });

    // Act
    const listed = await collect(harness.source.listRecordings(JAN_WINDOW));
    await collect(harness.source.listRecordings(JAN_WINDOW));
    await consumeVerified(await harness.source.openDownload(listed[0]!));

    // Assess
    expect(harness.sandbox.counters.logins).toBe(1);
    expect(harness.sandbox.counters.tokenRequests).toBe(1);
    const tokenRequest = harness.sandbox.requestLog.find((entry) => entry.route === 'token');
    expect(tokenRequest).toMatchObject({ path: '/restapi/oauth/token', authorization: 'Basic', query: '' });
    const others = harness.sandbox.requestLog.filter((entry) => entry.route !== 'token');
    expect(others.every((entry) => entry.authorization === 'Bearer')).toBe(true);
  });

  it('shares one session between workers of the same source and between concurrent callers', async () => {
    // Prepare
    harness = await startHarness();
    const call = harness.sandbox.addCall({ startedAt: JAN_2024 });
    const workers = [harness.source, harness.sibling(), harness.sibling()];

    // Act: three workers, each with three requests in flight, none holding a token yet.
    await Promise.all(
      workers.flatMap((worker) => [1, 2, 3].map(() => collect(worker.listRecordings(JAN_WINDOW)))),
    );

    // Assess
    expect(call.recording).toBeDefined();
    expect(harness.sandbox.counters.logins).toBe(1);
    expect(harness.sandbox.counters.callLogCalls).toBe(9);
  });

  it('uses the refresh token shortly before the access token expires, and logs in no more', async () => {
    // Prepare
    const clock = manualClock();
    harness = await startHarness({ clock, sandbox: { clock, accessTokenTtlSeconds: 600 } });
    await collect(harness.source.listRecordings(JAN_WINDOW));

    // Act: 9.5 minutes later the token is inside its renewal margin (60 s, or a tenth of 600 s).
    clock.advance(9.5 * 60_000);
    await collect(harness.source.listRecordings(JAN_WINDOW));
    clock.advance(9.5 * 60_000);
    await collect(harness.source.listRecordings(JAN_WINDOW));

    // Assess
    expect(harness.sandbox.counters.logins).toBe(1);
    expect(harness.sandbox.counters.refreshes).toBe(2);
    expect(harness.sandbox.counters.unauthorizedRequests).toBe(0);
  });

  it('logs in again once after a 401, without trying the refresh token first', async () => {
    // Prepare
    harness = await startHarness();
    harness.sandbox.addCall({ startedAt: JAN_2024 });
    await collect(harness.source.listRecordings(JAN_WINDOW));
    harness.sandbox.revokeTokens();

    // Act
    const listed = await collect(harness.source.listRecordings(JAN_WINDOW));

    // Assess
    expect(listed).toHaveLength(1);
    expect(harness.sandbox.counters.unauthorizedRequests).toBe(1);
    expect(harness.sandbox.counters.logins).toBe(2);
    expect(harness.sandbox.counters.refreshes).toBe(0);
  });

  it('falls back to a login when the refresh token is refused', async () => {
    // Prepare: the session is ended server-side while the token is due for renewal.
    const clock = manualClock();
    harness = await startHarness({ clock, sandbox: { clock, accessTokenTtlSeconds: 600 } });
    await collect(harness.source.listRecordings(JAN_WINDOW));
    harness.sandbox.revokeTokens();
    clock.advance(9.5 * 60_000);

    // Act
    await collect(harness.source.listRecordings(JAN_WINDOW));

    // Assess
    expect(harness.sandbox.counters.tokenRequests).toBe(3);
    expect(harness.sandbox.counters.refreshes).toBe(0);
    expect(harness.sandbox.counters.logins).toBe(2);
  });

  it('fails clearly on a refused JWT, and no worker tries again during the cool-down (no login storm)', async () => {
    // Prepare
    harness = await startHarness({ jwt: 'eyJhbGciOiJSUzI1NiJ9.revoked-secret-jwt.sig' });
    const workers = [harness.source, harness.sibling(), harness.sibling()];

    // Act: many jobs, several workers, one after another and at once.
    const failures: unknown[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const results = await Promise.allSettled(
        workers.map((worker) => collect(worker.listRecordings(JAN_WINDOW))),
      );
      for (const result of results) if (result.status === 'rejected') failures.push(result.reason);
    }

    // Assess
    expect(failures).toHaveLength(9);
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(CredentialsRefusedError);
      expect((failure as CredentialsRefusedError).retryable).toBe(false);
      expect((failure as Error).message).not.toContain('revoked-secret-jwt');
    }
    expect((failures[0] as Error).message).toMatch(/refused the (JWT login|credentials).*invalid_grant/);
    expect(decideRetry(failures[0] as CredentialsRefusedError, 1)).toMatchObject({ action: 'dead-letter' });
    expect(harness.sandbox.counters.tokenRequests).toBe(1);
    expect(harness.sandbox.counters.callLogCalls).toBe(0);
  });

  it('tries the JWT again after the cool-down', async () => {
    // Prepare
    const clock = manualClock();
    harness = await startHarness({ clock, sandbox: { clock }, tuning: { refusalCooldownMs: 60_000 } });
    harness.sandbox.refuseJwt(true);
    await expect(collect(harness.source.listRecordings(JAN_WINDOW))).rejects.toBeInstanceOf(
      CredentialsRefusedError,
    );
    harness.sandbox.refuseJwt(false);

    // Act
    const blocked = await collect(harness.source.listRecordings(JAN_WINDOW)).catch((error: unknown) => error);
    clock.advance(61_000);
    const listed = await collect(harness.source.listRecordings(JAN_WINDOW));

    // Assess
    expect(blocked).toBeInstanceOf(CredentialsRefusedError);
    expect(listed).toEqual([]);
    expect(harness.sandbox.counters.tokenRequests).toBe(2);
    expect(harness.sandbox.counters.logins).toBe(1);
  });

  it('lets fixed credentials log in at once: the refusal belongs to the credentials that were refused', async () => {
    // Prepare
    harness = await startHarness({ jwt: 'eyJhbGciOiJSUzI1NiJ9.stale.sig' });
    await expect(collect(harness.source.listRecordings(JAN_WINDOW))).rejects.toBeInstanceOf(
      CredentialsRefusedError,
    );
    const rotated = harness.sibling({
      credentials: {
        clientId: harness.sandbox.clientId,
        clientSecret: harness.sandbox.clientSecret,
        jwt: harness.sandbox.jwt,
      },
    });

    // Act
    const listed = await collect(rotated.listRecordings(JAN_WINDOW));

    // Assess
    expect(listed).toEqual([]);
    expect(harness.sandbox.counters.refusedLogins).toBe(1);
    expect(harness.sandbox.counters.logins).toBe(1);
  });

  it('waits out an Auth-group 429 for every worker instead of asking again', async () => {
    // Prepare
    const clock = manualClock();
    harness = await startHarness({ clock, sandbox: { clock } });
    harness.sandbox.injectFault({ kind: 'rate-limit', retryAfterSeconds: 30 }, { routes: 'token' });

    // Act
    const first = await collect(harness.source.listRecordings(JAN_WINDOW)).catch((error: unknown) => error);
    const second = await collect(harness.sibling().listRecordings(JAN_WINDOW)).catch(
      (error: unknown) => error,
    );
    clock.advance(31_000);
    await collect(harness.source.listRecordings(JAN_WINDOW));

    // Assess
    expect(first).toBeInstanceOf(RateLimitedError);
    expect((first as RateLimitedError).retryAfterSeconds).toBe(30);
    expect(second).toBeInstanceOf(RateLimitedError);
    expect(harness.sandbox.requestLog.filter((entry) => entry.route === 'token')).toHaveLength(2);
    expect(harness.sandbox.counters.logins).toBe(1);
  });
});
