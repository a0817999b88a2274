import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import type { SourceConfig } from '../config';
import { PermanentError, TransientError } from '../core/errors';
import type { CredentialsLoader, SourceCredentials } from '../providers';

const secretSchema = z.object({
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  webhookSecret: z.string().min(16).optional(),
});

/**
 * Reads each source's credentials from its Secrets Manager secret ({clientId, clientSecret,
 * webhookSecret}). Values are never logged; errors name the secret and the field, not the value.
 */
export function secretsManagerCredentials(
  client: SecretsManagerClient,
  secretIdBySource: Partial<Record<string, string>>,
): CredentialsLoader {
  return async (source: SourceConfig): Promise<SourceCredentials> => {
    const secretId = secretIdBySource[source.id];
    if (!secretId) throw new PermanentError(`no credentials secret is configured for source "${source.id}"`);
    let text: string | undefined;
    try {
      text = (await client.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
    } catch (error) {
      throw new TransientError(`could not read the credentials secret of source "${source.id}"`, {
        cause: error,
      });
    }
    let value: unknown;
    try {
      value = JSON.parse(text ?? '');
    } catch {
      throw new PermanentError(`the credentials secret of source "${source.id}" is not JSON`);
    }
    const parsed = secretSchema.safeParse(value);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((issue) => issue.path.join('.')).join(', ');
      throw new PermanentError(`the credentials secret of source "${source.id}" is incomplete: ${fields}`);
    }
    return parsed.data;
  };
}
