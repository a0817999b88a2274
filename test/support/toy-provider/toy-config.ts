/** The toy provider's source entry: the shared fields, one platform field, and inline credentials. */
import { z } from 'zod';
import { retentionSettingsSchema } from '../../../functions/config/fields';
import { sourceFields } from '../../../functions/providers/shared/source-fields';

export const toySourceSchema = z
  .object({
    ...sourceFields('toy'),
    /** How many recordings the toy platform holds, one an hour back from the newest. */
    recordings: z.number().int().min(0).max(100).default(3),
    token: z.string().min(1).optional(),
    retention: z.union([retentionSettingsSchema.partial(), z.literal(false)]).optional(),
  })
  .strict();
export type ToySourceConfig = z.infer<typeof toySourceSchema>;

export const toyCredentialsSchema = z.object({ token: z.string().min(1) });
export type ToyCredentials = z.infer<typeof toyCredentialsSchema>;
