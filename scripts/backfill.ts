/**
 * `npm run backfill -- --source <id> --from <YYYY-MM-DD> --to <YYYY-MM-DD> [--dry-run] [--restart]
 *   [--max-wait 1h] [--aws [--stack <name>] [--queue-url <url>] [--bucket <name>]] [--verbose]`
 *
 * Archives every recording of a historic range (UTC days, both included), day by day, resumably.
 * Local mode runs the one-machine pipeline until the range is archived; --aws enqueues what the bucket
 * lacks into the deployed provider queue. The config file is CALLVAULT_CONFIG (./callvault.config.json).
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { buildSourceRegistry, inlineCredentials } from '../functions/composition/sources';
import {
  type CallvaultConfig,
  configPathFromEnvironment,
  isWebhookOnly,
  loadConfigFile,
  type SourceConfig,
} from '../functions/config';
import type { Log, RecordingSource } from '../functions/core/ports';
import { consoleLog } from '../functions/local/console-log';
import { type BackfillResult, type BackfillTarget, runBackfill } from '../functions/ops/backfill';
import { backfillDryRun, formatDryRun } from '../functions/ops/backfill-dry-run';
import { createBackfillProgress } from '../functions/ops/backfill-progress';
import { createAwsBackfillTarget, createLocalBackfillTarget } from '../functions/ops/backfill-targets';
import { parseDurationSeconds, parseOptions, runCommand, UsageError } from '../functions/ops/command-line';
import { formatBytes } from '../functions/ops/format-bytes';
import { operatorCredentials, selectSource } from '../functions/ops/source-selection';
import { readDeployedStack, requireQueueUrl } from '../functions/ops/stack-outputs';
import { dayKey, parseUtcDate, startOfUtcDay } from '../functions/ops/utc-days';

const USAGE =
  'usage: npm run backfill -- --source <id> --from <YYYY-MM-DD> --to <YYYY-MM-DD> [--dry-run] [--restart] [--max-wait 1h] [--aws [--stack <name>] [--queue-url <url>] [--bucket <name>]] [--verbose]';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const options = parseOptions(
    args,
    {
      source: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      restart: { type: 'boolean', default: false },
      'max-wait': { type: 'string', default: '1h' },
      aws: { type: 'boolean', default: false },
      stack: { type: 'string' },
      'queue-url': { type: 'string' },
      bucket: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    USAGE,
  );
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!options.aws && (options.stack || options['queue-url'] || options.bucket)) {
    throw new UsageError('--stack, --queue-url and --bucket need --aws');
  }
  const config = loadConfigFile(configPathFromEnvironment());
  const sourceConfig = selectSource(config, options.source);
  if (isWebhookOnly(sourceConfig)) {
    process.stderr.write(
      `source "${sourceConfig.id}" (${sourceConfig.provider}) is skipped: the platform offers no listing of its recordings, so there is nothing to backfill. Its recordings arrive only through webhook notifications; a notification that never reached callvault is a lost recording.\n`,
    );
    return 0;
  }
  const from = parseUtcDate(options.from, '--from');
  const to = parseUtcDate(options.to, '--to');
  if (to < from) throw new UsageError(`--to ${options.to} is before --from ${options.from}`);
  if (to > startOfUtcDay(new Date()))
    throw new UsageError(`--to ${options.to} is in the future (today is ${dayKey(new Date())} UTC)`);
  const maxWaitSeconds = parseDurationSeconds(options['max-wait'], '--max-wait');

  const tty = process.stderr.isTTY === true;
  const verb = options.aws ? 'enqueued' : 'archived';
  const progress = createBackfillProgress({ tty, write: (text) => process.stderr.write(text), verb });
  const log = consoleLog({ level: options.verbose ? 'info' : 'warn', write: (line) => progress.note(line) });

  const controller = new AbortController();
  let signalName: NodeJS.Signals | undefined;
  const onSignal = (name: NodeJS.Signals) => {
    if (signalName) {
      process.stderr.write(
        `\nsecond ${name}: exiting now; jobs in flight are not saved (the next run finds them missing and fetches them again)\n`,
      );
      process.exit(name === 'SIGINT' ? 130 : 143);
    }
    signalName = name;
    progress.note(
      `${name}: stopping; letting in-flight work stop cleanly and saving the cursor (press again to exit at once)`,
    );
    controller.abort(new Error(`interrupted by ${name}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const aws = options.aws ? awsTargets(config, sourceConfig, options, log) : undefined;

  if (options['dry-run']) {
    const source = aws ? await (await aws).source() : await localSource(config, sourceConfig, log);
    const report = await backfillDryRun({
      source,
      config,
      retentionClass: sourceConfig.retentionClass,
      from,
      to,
      waits: {
        maxWaitSeconds,
        signal: controller.signal,
        onWait: (seconds) => progress.waiting(seconds, 'the source is rate limited'),
      },
    });
    process.stdout.write(`${formatDryRun(report)}\n`);
    return 0;
  }

  let target: BackfillTarget;
  let source: RecordingSource;
  let close = async () => {};
  if (aws) {
    const deployed = await aws;
    target = deployed.target;
    source = await deployed.source();
  } else {
    const local = await createLocalBackfillTarget(config, {
      log,
      onArchived: (size) => progress.handled(size),
    });
    target = local;
    close = () => local.close();
    // The worker's own adapter instance: list calls and downloads share its token and its list lock.
    source = await local.sources.get(sourceConfig.provider, sourceConfig.id);
  }

  let result: BackfillResult;
  try {
    result = await runBackfill({
      source,
      target,
      from,
      to,
      stateDir: config.local.stateDir,
      restart: options.restart,
      maxWaitSeconds,
      progress,
      log,
      signal: controller.signal,
    });
  } finally {
    await close();
  }

  const resume = `npm run backfill -- ${args.filter((arg) => arg !== '--restart').join(' ')}`;
  const handled = progress.handledSoFar();
  const summary = `this run: ${result.run.listed} listed in finished days, ${result.run.alreadyArchived} of them already archived; ${handled.count} ${verb} (${formatBytes(handled.bytes)})`;
  if (result.status === 'interrupted') {
    process.stderr.write(
      `backfill interrupted: ${summary}; done through ${result.completedThrough ?? '(no day yet)'}; cursor ${result.cursorPath}\n` +
        `${target.mode === 'local' ? 'unfinished jobs were saved for the next run. ' : ''}resume with:\n  ${resume}\n`,
    );
    return signalName === 'SIGINT' ? 130 : 143;
  }
  if (result.status === 'incomplete') {
    process.stderr.write(
      `backfill finished with ${result.incompleteDays.length} incomplete day(s): ${result.incompleteDays.join(', ')}\n` +
        `their failed jobs are in ${config.local.stateDir}/dead-letter; fix the cause and rerun to retry them:\n  ${resume}\n`,
    );
    return 1;
  }
  process.stdout.write(
    `backfill of ${sourceConfig.id} ${dayKey(from)}..${dayKey(to)} complete: ${summary}; cursor ${result.cursorPath}\n`,
  );
  return 0;
}

async function localSource(
  config: CallvaultConfig,
  sourceConfig: SourceConfig,
  log: Log,
): Promise<RecordingSource> {
  return buildSourceRegistry(config, inlineCredentials, { clock: { now: () => new Date() }, log }).get(
    sourceConfig.provider,
    sourceConfig.id,
  );
}

/** The deployment: stack outputs (unless --queue-url and --bucket say it all), AWS clients, the source. */
async function awsTargets(
  config: CallvaultConfig,
  sourceConfig: SourceConfig,
  options: { stack?: string; 'queue-url'?: string; bucket?: string },
  log: Log,
): Promise<{ target: BackfillTarget; source: () => Promise<RecordingSource> }> {
  const region = config.aws.region;
  const stack =
    options['queue-url'] && options.bucket
      ? undefined
      : await readDeployedStack(new CloudFormationClient({ region }), options.stack ?? config.aws.stackName);
  const bucket = options.bucket ?? stack?.bucket ?? '';
  const queueUrl = options['queue-url'] ?? (stack ? requireQueueUrl(stack, sourceConfig.provider) : '');
  const target = createAwsBackfillTarget({
    config,
    provider: sourceConfig.provider,
    bucket,
    queueUrl,
    s3: new S3Client({ region }),
    sqs: new SQSClient({ region }),
    log,
  });
  const credentials = operatorCredentials(
    () => new SecretsManagerClient({ region }),
    (id) => stack?.secretNameFor(id),
  );
  const sources = buildSourceRegistry(config, credentials, { clock: { now: () => new Date() }, log });
  return { target, source: () => sources.get(sourceConfig.provider, sourceConfig.id) };
}

runCommand('backfill', main);
