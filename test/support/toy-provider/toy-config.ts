/** The toy provider's source entry: the shared fields, one platform field, and inline credentials. */
import { z } from 'zod';
import {
  retentionClassSchema,
  retentionSettingsSchema,
  sourceIdSchema,
} from '../../../functions/config/fields';

export const toySourceSchema = z
  .object({
    provider: z.literal('toy'),
    id: sourceIdSchema,
    enabled: z.boolean().default(true),
    /** How many recordings the toy platform holds, one an hour back from the newest. */
    recordings: z.number().int().min(0).max(100).default(3),
    token: z.string().min(1).optional(),
    retentionClass: retentionClassSchema,
    retention: z.union([retentionSettingsSchema.partial(), z.literal(false)]).optional(),
  })
  .strict();
export type ToySourceConfig = z.infer<typeof toySourceSchema>;

export const toyCredentialsSchema = z.object({ token: z.string().min(1) });
export type ToyCredentials = z.infer<typeof toyCredentialsSchema>;
