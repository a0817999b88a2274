/** The RingCentral source's configuration; nothing here imports `functions/config/` (a module cycle). */
import * as z from 'zod';
import { hostPatternSchema, retentionSettingsSchema } from '../../config/fields';
import {
  appCredentialFields,
  appCredentialsSchema,
  originUrlSchema,
  sourceFields,
} from '../shared/source-fields';

const SERVER_URL = 'https://platform.ringcentral.com';
/** The Heavy group of RingCentral's default usage plan: 10 requests a minute per user and app. */
export const DEFAULT_HEAVY_PER_MINUTE = 10;

const platformUrlSchema = originUrlSchema(SERVER_URL);

export const ringCentralSourceShape = {
  ...sourceFields('ringcentral'),
  serverUrl: platformUrlSchema.default(SERVER_URL),
  /** Where recording content is served from (the call log's `contentUri` host). */
  mediaUrl: platformUrlSchema.default('https://media.ringcentral.com'),
  ...appCredentialFields,
  /** The JWT credential of the user the app acts as (JWT grant). */
  jwt: z.string().min(1).optional(),
  /** The subscription's `verificationToken`, expected in every delivery's `Verification-Token` header. */
  webhookSecret: z.string().min(16, 'use at least 16 characters').max(256).optional(),
  scope: z
    .object({
      /** `~` is the account the JWT's user belongs to; a numeric account id works too. */
      account: z
        .string()
        .regex(/^(~|\d+)$/, 'use "~" (the JWT user\'s account) or a numeric account id')
        .default('~'),
      /** Only calls with one of these on a leg: extension numbers (`101`, via the directory) or ids. */
      extensions: z
        .array(z.string().regex(/^\d{1,20}$/, 'extension numbers and ids are numeric'))
        .min(1)
        .optional(),
    })
    .strict()
    .default({ account: '~' }),
  /** Hosts recordings may be downloaded from. Default: the hosts of serverUrl and mediaUrl. */
  allowedDownloadHosts: z.array(hostPatternSchema).min(1).optional(),
  rateLimits: z
    .object({
      /** Heavy requests a minute for this app and user; RingCentral's X-Rate-Limit-* headers override it. */
      heavyPerMinute: z.number().int().min(1).max(600).default(DEFAULT_HEAVY_PER_MINUTE),
    })
    .strict()
    .default({ heavyPerMinute: DEFAULT_HEAVY_PER_MINUTE }),
  /**
   * A hint only, kept so existing configurations load: a copy's type comes from what the media host serves
   * (README, "Storage layout"); it names recordings gone before any byte was fetched.
   */
  recordingFormat: z.enum(['mp3', 'wav']).default('mp3'),
  retention: z.union([retentionSettingsSchema.partial(), z.literal(false)]).optional(),
};

export const ringCentralSourceSchema = z.object(ringCentralSourceShape).strict();

/** What the adapter reads; any schema built from `ringCentralSourceShape` satisfies it. */
export type RingCentralSourceConfig = z.infer<z.ZodObject<typeof ringCentralSourceShape>>;

/** The download allow-list: as configured, else the hosts (with ports) of serverUrl and mediaUrl. */
export function ringCentralDownloadHosts(config: RingCentralSourceConfig): string[] {
  if (config.allowedDownloadHosts) return [...config.allowedDownloadHosts];
  return [...new Set([new URL(config.serverUrl).host, new URL(config.mediaUrl).host])];
}

/** What a RingCentral source's secret (or its inline config fields) must hold; `jwt` is the JWT grant's. */
export const ringCentralCredentialsSchema = appCredentialsSchema({ jwt: z.string().min(1) }, 256);
export type RingCentralCredentials = z.infer<typeof ringCentralCredentialsSchema>;
