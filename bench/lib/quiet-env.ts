/**
 * Imported first by `bench/run.ts`: the Powertools logger reads its level when its module loads, and a
 * thousand "recording archived" lines per run would be noise and cost time.
 */
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_DEV ??= 'false';
