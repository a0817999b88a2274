/**
 * Configuration of a Microsoft Graph calling-bot source: which bot's `recordResponse` notifications are
 * accepted (audience, tenant, issuers, signing keys) and where their recordings may be fetched from.
 * The source is off unless `mediaPersistenceApproved` is `true`: Microsoft's documentation says apps may
 * not persist call media, so archiving it is a decision someone must take, on record, after legal review.
 */
import { z } from 'zod';
import { hostPatternSchema, retentionClassSchema, sourceIdSchema } from '../../config-fields';
import { isLoopbackHost } from '../http';

export const MSGRAPH_OPENID_CONFIGURATION_URL =
  'https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration';
export const MSGRAPH_ISSUERS = ['https://graph.microsoft.com', 'https://api.botframework.com'] as const;

/** The README section the refusal points to; keep both in step. */
export const MEDIA_PERSISTENCE_README_SECTION = 'Microsoft Graph calling bot: media persistence';

export const MEDIA_PERSISTENCE_MESSAGE =
  'must be true. Microsoft documents that apps may not record or persist media from the calls they ' +
  'access, so this source archives nothing until you confirm, with this field, that your organisation ' +
  'has approved keeping these recordings (legal review). See the README section ' +
  `"${MEDIA_PERSISTENCE_README_SECTION}".`;

const guidSchema = (what: string) =>
  z
    .string()
    .regex(
      /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/,
      `expected the ${what} as a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`,
    );

/** https, or plain http on a loopback host (sandboxes only). */
const keyEndpointUrlSchema = z.url().refine(
  (value) => {
    const url = new URL(value);
    return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
  },
  { message: 'must be an https URL (plain http only on a loopback host)' },
);

export const msgraphSourceSchema = z
  .object({
    provider: z.literal('msgraph'),
    id: sourceIdSchema,
    enabled: z.boolean().default(true),
    /** The bot's Entra application (client) id: the `aud` every notification token must carry. */
    botAppId: guidSchema('bot application id'),
    /** The one tenant whose notifications are accepted (the token's `tid` claim). */
    tenantId: guidSchema('tenant id'),
    /** Where the notification signing keys are published (its `jwks_uri` must be on the same host). */
    openIdConfigurationUrl: keyEndpointUrlSchema.default(MSGRAPH_OPENID_CONFIGURATION_URL),
    /** Accepted `iss` values. */
    allowedIssuers: z
      .array(z.string().min(1))
      .min(1)
      .default([...MSGRAPH_ISSUERS]),
    /**
     * Hosts `recordingLocation` may point at (`host` or `host:port`). Required, no default: the location
     * is not documented beyond an example, and a guessed list would either refuse real recordings
     * quietly or let a forged location make us fetch from anywhere.
     */
    allowedDownloadHosts: z.array(hostPatternSchema).min(1, 'list at least one host'),
    mediaPersistenceApproved: z.literal(true, { error: MEDIA_PERSISTENCE_MESSAGE }),
    /** Tag `retention-class` of this source's objects; lifecycle rules can act per class. */
    retentionClass: retentionClassSchema,
    /** The platform keeps nothing to delete: retention never applies to this source. */
    retention: z.literal(false).optional(),
  })
  .strict();

export type MsGraphSourceConfig = z.infer<typeof msgraphSourceSchema>;
