/**
 * The one typed configuration. The CDK app reads it at synth time, the local runner at start-up, and
 * Lambda functions receive the runtime part through environment variables named in `ENV`. Nothing else
 * reads `process.env`. A bad configuration fails with a message naming the field.
 *
 * - fields.ts: field schemas shared with the providers' source schemas;
 * - sources.ts: the `sources[]` entries, from the provider descriptors;
 * - schema.ts: the whole file's schema; lifecycle.ts: the bucket's lifecycle block;
 * - loading.ts, errors.ts: parsing and its errors; environment.ts: `ENV` and the config path;
 * - retention.ts: retention per source; runtime.ts: what Lambda receives.
 */
export * from './environment';
export * from './errors';
export { type RetentionSettings, retentionSettingsSchema } from './fields';
export * from './lifecycle';
export * from './loading';
export * from './retention';
export * from './runtime';
export * from './schema';
export * from './sources';
