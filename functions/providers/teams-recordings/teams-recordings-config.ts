/**
 * The Teams recordings source's configuration; shared fields come from `config/fields.ts` and
 * `../shared/source-fields.ts`, not `functions/config/` (a module cycle).
 */
import * as z from 'zod';
import { hostPatternSchema } from '../../config/fields';
import { pinnedOrigin } from '../shared/download-hosts';
import {
  appCredentialFields,
  appCredentialsSchema,
  guidSchema,
  originUrlSchema,
  sourceFields,
} from '../shared/source-fields';

export const MSTEAMS_LOGIN_URL = 'https://login.microsoftonline.com';
export const MSTEAMS_GRAPH_URL = 'https://graph.microsoft.com';
/** Graph's host, and where content is served from after its redirect (OneDrive / SharePoint). */
export const MSTEAMS_DEFAULT_DOWNLOAD_HOSTS = ['graph.microsoft.com', '*.sharepoint.com'] as const;

export const MSTEAMS_RECORDING_KINDS = ['adhocCalls', 'onlineMeetings'] as const;
export type TeamsRecordingsRecordingKind = (typeof MSTEAMS_RECORDING_KINDS)[number];

/** The README section the media-persistence refusal points to; keep both in step. */
export const MSTEAMS_MEDIA_PERSISTENCE_README_SECTION = 'Microsoft Teams recordings: media persistence';

export const MSTEAMS_MEDIA_PERSISTENCE_MESSAGE =
  'must be true. Microsoft documents that apps may not persist the media of the calls and meetings they ' +
  'access, so this source archives nothing until you confirm, with this field, that your organisation ' +
  'has approved keeping these recordings (legal review). See the README section ' +
  `"${MSTEAMS_MEDIA_PERSISTENCE_README_SECTION}".`;

/** An Entra object id (GUID) or a user principal name (`someone@contoso.com`). */
const userRefSchema = z
  .string()
  .trim()
  .regex(
    /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[^\s@/?#']+@[^\s@/?#']+)$/,
    'expected a user object id (GUID) or a user principal name like someone@contoso.com',
  );

const graphOriginSchema = originUrlSchema(MSTEAMS_GRAPH_URL);

export const teamsRecordingsSourceShape = {
  ...sourceFields('msteams'),
  tenantId: guidSchema('tenant id'),
  /** `clientId` is the Entra application (client) id. */
  ...appCredentialFields,
  /** The subscriptions' clientState, compared with every notification's. */
  webhookSecret: z.string().min(16, 'use at least 16 characters').max(128).optional(),
  loginUrl: graphOriginSchema.default(MSTEAMS_LOGIN_URL),
  graphUrl: graphOriginSchema.default(MSTEAMS_GRAPH_URL),
  /** Which recordings to archive: ad hoc calls (PSTN, 1:1, group calls) and scheduled meetings. */
  recordings: z
    .array(z.enum(MSTEAMS_RECORDING_KINDS))
    .min(1, 'name at least one of adhocCalls, onlineMeetings')
    .default([...MSTEAMS_RECORDING_KINDS])
    .transform((kinds) => [...new Set(kinds)]),
  /** Whose recordings: user ids or UPNs, or `"all"` (every tenant user). No default: a guess is risky. */
  users: z.union([z.literal('all'), z.array(userRefSchema).min(1, 'list at least one user, or "all"')]),
  /** Graph requests in flight per sweep, default 8 (README "Microsoft Teams recordings: large tenants"). */
  listingConcurrency: z.number().int().min(1).max(64).optional(),
  /** Reads per Graph `$batch` while listing, 1 to 20 (Graph's limit); 1 sends plain GETs. Default 20. */
  listingBatchSize: z.number().int().min(1).max(20).optional(),
  /** Hosts content may be redirected to (the Graph host always allowed). Default: *.sharepoint.com. */
  allowedDownloadHosts: z.array(hostPatternSchema).min(1).optional(),
  /** How long after a recording ended its content may answer 404 (Teams processing) before dead-lettering. */
  contentWaitHours: z.number().min(1).max(720).default(48), // at most 30 days
  mediaPersistenceApproved: z.literal(true, { error: MSTEAMS_MEDIA_PERSISTENCE_MESSAGE }),
  /** Graph offers no delete for these recordings: retention never applies to this source. */
  retention: z.literal(false).optional(),
};

export const teamsRecordingsSourceSchema = z.object(teamsRecordingsSourceShape).strict();

/** What the adapter reads; any schema built from `teamsRecordingsSourceShape` satisfies it. */
export type TeamsRecordingsSourceConfig = z.infer<z.ZodObject<typeof teamsRecordingsSourceShape>>;

/** What a Teams source's secret (or its inline config fields) must hold. */
export const teamsRecordingsCredentialsSchema = appCredentialsSchema({}, 128);

export type TeamsRecordingsCredentials = z.infer<typeof teamsRecordingsCredentialsSchema>;

/** The download allow-list: the Graph host (first hop) and the configured hosts (else *.sharepoint.com). */
export function teamsRecordingsDownloadHosts(config: TeamsRecordingsSourceConfig): string[] {
  const configured = config.allowedDownloadHosts ?? MSTEAMS_DEFAULT_DOWNLOAD_HOSTS;
  return [...new Set([pinnedOrigin(config.graphUrl), ...configured])];
}
