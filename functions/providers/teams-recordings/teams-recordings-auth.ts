/**
 * App-only Graph tokens for one Teams source: the client-credentials grant against
 * `{loginUrl}/{tenantId}/oauth2/v2.0/token` with scope `{graphUrl}/.default`, one token shared by every
 * worker through the `TokenStore` (see ../shared/oauth-token.ts). A refused secret is remembered for a
 * while, so a bad credential is one clear failure rather than a token-request storm from every worker.
 */
import {
  credentialsFingerprint,
  requestOAuthToken,
  SharedOAuthToken,
  type SharedOAuthTokenOptions,
} from '../shared/oauth-token';
import { TEAMS_CREDENTIALS_REFUSED_MESSAGE } from './descriptor';
import { AppCredentialsRefusedError } from './teams-recordings-errors';

export interface TeamsRecordingsAuthOptions extends SharedOAuthTokenOptions {
  loginUrl: string;
  graphUrl: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
}

/** The app token of one source; renewal margin five minutes (or a tenth of short lifetimes). */
export class TeamsRecordingsAuth extends SharedOAuthToken {
  constructor(options: TeamsRecordingsAuthOptions) {
    const { key, log, loginUrl, tenantId, graphUrl, clientId, clientSecret } = options;
    const tokenUrl = new URL(`/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`, loginUrl).href;
    const scope = `${graphUrl.replace(/\/+$/, '')}/.default`;
    super(options, {
      credentials: credentialsFingerprint(loginUrl, tenantId, graphUrl, clientId, clientSecret),
      what: 'the Graph token',
      renewalCapSeconds: 300,
      droppedMessage: 'graph access token refused by the API; the next request gets a new one',
      throttledName: 'Entra token endpoint',
      grant: async (_record, signal) => {
        const answer = await requestOAuthToken({
          url: tokenUrl,
          form: { client_id: clientId, client_secret: clientSecret, scope, grant_type: 'client_credentials' },
          maxRedirects: 0,
          signal,
          idleTimeoutMs: options.idleTimeoutMs,
          connectTimeoutMs: options.connectTimeoutMs,
          provider: 'Entra',
          now: options.clock.now(),
        });
        log.info('graph app token obtained', { source: key, expiresIn: answer.expiresIn });
        // App-only tokens carry no refresh token; the scope is the fixed `.default`.
        return { accessToken: answer.accessToken, expiresIn: answer.expiresIn };
      },
      refusedError: (detail, until) =>
        new AppCredentialsRefusedError(
          `Entra refused the app credentials of source ${key} (${detail}); ` +
            `${until ? `no new token request before ${until.toISOString()}: ` : ''}fix the client id or secret`,
        ),
      onRefused: (refusal) =>
        log.error(TEAMS_CREDENTIALS_REFUSED_MESSAGE, {
          source: key,
          status: refusal.status,
          reason: refusal.detail,
        }),
    });
  }
}
