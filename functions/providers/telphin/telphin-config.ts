/** The Telphin source entry of the config file. */
import * as z from 'zod';
import { hostPatternSchema, retentionSettingsSchema } from '../../config/fields';
import { hostAllowed } from '../host-patterns';
import {
  appCredentialFields,
  appCredentialsSchema,
  httpsOrLoopback,
  sourceFields,
} from '../shared/source-fields';

const telphinScopeSchema = z
  .object({
    /** The client id, or `@me` for the client the credentials belong to. */
    client: z.string().min(1).optional(),
    extensionGroups: z.array(z.string().regex(/^\d+$/, 'extension group ids are numeric')).min(1).optional(),
    extensions: z.array(z.string().regex(/^\d+$/, 'extension ids are numeric')).min(1).optional(),
  })
  .strict()
  .refine((scope) => [scope.client, scope.extensionGroups, scope.extensions].filter(Boolean).length === 1, {
    message: 'set exactly one of client, extensionGroups or extensions',
  });

export const telphinSourceSchema = z
  .object({
    ...sourceFields('telphin'),
    apiUrl: z.url().default('https://apiproxy.telphin.ru'),
    ...appCredentialFields,
    /** Shared secret expected in the webhook URL's `token` parameter. */
    webhookSecret: z.string().min(16, 'use at least 16 characters').optional(),
    scope: telphinScopeSchema.default({ client: '@me' }),
    /** Hosts recordings may come from; nothing else is fetched (no SSRF). Must allow the `apiUrl` host. */
    allowedDownloadHosts: z.array(hostPatternSchema).min(1).optional(),
    /** `storage_url` is Telphin's recommended route; `direct` fetches the file from the API host. */
    download: z.enum(['storage_url', 'direct']).default('storage_url'),
    /** Keep a `hangup` hook per extension in scope at our URL; off by default: operators may keep their own. */
    manageWebhooks: z.boolean().default(false),
    retention: z.union([retentionSettingsSchema.partial(), z.literal(false)]).optional(),
  })
  .strict()
  .superRefine((source, ctx) => {
    // Hosts that could never work fail here, naming the field, rather than dead-lettering every job.
    const api = new URL(source.apiUrl);
    const issue = (field: string, message: string) =>
      ctx.addIssue({ code: 'custom', path: [field], message });
    if (api.username || api.password) {
      issue('apiUrl', 'must not carry credentials; set clientId/clientSecret (or the secret) instead');
    }
    if (!httpsOrLoopback(api)) {
      issue('apiUrl', `must use https (plain http only on loopback, for sandboxes), got ${api.protocol}`);
    }
    if (source.manageWebhooks && !source.scope.extensions) {
      // Hooks are per extension; listing a client's or group's extensions is not implemented yet.
      issue('manageWebhooks', 'needs scope.extensions (the extensions whose hangup hooks callvault keeps)');
    }
    if (source.allowedDownloadHosts && !hostAllowed(api, source.allowedDownloadHosts)) {
      issue(
        'allowedDownloadHosts',
        `does not allow the apiUrl host ${api.host}, where the token goes and direct downloads (also the fallback for refused storage links) come from; add "${api.host}", or leave the field out to use the defaults`,
      );
    }
  })
  // Default: the apiUrl host (it has the token and serves direct downloads) and Telphin's domain; partner
  // and white-label installations have their own API hosts, so a fixed list cannot be the default.
  .transform((source) => ({
    ...source,
    allowedDownloadHosts: source.allowedDownloadHosts ?? [
      new URL(source.apiUrl).host.toLowerCase(),
      '*.telphin.ru',
    ],
  }));
export type TelphinSourceConfig = z.infer<typeof telphinSourceSchema>;

/** What a Telphin source's secret (or its inline config fields) must hold. */
export const telphinCredentialsSchema = appCredentialsSchema({});
export type TelphinCredentials = z.infer<typeof telphinCredentialsSchema>;
