/**
 * RingCentral sessions for one source, shared through the `TokenStore`: refresh near expiry, JWT login
 * only when the refresh is refused or an API call answered 401. A refused JWT is remembered, so a bad
 * credential is one clear failure, not a login storm against the small Auth group.
 */
import { CallvaultError } from '../../core/errors';
import type { TokenRecord } from '../../core/shared-state';
import {
  credentialsFingerprint,
  requestOAuthToken,
  SharedOAuthToken,
  type SharedOAuthTokenOptions,
  type TokenGrant,
  TokenRequestRefused,
} from '../shared/oauth-token';
import { RINGCENTRAL_LOGIN_REFUSED_MESSAGE } from './descriptor';

const JWT_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** Refused credentials: not retryable (only a human can fix them; retries spend the scarce Auth budget). */
export class CredentialsRefusedError extends CallvaultError {
  readonly code = 'UNAUTHENTICATED' as const;
  readonly retryable = false;
}

export interface RingCentralAuthOptions extends SharedOAuthTokenOptions {
  serverUrl: string;
  clientId: string;
  clientSecret: string;
  jwt: string;
  /** Sees the `scope` of every token this holder obtains (the app's permissions; undefined if absent). */
  onScope?: (scope: string | undefined) => void;
}

/** The session of one source; renewal margin 60 s (or a tenth of short lifetimes). */
export class RingCentralAuth extends SharedOAuthToken {
  constructor(options: RingCentralAuthOptions) {
    const { key, log } = options;
    const tokenUrl = new URL('/restapi/oauth/token', options.serverUrl).href;
    const basic = Buffer.from(`${options.clientId}:${options.clientSecret}`).toString('base64');
    /** One POST with the app's Basic credentials. */
    const request = (form: Record<string, string>, signal?: AbortSignal) =>
      requestOAuthToken({
        url: tokenUrl,
        form,
        headers: { authorization: `Basic ${basic}` },
        signal,
        idleTimeoutMs: options.idleTimeoutMs,
        connectTimeoutMs: options.connectTimeoutMs,
        provider: 'RingCentral',
        maxDetail: 200,
        now: options.clock.now(),
      });
    /** Refresh when the refresh token is still good; log in when it is not or when it is refused. */
    const grant = async (record: TokenRecord | undefined, signal?: AbortSignal): Promise<TokenGrant> => {
      if (record?.refreshToken && (record.refreshUsableUntilMs ?? 0) > options.clock.now().getTime()) {
        try {
          const answer = await request(
            { grant_type: 'refresh_token', refresh_token: record.refreshToken },
            signal,
          );
          log.debug('ringcentral session refreshed', { source: key });
          options.onScope?.(answer.scope);
          return answer;
        } catch (error) {
          if (!(error instanceof TokenRequestRefused)) throw error;
          log.info('ringcentral refresh token refused; logging in again', {
            source: key,
            reason: error.detail,
          });
        }
      }
      const answer = await request({ grant_type: JWT_GRANT_TYPE, assertion: options.jwt }, signal);
      // `event` is what the login-count metric filter matches (logins per source and hour).
      log.info('ringcentral login (JWT grant)', { source: key, event: 'RINGCENTRAL_LOGIN' });
      options.onScope?.(answer.scope);
      return answer;
    };
    super(options, {
      credentials: credentialsFingerprint(options.serverUrl, options.clientId, options.jwt),
      what: 'the RingCentral session',
      renewalCapSeconds: 60,
      droppedMessage: 'ringcentral access token refused by the API; the next request logs in again',
      throttledName: 'RingCentral Auth group',
      grant,
      refusedError: (detail, until) =>
        new CredentialsRefusedError(
          until
            ? `RingCentral refused the credentials of source ${key} (${detail}); ` +
                `no new login before ${until.toISOString()}: fix the app's client id/secret or the JWT`
            : `RingCentral refused the JWT login of source ${key} (${detail}); fix the app's client id/secret or the JWT`,
        ),
      onRefused: (refusal) =>
        log.error(RINGCENTRAL_LOGIN_REFUSED_MESSAGE, {
          source: key,
          errorCode: 'RINGCENTRAL_LOGIN_REFUSED',
          status: refusal.status,
          reason: refusal.detail,
        }),
    });
  }
}
