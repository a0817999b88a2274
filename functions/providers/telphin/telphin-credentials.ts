import { z } from 'zod';
import type { TelphinCredentials } from './telphin-source';

/** What a Telphin source's secret (or its inline config fields) must hold. */
export const telphinCredentialsSchema: z.ZodType<TelphinCredentials> = z.object({
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  webhookSecret: z.string().min(16).optional(),
});
