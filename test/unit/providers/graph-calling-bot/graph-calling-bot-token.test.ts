import { afterEach, describe, expect, it } from 'vitest';
import { TransientError } from '../../../../functions/core/errors';
import type { ArchiveJob } from '../../../../functions/core/jobs';
import type { JobQueue } from '../../../../functions/core/ports';
import { receiveWebhook } from '../../../../functions/core/receive-webhook';
import {
  NotificationTokenRefusedError,
  type TokenRefusalReason,
} from '../../../../functions/providers/graph-calling-bot/graph-calling-bot-token';
import {
  callStateNotification,
  commsNotificationsBody,
  type NotificationTokenFault,
} from '../../../../sandbox/providers/graph-calling-bot-sandbox';
import { fixedSourceRegistry } from '../../../support/fixed-source-registry';
import {
  type GraphHarness,
  notificationRequest,
  recordingLog,
  SOURCE_ID,
  startGraphHarness,
} from './graph-calling-bot-fixture';

const COOLDOWN_MS = 60_000;

function capturingQueue(): JobQueue & { jobs: ArchiveJob[] } {
  const jobs: ArchiveJob[] = [];
  return { jobs, enqueue: async (batch) => void jobs.push(...batch) };
}

/** A delivery that is acceptable once authenticated: a call state change (202, nothing enqueued). */
const stateChange = commsNotificationsBody([callStateNotification('4c1f0a77-call', 'established')]);

describe('msgraph notification tokens', () => {
  let harness: GraphHarness | undefined;
  afterEach(async () => harness?.sandbox.close());

  it('accepts an RS256 token from the published keys with the right issuer, audience and tenant', async () => {
    // Prepare
    harness = await startGraphHarness();
    const token = await harness.sandbox.signNotificationToken();

    // Act
    const outcome = await harness.source.handleWebhook(notificationRequest(stateChange, token));

    // Assess
    expect(outcome.response.status).toBe(202);
    expect(outcome.jobs).toEqual([]);
    expect(harness.sandbox.counters).toMatchObject({ openIdConfigurationRequests: 1, keySetRequests: 1 });
  });

  it('accepts both documented issuers by default', async () => {
    harness = await startGraphHarness();
    for (const iss of ['https://graph.microsoft.com', 'https://api.botframework.com']) {
      const token = await harness.sandbox.signNotificationToken({ claims: { iss } });
      const outcome = await harness.source.handleWebhook(notificationRequest(stateChange, token));
      expect(outcome.response.status).toBe(202);
    }
  });

  describe('signers: Bot Framework and Microsoft Entra (Azure AD)', () => {
    it('accepts tokens of either signer, each checked against its own keys', async () => {
      // Prepare
      harness = await startGraphHarness({
        configFromSandbox: (sandbox) => ({
          openIdConfigurationUrl: undefined,
          notificationSigners: sandbox.notificationSigners,
        }),
      });
      const botFramework = await harness.sandbox.signNotificationToken();
      const entra = await harness.sandbox.signNotificationToken({ signer: 'azure-ad' });

      // Act
      const outcomes = [];
      for (const token of [botFramework, entra]) {
        outcomes.push(await harness.source.handleWebhook(notificationRequest(stateChange, token)));
      }

      // Assess: one fetch of each signer's configuration and keys.
      expect(outcomes.map((outcome) => outcome.response.status)).toEqual([202, 202]);
      expect(harness.sandbox.counters).toMatchObject({ keySetRequests: 1, azureAdKeyRequests: 2 });
      const accepted = harness.log.lines.filter((line) => line.message === 'msgraph notifications accepted');
      expect(accepted.map((line) => line.attributes?.issuer)).toEqual([
        'https://graph.microsoft.com',
        harness.sandbox.azureAdIssuer,
      ]);
    });

    it('refuses an Entra issuer signed with a Bot Framework key, and the reverse', async () => {
      // Prepare
      harness = await startGraphHarness({
        configFromSandbox: (sandbox) => ({
          openIdConfigurationUrl: undefined,
          notificationSigners: sandbox.notificationSigners,
        }),
      });
      const crossed = [
        await harness.sandbox.signNotificationToken({ claims: { iss: harness.sandbox.azureAdIssuer } }),
        await harness.sandbox.signNotificationToken({
          signer: 'azure-ad',
          claims: { iss: 'https://api.botframework.com' },
        }),
      ];

      // Act
      const thrown = [];
      for (const token of crossed) {
        thrown.push(
          await harness.source
            .handleWebhook(notificationRequest(stateChange, token))
            .catch((error: unknown) => error),
        );
      }

      // Assess
      for (const error of thrown) {
        expect(error).toBeInstanceOf(NotificationTokenRefusedError);
        expect(error).toMatchObject({ status: 403, reason: 'unknown-signing-key' });
      }
    });

    it('refuses an Entra token when the config lists only the Bot Framework signer, without fetching its keys', async () => {
      harness = await startGraphHarness({
        configFromSandbox: (sandbox) => ({
          openIdConfigurationUrl: undefined,
          notificationSigners: sandbox.notificationSigners.slice(0, 1),
        }),
      });
      const token = await harness.sandbox.signNotificationToken({ signer: 'azure-ad' });
      const thrown = await harness.source
        .handleWebhook(notificationRequest(stateChange, token))
        .catch((error: unknown) => error);
      expect(thrown).toMatchObject({ status: 403, reason: 'wrong-issuer' });
      expect(harness.sandbox.counters).toMatchObject({ keySetRequests: 0, azureAdKeyRequests: 0 });
    });
  });

  const refusals: [
    string,
    NotificationTokenFault | 'missing' | 'malformed' | 'not-bearer',
    401 | 403,
    TokenRefusalReason,
  ][] = [
    ['no Authorization header', 'missing', 401, 'missing-token'],
    ['a Basic Authorization header', 'not-bearer', 401, 'missing-token'],
    ['a malformed token', 'malformed', 403, 'malformed-token'],
    ['alg none', 'alg-none', 403, 'algorithm-not-allowed'],
    ['HS256 keyed with the public key', 'hs256-public-key', 403, 'algorithm-not-allowed'],
    ['a wrong audience', 'wrong-audience', 403, 'wrong-audience'],
    ['a wrong issuer', 'wrong-issuer', 403, 'wrong-issuer'],
    ['a wrong tenant', 'wrong-tenant', 403, 'wrong-tenant'],
    ['no tenant claim', 'no-tenant', 403, 'missing-claim'],
    ['expiry beyond the skew', 'expired', 403, 'expired'],
    ['nbf in the future beyond the skew', 'not-yet-valid', 403, 'not-yet-valid'],
    ['an unknown kid', 'unknown-kid', 403, 'unknown-signing-key'],
    ['a payload altered after signing', 'tampered', 403, 'bad-signature'],
  ];

  it.each(refusals)(
    'refuses %s with %#: status and reason logged, nothing enqueued, token never logged',
    async (_name, fault, status, reason) => {
      // Prepare
      harness = await startGraphHarness();
      const source = harness.source;
      const log = recordingLog();
      const queue = capturingQueue();
      const sources = fixedSourceRegistry([{ provider: 'msgraph', id: SOURCE_ID }], () => source);
      let request = notificationRequest(stateChange);
      let token: string | undefined;
      if (fault === 'not-bearer') {
        request = { ...request, headers: { ...request.headers, authorization: 'Basic dXNlcjpwYXNz' } };
      } else if (fault === 'malformed') {
        token = 'eyJhbGciOiJSUzI1NiJ9.not-a-payload';
        request = notificationRequest(stateChange, token);
      } else if (fault !== 'missing') {
        token = await harness.sandbox.signNotificationToken({ fault });
        request = notificationRequest(stateChange, token);
      }

      // Act
      const response = await receiveWebhook('msgraph', SOURCE_ID, request, { sources, queue, log });
      const thrown = await source.handleWebhook(request).catch((error: unknown) => error);

      // Assess
      expect(response.status).toBe(status);
      expect(queue.jobs).toEqual([]);
      expect(thrown).toBeInstanceOf(NotificationTokenRefusedError);
      expect(thrown).toMatchObject({ status, reason });
      const refusal = log.lines.find((line) => line.message.includes('not authenticated'));
      expect(String(refusal?.attributes?.reason)).toContain(reason);
      if (token) {
        expect(log.text()).not.toContain(token);
        expect(harness.log.text()).not.toContain(token);
        expect(response.body).not.toContain(token);
      }
    },
  );

  it('allows up to five minutes of clock skew on exp and nbf', async () => {
    // Prepare
    harness = await startGraphHarness();
    const now = Math.floor(harness.clock.now().getTime() / 1000);
    const lateButWithinSkew = await harness.sandbox.signNotificationToken({
      claims: { iat: now - 3900, nbf: now - 3900, exp: now - 280 },
    });
    const earlyButWithinSkew = await harness.sandbox.signNotificationToken({
      claims: { iat: now + 280, nbf: now + 280, exp: now + 3880 },
    });
    const noExpiry = await harness.sandbox.signNotificationToken({ claims: { exp: undefined } });

    // Act
    const late = await harness.source.handleWebhook(notificationRequest(stateChange, lateButWithinSkew));
    const early = await harness.source.handleWebhook(notificationRequest(stateChange, earlyButWithinSkew));
    const unbounded = await harness.source
      .handleWebhook(notificationRequest(stateChange, noExpiry))
      .catch((e) => e);

    // Assess
    expect(late.response.status).toBe(202);
    expect(early.response.status).toBe(202);
    expect(unbounded).toMatchObject({ status: 403, reason: 'missing-claim' });
  });

  it('refuses a token naming no kid while several keys are published', async () => {
    harness = await startGraphHarness();
    await harness.sandbox.rotateKeys();
    const token = await harness.sandbox.signNotificationToken({ fault: 'no-kid' });

    const thrown = await harness.source
      .handleWebhook(notificationRequest(stateChange, token))
      .catch((e) => e);

    expect(thrown).toMatchObject({ status: 403, reason: 'unknown-signing-key' });
  });

  it('picks up a rotated key with exactly one key fetch once the cooldown has passed', async () => {
    // Prepare
    harness = await startGraphHarness();
    await harness.source.handleWebhook(
      notificationRequest(stateChange, await harness.sandbox.signNotificationToken()),
    );
    expect(harness.sandbox.counters.keySetRequests).toBe(1);
    harness.clock.advance(COOLDOWN_MS);
    await harness.sandbox.rotateKeys({ retirePrevious: true });
    const rotated = await harness.sandbox.signNotificationToken();

    // Act
    const first = await harness.source.handleWebhook(notificationRequest(stateChange, rotated));
    const again = await harness.source.handleWebhook(notificationRequest(stateChange, rotated));

    // Assess
    expect(first.response.status).toBe(202);
    expect(again.response.status).toBe(202);
    expect(harness.sandbox.counters.keySetRequests).toBe(2);
  });

  it('refuses a rotated key inside the cooldown without fetching, and accepts it once the minute is over', async () => {
    // Prepare
    harness = await startGraphHarness();
    await harness.source.handleWebhook(
      notificationRequest(stateChange, await harness.sandbox.signNotificationToken()),
    );
    await harness.sandbox.rotateKeys();
    const rotated = await harness.sandbox.signNotificationToken();
    harness.clock.advance(COOLDOWN_MS - 1_000);

    // Act
    const tooSoon = await harness.source
      .handleWebhook(notificationRequest(stateChange, rotated))
      .catch((e) => e);
    const fetchesInsideCooldown = harness.sandbox.counters.keySetRequests;
    harness.clock.advance(1_000);
    const afterCooldown = await harness.source.handleWebhook(notificationRequest(stateChange, rotated));

    // Assess
    expect(tooSoon).toMatchObject({ status: 403, reason: 'unknown-signing-key' });
    expect(fetchesInsideCooldown).toBe(1);
    expect(afterCooldown.response.status).toBe(202);
    expect(harness.sandbox.counters.keySetRequests).toBe(2);
  });

  it('verifies 1,000 valid tokens with one key fetch', async () => {
    // Prepare
    harness = await startGraphHarness();
    const tokens = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        harness!.sandbox.signNotificationToken({ claims: { jti: `t${index}` } }),
      ),
    );

    // Act
    const statuses = await Promise.all(
      Array.from({ length: 1000 }, async (_, index) => {
        const outcome = await harness!.source.handleWebhook(
          notificationRequest(stateChange, tokens[index % tokens.length]),
        );
        return outcome.response.status;
      }),
    );

    // Assess
    expect(new Set(statuses)).toEqual(new Set([202]));
    expect(harness.sandbox.counters.keySetRequests).toBe(1);
    expect(harness.sandbox.counters.openIdConfigurationRequests).toBe(1);
  });

  it('lets 1,000 forged unknown-kid tokens cause at most one key fetch per cooldown interval', async () => {
    // Prepare
    harness = await startGraphHarness();
    await harness.source.handleWebhook(
      notificationRequest(stateChange, await harness.sandbox.signNotificationToken()),
    );
    const forged = await Promise.all(
      Array.from({ length: 10 }, () => harness!.sandbox.signNotificationToken({ fault: 'unknown-kid' })),
    );
    const before = harness.sandbox.counters.keySetRequests;
    const fetchesPerInterval: number[] = [];

    // Act: three cooldown intervals, 1,000 forgeries spread over each (concurrent within a second).
    for (let interval = 0; interval < 3; interval++) {
      const start = harness.sandbox.counters.keySetRequests;
      for (let second = 0; second < 10; second++) {
        const results = await Promise.all(
          Array.from({ length: 100 }, (_, index) =>
            harness!.source
              .handleWebhook(notificationRequest(stateChange, forged[index % forged.length]))
              .catch((error: unknown) => error),
          ),
        );
        for (const result of results)
          expect(result).toMatchObject({ status: 403, reason: 'unknown-signing-key' });
        harness.clock.advance(COOLDOWN_MS / 10);
      }
      fetchesPerInterval.push(harness.sandbox.counters.keySetRequests - start);
    }

    // Assess
    for (const fetches of fetchesPerInterval) expect(fetches).toBeLessThanOrEqual(1);
    expect(harness.sandbox.counters.keySetRequests - before).toBeLessThanOrEqual(3);
  });

  it('answers 503 (retry later) while no key can be fetched, and does not retry the endpoint inside the cooldown', async () => {
    // Prepare
    harness = await startGraphHarness();
    harness.sandbox.injectFault({ kind: 'server-error', status: 503 }, { routes: ['keys'], times: 100 });
    const token = await harness.sandbox.signNotificationToken();
    const log = recordingLog();
    const source = harness.source;
    const sources = fixedSourceRegistry([{ provider: 'msgraph', id: SOURCE_ID }], () => source);
    const queue = capturingQueue();

    // Act
    const direct = await source.handleWebhook(notificationRequest(stateChange, token)).catch((e) => e);
    const statuses = [];
    for (let i = 0; i < 20; i++) {
      statuses.push(
        (
          await receiveWebhook('msgraph', SOURCE_ID, notificationRequest(stateChange, token), {
            sources,
            queue,
            log,
          })
        ).status,
      );
    }

    // Assess
    expect(direct).toBeInstanceOf(TransientError);
    expect(new Set(statuses)).toEqual(new Set([503]));
    expect(harness.sandbox.counters.keySetRequests).toBe(1);
    expect(queue.jobs).toEqual([]);
    expect(log.text()).not.toContain(token);
  });

  it('keeps verifying with the previous keys when a scheduled refresh fails', async () => {
    // Prepare
    harness = await startGraphHarness({ tuning: { keyRefreshIntervalMs: 2 * 60 * 60 * 1000 } });
    const token = await harness.sandbox.signNotificationToken({ lifetimeSeconds: 6 * 3600 });
    await harness.source.handleWebhook(notificationRequest(stateChange, token));
    harness.sandbox.injectFault({ kind: 'server-error' }, { routes: ['keys'] });
    harness.clock.advance(2 * 60 * 60 * 1000);

    // Act
    const stale = await harness.source.handleWebhook(notificationRequest(stateChange, token));
    harness.clock.advance(COOLDOWN_MS);
    const refreshed = await harness.source.handleWebhook(notificationRequest(stateChange, token));

    // Assess
    expect(stale.response.status).toBe(202);
    expect(refreshed.response.status).toBe(202);
    expect(harness.sandbox.counters.keySetRequests).toBe(3);
    expect(harness.log.lines.some((line) => line.level === 'warn' && /previous set/.test(line.message))).toBe(
      true,
    );
  });

  it('refuses keys published on another host than the OpenID configuration', async () => {
    // Prepare
    harness = await startGraphHarness({ sandbox: { jwksUri: 'http://127.0.0.2:9/v1/keys' } });
    const token = await harness.sandbox.signNotificationToken();

    // Act
    const thrown = await harness.source
      .handleWebhook(notificationRequest(stateChange, token))
      .catch((e) => e);

    // Assess
    expect(thrown).toBeInstanceOf(TransientError);
    expect(String(thrown.message)).toMatch(/not in the allowed hosts/);
    expect(harness.sandbox.counters.keySetRequests).toBe(0);
  });
});
