/**
 * Authenticates a calling-bot notification's Bearer JWT with jose: RS256 by a key of the signer naming its
 * `iss` (the unverified `iss` only picks the signer), `aud` the bot's app id, `tid` the configured tenant,
 * `exp` required, 5 minutes of skew. jose's failures become actionable refusals; no message holds the token.
 */
import { decodeJwt, errors, jwtVerify } from 'jose';
import { CallvaultError, UnauthenticatedError } from '../../core/errors';
import type { Clock } from '../../core/ports';
import type { OpenIdKeySet } from './openid-key-set';

export const MAX_CLOCK_SKEW_SECONDS = 5 * 60;

export type TokenRefusalReason =
  | 'missing-token'
  | 'malformed-token'
  | 'algorithm-not-allowed'
  | 'unknown-signing-key'
  | 'bad-signature'
  | 'expired'
  | 'not-yet-valid'
  | 'wrong-issuer'
  | 'wrong-audience'
  | 'wrong-tenant'
  | 'missing-claim';

/** A refused notification: 401 without a token, 403 with one that does not hold. */
export class NotificationTokenRefusedError extends UnauthenticatedError {
  readonly status: 401 | 403;

  constructor(
    readonly reason: TokenRefusalReason,
    detail: string,
  ) {
    super(`notification token refused (${reason}): ${detail}`);
    this.status = reason === 'missing-token' ? 401 : 403;
  }
}

/** One accepted signer: its issuers and the keys of its OpenID configuration. */
export interface TokenSigner {
  issuers: readonly string[];
  keys: OpenIdKeySet;
}

type JoseErrorClass = abstract new (...args: never[]) => Error;

/** jose's failures, in the order they are told apart, and the refusal each one is. */
const REFUSALS: [JoseErrorClass, TokenRefusalReason, string][] = [
  [errors.JOSEAlgNotAllowed, 'algorithm-not-allowed', 'only RS256 is accepted'],
  [errors.JWKSNoMatchingKey, 'unknown-signing-key', 'no published signing key matches its kid'],
  // Microsoft's tokens name their key; one that names none (or an ambiguous one) is not theirs.
  [errors.JWKSMultipleMatchingKeys, 'unknown-signing-key', 'its kid names no single published key'],
  [errors.JWSSignatureVerificationFailed, 'bad-signature', 'signature does not verify'],
  [errors.JWTExpired, 'expired', `expired more than ${MAX_CLOCK_SKEW_SECONDS} s ago`],
];

/** Invalid claims jose reports, by claim; any other is a malformed token. */
const CLAIM_REFUSALS = new Map<string, [TokenRefusalReason, string]>([
  ['nbf', ['not-yet-valid', `not valid for more than ${MAX_CLOCK_SKEW_SECONDS} s yet`]],
  ['iss', ['wrong-issuer', 'issuer not allowed']],
  ['aud', ['wrong-audience', "audience is not this bot's app id"]],
]);

function refusalFor(error: unknown): NotificationTokenRefusedError {
  const known = REFUSALS.find(([type]) => error instanceof type);
  if (known) return new NotificationTokenRefusedError(known[1], known[2]);
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') {
      return new NotificationTokenRefusedError('missing-claim', `no "${error.claim}" claim`);
    }
    const [reason, detail] = CLAIM_REFUSALS.get(error.claim) ?? [
      'malformed-token',
      `claim "${error.claim}" is invalid`,
    ];
    return new NotificationTokenRefusedError(reason, detail);
  }
  if (error instanceof errors.JOSEError) {
    // Structure faults (not three parts, bad base64, bad JSON, unsupported key types): the codes are stable
    // and carry no token material.
    return new NotificationTokenRefusedError('malformed-token', error.code);
  }
  return new NotificationTokenRefusedError('malformed-token', 'not a JWT');
}

export class NotificationTokenVerifier {
  constructor(
    private readonly policy: { botAppId: string; tenantId: string },
    private readonly signers: readonly TokenSigner[],
    private readonly clock: Clock,
  ) {}

  /** The signer naming the token's (not yet verified) issuer; jose then verifies it against that one. */
  private signerFor(token: string): TokenSigner {
    let issuer: unknown;
    try {
      issuer = decodeJwt(token).iss;
    } catch (error) {
      throw refusalFor(error);
    }
    if (typeof issuer !== 'string')
      throw new NotificationTokenRefusedError('missing-claim', 'no "iss" claim');
    const signer = this.signers.find((candidate) => candidate.issuers.includes(issuer));
    if (!signer) throw new NotificationTokenRefusedError('wrong-issuer', 'issuer not allowed');
    return signer;
  }

  /** Throws NotificationTokenRefusedError (401/403), or TransientError when no keys can be had. */
  async verify(authorization: string | undefined) {
    const token = /^\s*Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
    if (!token) {
      throw new NotificationTokenRefusedError(
        'missing-token',
        authorization ? 'Authorization is not a Bearer token' : 'no Authorization header',
      );
    }
    const signer = this.signerFor(token);
    const { payload, protectedHeader } = await jwtVerify(token, signer.keys.resolve, {
      algorithms: ['RS256'],
      issuer: [...signer.issuers],
      audience: this.policy.botAppId,
      requiredClaims: ['exp'],
      clockTolerance: MAX_CLOCK_SKEW_SECONDS,
      currentDate: this.clock.now(),
    }).catch((error: unknown) => {
      // Our own errors (the key endpoint is down) are not the sender's fault: they surface as 503.
      throw error instanceof CallvaultError ? error : refusalFor(error);
    });
    const tenant = typeof payload.tid === 'string' ? payload.tid : undefined;
    if (!tenant) throw new NotificationTokenRefusedError('missing-claim', 'no "tid" claim');
    // GUIDs compare case-insensitively; Entra writes them in lower case, configs may not.
    if (tenant.toLowerCase() !== this.policy.tenantId.toLowerCase()) {
      throw new NotificationTokenRefusedError('wrong-tenant', 'tenant is not the configured one');
    }
    return { issuer: String(payload.iss), tenantId: tenant, keyId: protectedHeader.kid };
  }
}
