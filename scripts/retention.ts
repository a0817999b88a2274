/**
 * `npm run retention [-- --dry-run] [--source <id>]`: one retention run now, in local mode, over every
 * source with retention configured (or the one named). Recordings found due but not archived are
 * archived before it exits. On AWS, invoke the deployed retention function instead.
 */
import { parseArgs } from 'node:util';
import {
  type CallvaultConfig,
  ConfigError,
  configPathFromEnvironment,
  deletesAtSource,
  loadConfigFile,
  retentionFor,
  type SourceConfig,
} from '../functions/config';
import { consoleLog } from '../functions/local/console-log';
import { startLocalHost } from '../functions/local/local-host';

function selectSources(
  config: CallvaultConfig,
  sourceId: string | undefined,
  forceDryRun: boolean,
): CallvaultConfig {
  if (sourceId && !config.sources.some((source) => source.id === sourceId)) {
    throw new ConfigError(`no source with id "${sourceId}" in the config`);
  }
  return {
    ...config,
    sources: config.sources
      .filter((source) => !sourceId || source.id === sourceId)
      .map((source): SourceConfig => {
        // Only the providers that delete have retention settings to force into a dry run.
        if (!forceDryRun || !deletesAtSource(source) || source.retention === false) return source;
        return { ...source, retention: { ...source.retention, dryRun: true } } as SourceConfig;
      }),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'dry-run': { type: 'boolean', default: false }, source: { type: 'string' } },
  });
  const log = consoleLog();
  const config = selectSources(
    loadConfigFile(configPathFromEnvironment()),
    values.source,
    values['dry-run'] ?? false,
  );
  for (const source of config.sources) {
    if (source.enabled && !deletesAtSource(source)) {
      // Said every run: a reader of a retention report must not take the source's absence for a gap.
      log.info(`retention skips ${source.id}`, {
        provider: source.provider,
        reason: `${source.provider} offers no delete of recordings through its API; the platform's own retention policy governs its copy`,
      });
    }
  }
  if (!config.sources.some((source) => deletesAtSource(source) && retentionFor(config, source))) {
    throw new ConfigError('no source has retention configured (set "retention" globally or per source)');
  }
  const host = await startLocalHost({
    config,
    log,
    scheduleSweep: false,
    scheduleRetention: false,
    serveWebhooks: false,
  });
  try {
    const reports = await host.retentionNow();
    await host.idle();
    for (const report of reports) {
      log.info(`retention ${report.dryRun ? '(dry run) ' : ''}${report.sourceId}`, { ...report });
    }
  } finally {
    await host.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`callvault retention: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
