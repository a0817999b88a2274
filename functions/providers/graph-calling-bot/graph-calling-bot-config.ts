/**
 * A Microsoft Graph calling-bot source: whose notifications are accepted and where recordings may come
 * from. Microsoft's documentation says apps may not persist call media, so `mediaPersistenceApproved`
 * must record that decision (after legal review).
 */
import * as z from 'zod';
import { hostPatternSchema } from '../../config/fields';
import { guidSchema, httpsOrLoopback, sourceFields } from '../shared/source-fields';

/** The Bot Framework signer: where calling-bot notification tokens have been signed so far. */
export const MSGRAPH_OPENID_CONFIGURATION_URL =
  'https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration';
export const MSGRAPH_ISSUERS = ['https://graph.microsoft.com', 'https://api.botframework.com'] as const;

/**
 * The Entra (Azure AD) signer Microsoft told bot developers to accept too; its `jwks_uri` is on the same
 * host as its OpenID configuration. `{tenantId}` stands for the source's.
 */
const AZURE_AD_SIGNER = {
  openIdConfigurationUrl: 'https://login.microsoftonline.com/{tenantId}/.well-known/openid-configuration',
  issuers: ['https://sts.windows.net/{tenantId}/'],
};

/** The README section the refusal points to; keep both in step. */
export const MEDIA_PERSISTENCE_README_SECTION = 'Microsoft Graph calling bot: media persistence';

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
    /** Who may sign notification tokens; default: Bot Framework's and Entra's (notificationSignersOf). */
    notificationSigners: z.array(signerSchema).min(1).optional(),
    /** The Bot Framework signer's key endpoint, in place of the default (the Entra signer stays). */
    openIdConfigurationUrl: keyEndpointUrlSchema.optional(),
    /** The Bot Framework signer's issuers, in place of the default (the Entra signer stays). */
    allowedIssuers: z.array(z.string().min(1)).min(1).optional(),
    /**
     * Hosts `recordingLocation` may point at. No default: it is documented only by an example, and a guess
     * would refuse real recordings quietly or let a forged location make us fetch from anywhere.
     */
    allowedDownloadHosts: z.array(hostPatternSchema).min(1, 'list at least one host'),
    mediaPersistenceApproved: z.literal(true, {
      error:
        'must be true. Microsoft documents that apps may not record or persist media from the calls they ' +
        'access, so this source archives nothing until you confirm, with this field, that your organisation ' +
        'has approved keeping these recordings (legal review). See the README section ' +
        `"${MEDIA_PERSISTENCE_README_SECTION}".`,
    }),
    /** The platform keeps nothing to delete: retention never applies to this source. */
    retention: z.literal(false).optional(),
  })
  .strict()
  .superRefine((config, context) => {
    const issue = (message: string) =>
      context.addIssue({ code: 'custom', path: ['notificationSigners'], message });
    if (config.notificationSigners && (config.openIdConfigurationUrl || config.allowedIssuers)) {
      issue('set either notificationSigners or openIdConfigurationUrl/allowedIssuers, not both');
    }
    const seen = new Set<string>();
    for (const issuer of notificationSignersOf(config).flatMap((signer) => signer.issuers)) {
      if (seen.has(issuer))
        issue(`issuer ${issuer} is named by two signers: a token must point at one key set`);
      seen.add(issuer);
    }
  });

/** The signers a source accepts (default: Bot Framework's and Entra's), with its `{tenantId}` filled in. */
export function notificationSignersOf(
  config: Pick<
    z.input<typeof msgraphSourceSchema>,
    'tenantId' | 'notificationSigners' | 'openIdConfigurationUrl' | 'allowedIssuers'
  >,
) {
  const signers = config.notificationSigners ?? [
    {
      openIdConfigurationUrl: config.openIdConfigurationUrl ?? MSGRAPH_OPENID_CONFIGURATION_URL,
      issuers: config.allowedIssuers ?? MSGRAPH_ISSUERS,
    },
    AZURE_AD_SIGNER,
  ];
  const tenant = (text: string) => text.replaceAll('{tenantId}', config.tenantId.toLowerCase());
  return signers.map((signer) => ({
    openIdConfigurationUrl: tenant(signer.openIdConfigurationUrl),
    issuers: signer.issuers.map(tenant),
  }));
}

export type GraphCallingBotSourceConfig = z.infer<typeof msgraphSourceSchema>;
