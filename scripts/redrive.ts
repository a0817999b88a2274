/**
 * `npm run redrive -- --source <id> [--dry-run] [--aws [--stack <name>] [--copy] [--max-per-second <n>]]`
 *
 * Sends a source's dead letters back to be archived again, once their cause is fixed. --aws: from the
 * provider's dead-letter queue to its job queue, with an SQS message move task (every dead letter of the
 * provider, whichever source) or, with --copy, by receiving, sending and deleting them (this source's only;
 * also for SQS-compatible servers without move tasks). Locally: the dead-letter files go back into the
 * saved queue, which the next `npm start` runs. --dry-run only counts.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { SQSClient } from '@aws-sdk/client-sqs';
import { configPathFromEnvironment, loadConfigFile } from '../functions/config';
import { parseOptions, parsePositiveInteger, runCommand, UsageError } from '../functions/ops/command-line';
import {
  copyDeadLetters,
  countQueueMessages,
  localHostIsRunning,
  type MoveTaskProgress,
  moveDeadLetters,
  REDRIVEN_FOLDER,
  redriveLocalDeadLetters,
} from '../functions/ops/redrive';
import { selectSource } from '../functions/ops/source-selection';
import { readDeployedStack, requireRedriveQueues } from '../functions/ops/stack-outputs';

const USAGE =
  'usage: npm run redrive -- --source <id> [--dry-run] [--aws [--stack <name>] [--copy] [--max-per-second <n>]]';

const print = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const options = parseOptions(
    process.argv.slice(2),
    {
      source: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      aws: { type: 'boolean', default: false },
      stack: { type: 'string' },
      copy: { type: 'boolean', default: false },
      'max-per-second': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    USAGE,
  );
  if (options.help) {
    print(USAGE);
    return 0;
  }
  if (!options.aws && (options.stack || options.copy || options['max-per-second'])) {
    throw new UsageError('--stack, --copy and --max-per-second need --aws');
  }
  if (options.copy && options['max-per-second']) {
    throw new UsageError('--max-per-second applies to message move tasks, not to --copy');
  }
  const config = loadConfigFile(configPathFromEnvironment());
  const source = selectSource(config, options.source);
  const dryRun = options['dry-run'];

  if (!options.aws) {
    const { host, port, stateDir } = config.local;
    const healthUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}/health`;
    if (!dryRun && (await localHostIsRunning(healthUrl))) {
      throw new UsageError(
        `npm start is running (it answers on ${healthUrl}); stop it first: it rewrites the saved queue when it stops`,
      );
    }
    const report = await redriveLocalDeadLetters({ stateDir, sourceId: source.id, dryRun });
    if (report.redriven === 0) {
      print(`no dead letters of source "${source.id}" in ${stateDir}/dead-letter/`);
      return 0;
    }
    print(
      dryRun
        ? `would put ${report.redriven} dead letters of source "${source.id}" back into ${stateDir}/pending-jobs.json`
        : `put ${report.redriven} dead letters of source "${source.id}" back into ${stateDir}/pending-jobs.json; ` +
            `their files are in ${stateDir}/dead-letter/${REDRIVEN_FOLDER}/. The next npm start archives them.`,
    );
    return 0;
  }

  const region = config.aws.region;
  const stack = await readDeployedStack(
    new CloudFormationClient({ region }),
    options.stack ?? config.aws.stackName,
  );
  const queues = requireRedriveQueues(stack, source.provider);
  const sqs = new SQSClient({ region });
  const waiting = await countQueueMessages(sqs, queues.deadLetterQueueUrl);
  const sharing = config.sources
    .filter((candidate) => candidate.enabled && candidate.provider === source.provider)
    .map((candidate) => candidate.id);
  print(
    `${source.provider} dead-letter queue ${queues.deadLetterQueueArn}: ${waiting.visible} waiting, ${waiting.inFlight} in flight` +
      (sharing.length > 1 ? ` (shared by sources ${sharing.join(', ')})` : ''),
  );
  const mode = options.copy
    ? `receive, send to ${queues.queueArn} and delete ${source.id}'s dead letters, at most ${waiting.visible}`
    : `start a message move task to ${queues.queueArn}: every dead letter of ${source.provider}${sharing.length > 1 ? `, of all ${sharing.length} sources (--copy keeps to one)` : ''}`;
  if (dryRun) {
    print(`dry run: would ${mode}`);
    return 0;
  }
  if (waiting.visible === 0) {
    print('nothing to redrive');
    return 0;
  }
  print(`redriving: ${mode}`);

  if (options.copy) {
    const report = await copyDeadLetters(sqs, queues, {
      limit: waiting.visible,
      sourceId: source.id,
      onProgress: (progress) =>
        print(`  moved ${progress.moved}, skipped ${progress.skipped}, failed ${progress.failed}`),
    });
    print(
      `done: ${report.moved} moved back, ${report.skipped} of other sources left, ${report.failed} failed` +
        (report.notDeleted > 0
          ? `, ${report.notDeleted} sent but not deleted (they will be redriven again)`
          : ''),
    );
    return report.failed > 0 ? 1 : 0;
  }

  const maxPerSecond = options['max-per-second']
    ? parsePositiveInteger(options['max-per-second'], '--max-per-second')
    : undefined;
  const final = await moveDeadLetters(sqs, queues, {
    maxMessagesPerSecond: maxPerSecond,
    onProgress: (progress) => print(`  ${describeTask(progress)}`),
  });
  print(`done: ${describeTask(final)}`);
  return final.status === 'COMPLETED' ? 0 : 1;
}

function describeTask(progress: MoveTaskProgress): string {
  const total = progress.toMove === undefined ? '' : ` of ${progress.toMove}`;
  const reason = progress.failureReason ? ` (${progress.failureReason})` : '';
  return `${progress.status}: moved ${progress.moved}${total}${reason}`;
}

runCommand('redrive', main);
