/**
 * `npm start`: the whole pipeline on one machine. Reads the config named by CALLVAULT_CONFIG (default
 * ./callvault.config.json); with none, runs the labelled demo. Flags:
 *   --once   one sweep, drain the queue, exit (cron-style use, scripts)
 *   --serve  keep the demo running after it finished
 */
import { existsSync } from 'node:fs';
import { ConfigError, configPathFromEnvironment, DEFAULT_CONFIG_PATH, loadConfigFile } from '../config';
import { consoleLog } from './console-log';
import { runDemo } from './demo';
import { type LocalHost, startLocalHost } from './local-host';

async function main(): Promise<void> {
  const args = new Set(process.argv.slice(2));
  const log = consoleLog({ level: args.has('--debug') ? 'debug' : 'info' });
  const configPath = configPathFromEnvironment();

  let host: LocalHost;
  if (configPath === DEFAULT_CONFIG_PATH && !existsSync(configPath)) {
    host = await runDemo({ log, serve: args.has('--serve') });
    if (!args.has('--serve')) return;
  } else {
    const config = loadConfigFile(configPath);
    if (config.sources.filter((source) => source.enabled).length === 0) {
      log.warn('no enabled sources in the config: nothing to archive');
    }
    host = await startLocalHost({ config, log });
    if (args.has('--once')) {
      await host.idle();
      await host.stop();
      log.info('done', host.progress());
      return;
    }
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      log.warn('second signal: exiting now; unfinished uploads were not completed and will be retried');
      process.exit(130);
    }
    stopping = true;
    log.info(`${signal}: not taking new work; aborting in-flight uploads cleanly and saving pending jobs`);
    await host.stop();
    log.info('stopped', host.progress());
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  const message =
    error instanceof ConfigError
      ? error.message
      : error instanceof Error
        ? (error.stack ?? error.message)
        : String(error);
  process.stderr.write(`callvault: ${message}\n`);
  process.exit(1);
});
