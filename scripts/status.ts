/**
 * `npm run status [-- --days 7] [--aws [--stack <name>]] [--json]`
 *
 * Per source and UTC day: recordings at the source, archived, missing, deleted at the source; queue and
 * dead-letter depths; when sweep, retention and backfill last ran. Local mode reads the archive folder
 * (or `storage.s3`) and the local queue; --aws reads the deployed stack's bucket and queues.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { configPathFromEnvironment, loadConfigFile } from '../functions/config';
import { parseOptions, parsePositiveInteger, runCommand, UsageError } from '../functions/ops/command-line';
import { operatorCredentials } from '../functions/ops/source-selection';
import { readDeployedStack } from '../functions/ops/stack-outputs';
import { awsStatusDependencies, localStatusDependencies } from '../functions/ops/status-dependencies';
import { collectStatus, type StatusDependencies } from '../functions/ops/status-report';
import { formatStatus } from '../functions/ops/status-table';

const USAGE = 'usage: npm run status [-- --days 7] [--aws [--stack <name>]] [--json]';

async function main(): Promise<number> {
  const options = parseOptions(
    process.argv.slice(2),
    {
      days: { type: 'string', default: '7' },
      aws: { type: 'boolean', default: false },
      stack: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    USAGE,
  );
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (options.stack && !options.aws) throw new UsageError('--stack needs --aws');
  const days = parsePositiveInteger(options.days, '--days');
  if (days > 366)
    throw new UsageError(
      `--days ${days} is more than a year; status asks the source once per day and source`,
    );
  const config = loadConfigFile(configPathFromEnvironment());

  let deps: StatusDependencies;
  if (options.aws) {
    const region = config.aws.region;
    const stack = await readDeployedStack(
      new CloudFormationClient({ region }),
      options.stack ?? config.aws.stackName,
    );
    deps = awsStatusDependencies({
      config,
      days,
      bucket: stack.bucket,
      queueUrls: stack.queueUrls,
      deadLetterQueueUrls: stack.deadLetterQueueUrls,
      s3: new S3Client({ region }),
      sqs: new SQSClient({ region }),
      credentials: operatorCredentials(() => new SecretsManagerClient({ region }), stack.secretNameFor),
    });
  } else {
    deps = localStatusDependencies({ config, days });
  }
  const report = await collectStatus(deps);
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatStatus(report)}\n`);
  return 0;
}

runCommand('status', main);
