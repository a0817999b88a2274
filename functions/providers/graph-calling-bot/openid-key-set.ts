/**
 * The keys Microsoft signs calling-bot notifications with, from an OpenID configuration's `jwks_uri`.
 * Key selection and import are jose's (`createLocalJWKSet`); this class only decides when to fetch:
 * - the set is kept for `refreshIntervalMs` (hours), then fetched again before the next verification;
 * - a token whose `kid` the set lacks triggers a fetch only if none was attempted in the last
 *   `unknownKeyCooldownMs`, so forged tokens cannot make us hammer the key endpoint, while a real key
 *   rotation is picked up within that interval;
 * - the cooldown counts attempts, failed ones included (jose's remote set counts successes only, so a
 *   key endpoint that is down would be asked again on every forged token), and concurrent callers share
 *   one fetch;
 * - a failed refresh keeps serving the keys it has (logged); with no keys at all it throws TransientError
 *   so the delivery is answered 503 and redelivered, never silently accepted or refused.
 * Time comes from the injected Clock, so tests pin it.
 */
import { type CryptoKey, createLocalJWKSet, errors, type JWSHeaderParameters, type LocalJWKSet } from 'jose';
import { TransientError } from '../../core/errors';
import type { Clock, Log } from '../../core/ports';
import { describeUrl, sendHttpRequest } from '../http';
import { jsonOf } from '../shared/authorised-client';
import { pinnedOrigin } from '../shared/download-hosts';
import { jsonObject } from '../shared/json';

export const DEFAULT_KEY_REFRESH_INTERVAL_MS = 2 * 60 * 60 * 1000;
export const DEFAULT_UNKNOWN_KEY_COOLDOWN_MS = 60 * 1000;
/** The key endpoint is asked while a webhook waits for its answer: keep it short. */
const KEY_FETCH_TIMEOUT_MS = 5_000;
/** A key set is a few kilobytes; anything much larger is not one. */
const MAX_KEY_DOCUMENT_BYTES = 256 * 1024;

export interface OpenIdKeySetOptions {
  openIdConfigurationUrl: string;
  clock: Clock;
  log: Log;
  refreshIntervalMs?: number;
  unknownKeyCooldownMs?: number;
  fetchTimeoutMs?: number;
}

export interface KeySetStats {
  /** Key set fetches attempted (each is one OpenID configuration and one `jwks_uri` request). */
  fetches: number;
  failedFetches: number;
}

export class OpenIdKeySet {
  readonly stats: KeySetStats = { fetches: 0, failedFetches: 0 };
  private readonly configurationUrl: URL;
  private readonly clock: Clock;
  private readonly log: Log;
  private readonly refreshIntervalMs: number;
  private readonly unknownKeyCooldownMs: number;
  private readonly fetchTimeoutMs: number;
  private keys: LocalJWKSet | undefined;
  private fetchedAtMs = Number.NEGATIVE_INFINITY;
  private attemptedAtMs = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<void> | undefined;

  constructor(options: OpenIdKeySetOptions) {
    this.configurationUrl = new URL(options.openIdConfigurationUrl);
    this.clock = options.clock;
    this.log = options.log;
    this.refreshIntervalMs = options.refreshIntervalMs ?? DEFAULT_KEY_REFRESH_INTERVAL_MS;
    this.unknownKeyCooldownMs = options.unknownKeyCooldownMs ?? DEFAULT_UNKNOWN_KEY_COOLDOWN_MS;
    this.fetchTimeoutMs = options.fetchTimeoutMs ?? KEY_FETCH_TIMEOUT_MS;
  }

  /** The key for a token's protected header; jose's `jwtVerify` calls it once per token. */
  readonly resolve = async (header: JWSHeaderParameters): Promise<CryptoKey> => {
    const now = this.clock.now().getTime();
    if (!this.keys || now - this.fetchedAtMs >= this.refreshIntervalMs) {
      await this.refreshIfCooledDown(now, 'scheduled');
    }
    const keys = this.keys;
    if (!keys) throw new TransientError('no notification signing keys are available yet');
    try {
      return await keys(header);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      // A rotation publishes the new key before tokens use it: look once, then wait out the cooldown.
      if (!(await this.refreshIfCooledDown(now, 'unknown-kid'))) throw error;
      const refreshed = this.keys;
      if (!refreshed) throw error;
      return refreshed(header);
    }
  };

  /** Fetches unless an attempt was made within the cooldown; true when a fetch completed successfully. */
  private async refreshIfCooledDown(now: number, why: 'scheduled' | 'unknown-kid'): Promise<boolean> {
    if (this.inFlight) {
      // Someone else is fetching already: share its outcome instead of asking again.
      return this.inFlight.then(
        () => true,
        () => false,
      );
    }
    if (now - this.attemptedAtMs < this.unknownKeyCooldownMs) return false;
    this.attemptedAtMs = now;
    this.inFlight = this.fetchKeys(now, why);
    try {
      await this.inFlight;
      return true;
    } catch (error) {
      this.stats.failedFetches += 1;
      const reason = error instanceof Error ? error.message : String(error);
      if (this.keys) {
        this.log.warn('msgraph signing keys could not be refreshed; still using the previous set', {
          why,
          reason,
        });
        return false;
      }
      this.log.error('msgraph signing keys could not be fetched', { why, reason });
      // Whatever went wrong (endpoint down, a jwks_uri on a foreign host), the delivery is answered 503
      // so the platform tries again, and the error log says why.
      throw new TransientError(`signing keys could not be fetched: ${reason}`, { cause: error });
    } finally {
      this.inFlight = undefined;
    }
  }

  private async fetchKeys(now: number, why: string): Promise<void> {
    this.stats.fetches += 1;
    // The keys must come from where the configuration does: a tampered or mistaken `jwks_uri` elsewhere
    // would let someone else's keys vouch for notifications.
    const allowedHosts = [pinnedOrigin(this.configurationUrl)];
    const request = { allowedHosts, maxRedirects: 0, connectTimeoutMs: this.fetchTimeoutMs };
    const timed = {
      ...request,
      idleTimeoutMs: this.fetchTimeoutMs,
      maxResponseBytes: MAX_KEY_DOCUMENT_BYTES,
    };
    const jwksUri = jsonObject(jsonOf(await sendHttpRequest(this.configurationUrl.href, timed)))?.jwks_uri;
    if (typeof jwksUri !== 'string' || jwksUri === '') {
      throw new TransientError(
        `OpenID configuration at ${describeUrl(this.configurationUrl)} has no jwks_uri`,
      );
    }
    const jwks = jsonOf(await sendHttpRequest(jwksUri, timed));
    let keys: LocalJWKSet;
    try {
      keys = createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]);
    } catch (error) {
      throw new TransientError(`key set at ${describeUrl(jwksUri)} is malformed`, { cause: error });
    }
    this.keys = keys;
    this.fetchedAtMs = now;
    this.log.info('msgraph signing keys fetched', {
      why,
      keys: keys.jwks().keys.length,
      from: describeUrl(jwksUri),
    });
  }
}
