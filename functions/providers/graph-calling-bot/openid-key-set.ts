/**
 * The keys Microsoft signs calling-bot notifications with, from an OpenID configuration's `jwks_uri`;
 * jose selects and imports them (`createLocalJWKSet`), this class decides when to fetch:
 * - every `keyRefreshIntervalMs`, and for an unknown `kid` at most once per `unknownKeyCooldownMs`, so
 *   forged tokens cannot hammer the endpoint while a rotation is still picked up;
 * - the cooldown counts failed attempts too (jose's remote set does not), and concurrent callers share one;
 * - a failed refresh keeps the keys it has; with none it throws TransientError (503, redelivered).
 */
import { type CryptoKey, createLocalJWKSet, errors, type JWSHeaderParameters, type LocalJWKSet } from 'jose';
import { TransientError } from '../../core/errors';
import type { Clock, Log } from '../../core/ports';
import { describeUrl, requestJson } from '../http';
import { pinnedOrigin } from '../shared/download-hosts';
import { jsonObject } from '../shared/json';

export const DEFAULT_UNKNOWN_KEY_COOLDOWN_MS = 60 * 1000;
/** The key endpoint is asked while a webhook waits for its answer: keep it short. */
const KEY_FETCH_TIMEOUT_MS = 5_000;
/** A key set is a few kilobytes; anything much larger is not one. */
const MAX_KEY_DOCUMENT_BYTES = 256 * 1024;

export interface OpenIdKeySetOptions {
  openIdConfigurationUrl: string;
  clock: Clock;
  log: Log;
  keyRefreshIntervalMs: number;
  unknownKeyCooldownMs: number;
}

export class OpenIdKeySet {
  private readonly configurationUrl: URL;
  private keys: LocalJWKSet | undefined;
  private fetchedAtMs = Number.NEGATIVE_INFINITY;
  private attemptedAtMs = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly options: OpenIdKeySetOptions) {
    this.configurationUrl = new URL(options.openIdConfigurationUrl);
  }

  /** The key for a token's protected header; jose's `jwtVerify` calls it once per token. */
  readonly resolve = async (header: JWSHeaderParameters): Promise<CryptoKey> => {
    const now = this.options.clock.now().getTime();
    if (!this.keys || now - this.fetchedAtMs >= this.options.keyRefreshIntervalMs) {
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
    if (now - this.attemptedAtMs < this.options.unknownKeyCooldownMs) return false;
    this.attemptedAtMs = now;
    this.inFlight = this.fetchKeys(now, why);
    try {
      await this.inFlight;
      return true;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (this.keys) {
        this.options.log.warn('msgraph signing keys could not be refreshed; still using the previous set', {
          why,
          reason,
        });
        return false;
      }
      this.options.log.error('msgraph signing keys could not be fetched', { why, reason });
      // Whatever went wrong (endpoint down, a jwks_uri on a foreign host), the delivery is answered 503
      // so the platform tries again, and the error log says why.
      throw new TransientError(`signing keys could not be fetched: ${reason}`, { cause: error });
    } finally {
      this.inFlight = undefined;
    }
  }

  private async fetchKeys(now: number, why: string): Promise<void> {
    const { configurationUrl } = this;
    const request = {
      // The keys must come from where the configuration does: a tampered or mistaken `jwks_uri` elsewhere
      // would let someone else's keys vouch for notifications.
      allowedHosts: [pinnedOrigin(configurationUrl)],
      maxRedirects: 0,
      connectTimeoutMs: KEY_FETCH_TIMEOUT_MS,
      idleTimeoutMs: KEY_FETCH_TIMEOUT_MS,
      maxResponseBytes: MAX_KEY_DOCUMENT_BYTES,
    };
    const jwksUri = jsonObject(await requestJson(configurationUrl.href, request))?.jwks_uri;
    if (typeof jwksUri !== 'string' || jwksUri === '') {
      throw new TransientError(`OpenID configuration at ${describeUrl(configurationUrl)} has no jwks_uri`);
    }
    const jwks = await requestJson(jwksUri, request);
    let keys: LocalJWKSet;
    try {
      keys = createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]);
    } catch (error) {
      throw new TransientError(`key set at ${describeUrl(jwksUri)} is malformed`, { cause: error });
    }
    this.keys = keys;
    this.fetchedAtMs = now;
    this.options.log.info('msgraph signing keys fetched', {
      why,
      keys: keys.jwks().keys.length,
      from: describeUrl(jwksUri),
    });
  }
}
