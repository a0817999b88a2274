/**
 * `npm start`: the whole pipeline on one machine. Reads the config named by CALLVAULT_CONFIG (default
 * ./callvault.config.json); with none, runs the labelled demo. Flags:
 *   --once   one sweep, drain the queue, exit (cron-style use, scripts)
 *   --serve  keep the demo running after it finished
 */
import { existsSync } from 'node:fs';
import { runDemo } from '../../sandbox/demo/demo';
import { ConfigError, configPathFromEnvironment, DEFAULT_CONFIG_PATH, loadConfigFile } from '../config';
import { consoleLog } from './console-log';
import { type LocalHost, startLocalHost } from './local-host';

/** Signals this soon after the first are the same Ctrl-C, delivered again by npm. */
const REPEATED_SIGNAL_WINDOW_MS = 1_000;

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

  // One Ctrl-C often arrives more than once: the terminal signals the whole process group, and npm
  // forwards it again to its script, some milliseconds later. Only a signal that comes a while after
  // the first is a second Ctrl-C, which exits at once. (`npm start` runs this prebuilt, in the process
  // `node scripts/start.mjs` starts, not under the tsx CLI: that one relays signals itself and kills its
  // child with SIGKILL when the child is slow to acknowledge, which a busy upload can be.)
  let firstSignalAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    const now = performance.now();
    if (firstSignalAt === undefined) {
      firstSignalAt = now;
      void shutdown(signal);
      return;
    }
    if (now - firstSignalAt < REPEATED_SIGNAL_WINDOW_MS) return;
    log.warn('second signal: exiting now; pending jobs are not saved (the next sweep finds them again)');
    process.exit(130);
  };
  const shutdown = async (signal: string) => {
    log.info(
      `${signal}: not taking new work; aborting in-flight uploads cleanly and saving pending jobs (Ctrl-C again to exit at once)`,
    );
    try {
      await host.stop();
    } catch (error) {
      log.error('stopping failed', { error: String(error) });
      process.exit(1);
    }
    log.info('stopped', host.progress());
    process.exit(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
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
