/** Moved to config/fields.ts; kept so existing imports keep working. */
export * from './config/fields';
