/** Schema pieces the providers' source entries and secrets share (config/fields.ts has the general ones). */
import * as z from 'zod';
import { kmsKeyArnSchema, retentionClassSchema, sourceIdSchema } from '../../config/fields';
import { isLoopbackHost } from '../host-patterns';

/** The fields every source entry has. */
export function sourceFields<Provider extends string>(provider: Provider) {
  return {
    provider: z.literal(provider),
    id: sourceIdSchema,
    enabled: z.boolean().default(true),
    /** Tag `retention-class` of this source's objects; lifecycle rules can act per class. */
    retentionClass: retentionClassSchema,
  };
}

/** The app's credentials: inline for local mode only; on AWS they live in Secrets Manager. */
export const appCredentialFields = {
  clientId: z.string().min(1).optional(),
  clientSecret: z.string().min(1).optional(),
  /** AWS: name of an existing secret holding the provider's credentials. Default: the stack creates one. */
  credentialsSecretName: z.string().min(1).optional(),
  /** AWS: the customer-managed KMS key of that secret, if any; the functions get kms:Decrypt on it. */
  credentialsKmsKeyArn: kmsKeyArnSchema.optional(),
};

/** A source's secret (or inline config): client id and secret, `extra`, an optional webhookSecret. */
export function appCredentialsSchema<Extra extends z.ZodRawShape>(extra: Extra, webhookSecretMax?: number) {
  const webhookSecret = z.string().min(16);
  return z.object({
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    ...extra,
    webhookSecret: (webhookSecretMax ? webhookSecret.max(webhookSecretMax) : webhookSecret).optional(),
  });
}

/** https, or plain http on a loopback host (the sandboxes). */
export function httpsOrLoopback(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
}

/** HTTPS (plain HTTP only on loopback, for the sandbox); the origin only, no credentials. */
export function originUrlSchema(example: string) {
  return z.url().superRefine((text, ctx) => {
    const url = new URL(text);
    if (!httpsOrLoopback(url)) {
      ctx.addIssue({ code: 'custom', message: 'use https (plain http only on loopback, for the sandbox)' });
    }
    if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'must not carry credentials' });
    if (url.pathname !== '/' || url.search || url.hash) {
      ctx.addIssue({ code: 'custom', message: `give the origin only, like ${example}` });
    }
  });
}

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function guidSchema(what: string) {
  return z.string().regex(GUID, `expected the ${what} as a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`);
}
