/**
 * The Graph sandbox's signing side: an RS256 key ring published as a JWKS (with rotation), and a signer
 * for the bearer tokens that accompany calling-bot notifications, written from the claims Microsoft's
 * comms samples check (`iss` graph.microsoft.com or api.botframework.com, `aud` the bot's app id, a
 * tenant-id claim). Faults produce the tokens an attacker or a misconfiguration would: expired, not yet
 * valid, unknown key, wrong audience, issuer or tenant, `alg: none`, HS256 keyed with the public key.
 * Signing is jose's.
 */
import { randomBytes } from 'node:crypto';
import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
  UnsecuredJWT,
} from 'jose';
import type { Clock } from '../../functions/core/ports';

export const SANDBOX_ISSUER = 'https://graph.microsoft.com';

export type NotificationTokenFault =
  /** `exp` ten minutes ago: past the five minutes of skew a verifier allows. */
  | 'expired'
  /** `nbf` ten minutes ahead. */
  | 'not-yet-valid'
  /** Signed with a key the JWKS does not publish (fresh `kid`). */
  | 'unknown-kid'
  | 'wrong-audience'
  | 'wrong-issuer'
  | 'wrong-tenant'
  | 'no-tenant'
  /** `{"alg":"none"}` and no signature. */
  | 'alg-none'
  /** HS256 with the published public key (PEM) as the HMAC secret: the classic algorithm confusion. */
  | 'hs256-public-key'
  /** A valid token whose payload was altered after signing. */
  | 'tampered'
  /** Signed with the current key but naming no `kid`. */
  | 'no-kid';

/**
 * Who signs: the Bot Framework (issuer graph.microsoft.com, keys at the Bot Framework OpenID
 * configuration), or Microsoft Entra (issuer `https://sts.windows.net/{tenantId}/`, keys at the tenant's
 * login.microsoftonline.com OpenID configuration).
 */
export type NotificationSignerName = 'bot-framework' | 'azure-ad';

export interface SignOptions {
  fault?: NotificationTokenFault;
  /** Default `bot-framework`. */
  signer?: NotificationSignerName;
  /** Claims to set or override. */
  claims?: JWTPayload;
  /** Token lifetime; default 3600 s (the real tokens live about an hour). */
  lifetimeSeconds?: number;
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

async function newSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
  const kid = randomBytes(20).toString('base64url');
  const jwk = { ...(await exportJWK(publicKey)), kid, use: 'sig', kty: 'RSA' };
  return { kid, privateKey, publicKey, jwk };
}

export class SandboxKeyRing {
  private published: SigningKey[];
  private current: SigningKey;

  private constructor(first: SigningKey) {
    this.published = [first];
    this.current = first;
  }

  static async create(): Promise<SandboxKeyRing> {
    return new SandboxKeyRing(await newSigningKey());
  }

  /** The JWKS document served at `jwks_uri`. */
  jwks(): { keys: JWK[] } {
    return { keys: this.published.map((key) => key.jwk) };
  }

  get currentKid(): string {
    return this.current.kid;
  }

  /**
   * Publishes a new key and signs with it from now on. The previous keys stay published unless
   * `retirePrevious`, as a real rotation overlaps old and new.
   */
  async rotate(options: { retirePrevious?: boolean } = {}): Promise<string> {
    const next = await newSigningKey();
    this.published = options.retirePrevious ? [next] : [...this.published, next];
    this.current = next;
    return next.kid;
  }

  async sign(
    claims: JWTPayload,
    key: SigningKey = this.current,
    options: { kid?: boolean } = {},
  ): Promise<string> {
    const kid = options.kid === false ? {} : { kid: key.kid };
    return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...kid }).sign(key.privateKey);
  }

  async signUnpublished(claims: JWTPayload): Promise<string> {
    return this.sign(claims, await newSigningKey());
  }

  async signHs256WithPublicKey(claims: JWTPayload): Promise<string> {
    const pem = await exportSPKI(this.current.publicKey);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: this.current.kid })
      .sign(new TextEncoder().encode(pem));
  }
}

export interface NotificationSignerOptions {
  keys: SandboxKeyRing;
  clock: Clock;
  botAppId: string;
  tenantId: string;
  issuer?: string;
}

/** Signs the bearer token of one notification delivery. */
export async function signNotificationToken(
  signer: NotificationSignerOptions,
  options: SignOptions = {},
): Promise<string> {
  const now = Math.floor(signer.clock.now().getTime() / 1000);
  const lifetime = options.lifetimeSeconds ?? 3600;
  const claims: JWTPayload = {
    iss: signer.issuer ?? SANDBOX_ISSUER,
    aud: signer.botAppId,
    tid: signer.tenantId,
    appid: signer.botAppId,
    iat: now,
    nbf: now,
    exp: now + lifetime,
    ...options.claims,
  };
  switch (options.fault) {
    case 'expired':
      Object.assign(claims, { iat: now - lifetime - 600, nbf: now - lifetime - 600, exp: now - 600 });
      break;
    case 'not-yet-valid':
      Object.assign(claims, { nbf: now + 600, iat: now + 600, exp: now + 600 + lifetime });
      break;
    case 'wrong-audience':
      claims.aud = '00000000-0000-0000-0000-00000000a0d1';
      break;
    case 'wrong-issuer':
      claims.iss = 'https://sts.windows.net/attacker/';
      break;
    case 'wrong-tenant':
      claims.tid = '00000000-0000-0000-0000-0000000017d0';
      break;
    case 'no-tenant':
      delete claims.tid;
      break;
    default:
      break;
  }
  if (options.fault === 'alg-none') return new UnsecuredJWT(claims).encode();
  if (options.fault === 'unknown-kid') return signer.keys.signUnpublished(claims);
  if (options.fault === 'hs256-public-key') return signer.keys.signHs256WithPublicKey(claims);
  if (options.fault === 'no-kid') return signer.keys.sign(claims, undefined, { kid: false });
  const token = await signer.keys.sign(claims);
  if (options.fault === 'tampered') {
    const [header, , signature] = token.split('.');
    const altered = Buffer.from(JSON.stringify({ ...claims, tid: signer.tenantId, extra: 'x' })).toString(
      'base64url',
    );
    return `${header}.${altered}.${signature}`;
  }
  return token;
}
