/**
 * `npm run console -- [--host 127.0.0.1|::1] [--port n] [--aws [--stack name]]`
 *
 * Serves the console page on the loopback interface and prints its address with this run's token. It asks
 * the local archive's catalogue (DuckDB), or with --aws the deployed stack's (Athena, presigned GETs of at
 * most an hour), with the operator's own AWS credentials. Ctrl-C stops it.
 */
import { FsHoldAuditLog, FsHoldStore } from '../functions/adapters/fs-legal-hold';
import { configPathFromEnvironment, loadConfigFile } from '../functions/config';
import { systemClock } from '../functions/core/ports';
import { parseOptions, runCommand, UsageError } from '../functions/ops/command-line';
import { consoleActor, consoleHold, heldKeysFrom } from '../functions/ops/console-hold';
import { LocalConsoleBackend } from '../functions/ops/console-local';
import {
  type ConsoleBackend,
  isLoopbackHost,
  LOOPBACK_HOSTS,
  startConsoleServer,
} from '../functions/ops/console-server';

const USAGE = 'usage: npm run console -- [--host 127.0.0.1|::1] [--port 0] [--aws [--stack name]]';

async function main(): Promise<number> {
  const options = parseOptions(
    process.argv.slice(2),
    {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      aws: { type: 'boolean', default: false },
      stack: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    USAGE,
  );
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!isLoopbackHost(options.host))
    throw new UsageError(
      `--host ${options.host}: the console listens on loopback only (${LOOPBACK_HOSTS.join(' or ')}), never on a public interface`,
    );
  if (!/^\d+$/.test(options.port) || Number(options.port) > 65_535)
    throw new UsageError(`--port ${options.port} is not a port (0 to 65535; 0 picks a free one)`);
  if (options.stack && !options.aws) throw new UsageError('--stack needs --aws');
  const config = loadConfigFile(configPathFromEnvironment());
  const log = (line: string) => process.stderr.write(`${line}\n`);

  let backend: ConsoleBackend;
  if (options.aws) {
    // Loaded only here: the local console starts faster without the AWS SDK.
    const { openAwsConsoleBackend } = await import('../functions/ops/console-aws');
    backend = await openAwsConsoleBackend({
      config,
      stackName: options.stack ?? config.aws.stackName,
      log,
    });
  } else {
    if (config.storage.s3)
      throw new UsageError(
        'storage.s3 is set: this archive and its catalogue are in a bucket; open the console with --aws (Athena)',
      );
    const root = config.local.archiveDir;
    const holds = new FsHoldStore({ root });
    backend = new LocalConsoleBackend({
      archiveDir: root,
      sources: config.sources,
      hold: consoleHold(
        { store: holds, audit: new FsHoldAuditLog({ root }), clock: systemClock },
        consoleActor(),
      ),
      heldKeys: heldKeysFrom(holds),
    });
  }

  const server = await startConsoleServer({
    backend,
    host: options.host,
    port: Number(options.port),
    log,
  });
  process.stdout.write(`console: ${backend.where}\nconsole: open ${server.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return 0;
}

runCommand('console', main);
