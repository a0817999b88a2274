/**
 * Configuration of a Microsoft Graph calling-bot source: which bot's `recordResponse` notifications are
 * accepted (audience, tenant, issuers, signing keys) and where their recordings may be fetched from.
 * The source is off unless `mediaPersistenceApproved` is `true`: Microsoft's documentation says apps may
 * not persist call media, so archiving it is a decision someone must take, on record, after legal review.
 */
import * as z from 'zod';
import { hostPatternSchema } from '../../config/fields';
import { guidSchema, httpsOrLoopback, sourceFields } from '../shared/source-fields';

/** The Bot Framework signer: where calling-bot notification tokens have been signed so far. */
export const MSGRAPH_OPENID_CONFIGURATION_URL =
  'https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration';
export const MSGRAPH_ISSUERS = ['https://graph.microsoft.com', 'https://api.botframework.com'] as const;

/** `{tenantId}` in a signer's URL or issuers stands for the source's `tenantId`. */
export const TENANT_PLACEHOLDER = '{tenantId}';

/**
 * The Microsoft Entra (Azure AD) signer, which Microsoft has told bot developers to accept beside the
 * Bot Framework one: issuer `https://sts.windows.net/{tenantId}/`, keys from the tenant's OpenID
 * configuration at login.microsoftonline.com (its `jwks_uri` is on the same host).
 */
export const AZURE_AD_OPENID_CONFIGURATION_URL = `https://login.microsoftonline.com/${TENANT_PLACEHOLDER}/.well-known/openid-configuration`;
export const AZURE_AD_ISSUER = `https://sts.windows.net/${TENANT_PLACEHOLDER}/`;

export interface NotificationSigner {
  openIdConfigurationUrl: string;
  issuers: readonly string[];
}

/** Both signers Microsoft uses for these tokens: what a source accepts unless its config says otherwise. */
export const DEFAULT_NOTIFICATION_SIGNERS: readonly NotificationSigner[] = [
  { openIdConfigurationUrl: MSGRAPH_OPENID_CONFIGURATION_URL, issuers: MSGRAPH_ISSUERS },
  { openIdConfigurationUrl: AZURE_AD_OPENID_CONFIGURATION_URL, issuers: [AZURE_AD_ISSUER] },
];

/** The README section the refusal points to; keep both in step. */
export const MEDIA_PERSISTENCE_README_SECTION = 'Microsoft Graph calling bot: media persistence';

export const MEDIA_PERSISTENCE_MESSAGE =
  'must be true. Microsoft documents that apps may not record or persist media from the calls they ' +
  'access, so this source archives nothing until you confirm, with this field, that your organisation ' +
  'has approved keeping these recordings (legal review). See the README section ' +
  `"${MEDIA_PERSISTENCE_README_SECTION}".`;

/** https, or plain http on a loopback host (sandboxes only). */
const keyEndpointUrlSchema = z.url().refine((value) => httpsOrLoopback(new URL(value)), {
  message: 'must be an https URL (plain http only on a loopback host)',
});

const signerSchema = z
  .object({
    /** Where this signer publishes its keys; its `jwks_uri` must be on the same host. */
    openIdConfigurationUrl: keyEndpointUrlSchema,
    /** The `iss` values of its tokens; a token is checked against the keys of the signer naming its issuer. */
    issuers: z.array(z.string().min(1)).min(1),
  })
  .strict();

export const msgraphSourceSchema = z
  .object({
    ...sourceFields('msgraph'),
    /** The bot's Entra application (client) id: the `aud` every notification token must carry. */
    botAppId: guidSchema('bot application id'),
    /** The one tenant whose notifications are accepted (the token's `tid` claim). */
    tenantId: guidSchema('tenant id'),
    /**
     * Who may sign notification tokens: {OpenID configuration, issuers} pairs. Default: the Bot Framework
     * and the Entra (Azure AD) signers (DEFAULT_NOTIFICATION_SIGNERS).
     */
    notificationSigners: z.array(signerSchema).min(1).optional(),
    /** The Bot Framework signer's key endpoint, in place of the default (the Entra signer stays). */
    openIdConfigurationUrl: keyEndpointUrlSchema.optional(),
    /** The Bot Framework signer's issuers, in place of the default (the Entra signer stays). */
    allowedIssuers: z.array(z.string().min(1)).min(1).optional(),
    /**
     * Hosts `recordingLocation` may point at (`host` or `host:port`). Required, no default: the location
     * is not documented beyond an example, and a guessed list would either refuse real recordings
     * quietly or let a forged location make us fetch from anywhere.
     */
    allowedDownloadHosts: z.array(hostPatternSchema).min(1, 'list at least one host'),
    mediaPersistenceApproved: z.literal(true, { error: MEDIA_PERSISTENCE_MESSAGE }),
    /** The platform keeps nothing to delete: retention never applies to this source. */
    retention: z.literal(false).optional(),
  })
  .strict()
  .superRefine((config, context) => {
    if (config.notificationSigners && (config.openIdConfigurationUrl || config.allowedIssuers)) {
      context.addIssue({
        code: 'custom',
        path: ['notificationSigners'],
        message: 'set either notificationSigners or openIdConfigurationUrl/allowedIssuers, not both',
      });
    }
    const seen = new Set<string>();
    for (const signer of notificationSignersOf(config)) {
      for (const issuer of signer.issuers) {
        if (seen.has(issuer)) {
          context.addIssue({
            code: 'custom',
            path: ['notificationSigners'],
            message: `issuer ${issuer} is named by two signers: a token must point at one key set`,
          });
        }
        seen.add(issuer);
      }
    }
  });

/** The signers a source accepts, with `{tenantId}` replaced by its tenant. */
export function notificationSignersOf(
  config: Pick<
    z.input<typeof msgraphSourceSchema>,
    'tenantId' | 'notificationSigners' | 'openIdConfigurationUrl' | 'allowedIssuers'
  >,
): NotificationSigner[] {
  const signers = config.notificationSigners ?? [
    {
      openIdConfigurationUrl: config.openIdConfigurationUrl ?? MSGRAPH_OPENID_CONFIGURATION_URL,
      issuers: config.allowedIssuers ?? MSGRAPH_ISSUERS,
    },
    ...DEFAULT_NOTIFICATION_SIGNERS.slice(1),
  ];
  const tenant = (text: string) => text.replaceAll(TENANT_PLACEHOLDER, config.tenantId.toLowerCase());
  return signers.map((signer) => ({
    openIdConfigurationUrl: tenant(signer.openIdConfigurationUrl),
    issuers: signer.issuers.map(tenant),
  }));
}

export type GraphCallingBotSourceConfig = z.infer<typeof msgraphSourceSchema>;
