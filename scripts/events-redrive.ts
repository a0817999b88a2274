/**
 * `npm run events-redrive -- [--dry-run] [--aws [--stack <name>]]`
 *
 * Publishes again every outcome event recorded as undelivered, to the destination that missed it, and
 * removes each record once delivered. Locally: `{stateDir}/events/undelivered/`; with --aws: the deployed
 * bucket's `events/undelivered/` to the configured EventBridge bus. --dry-run only counts.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';

import { configPathFromEnvironment, loadConfigFile } from '../functions/config';
import { redriveOutcomeEvents } from '../functions/events-redrive';
import { consoleLog } from '../functions/local/console-log';
import { parseOptions, runCommand, UsageError } from '../functions/ops/command-line';
import { readDeployedStack } from '../functions/ops/stack-outputs';

const USAGE = 'usage: npm run events-redrive -- [--dry-run] [--aws [--stack <name>]]';
const print = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const options = parseOptions(
    process.argv.slice(2),
    {
      'dry-run': { type: 'boolean', default: false },
      aws: { type: 'boolean', default: false },
      stack: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    USAGE,
  );
  if (options.help) {
    print(USAGE);
    return 0;
  }
  if (options.stack && !options.aws) throw new UsageError('--stack needs --aws');
  const config = loadConfigFile(configPathFromEnvironment());
  const bucket = options.aws
    ? (
        await readDeployedStack(
          new CloudFormationClient({ region: config.aws.region }),
          options.stack ?? config.aws.stackName,
        )
      ).bucket
    : undefined;
  const report = await redriveOutcomeEvents(config, {
    log: consoleLog(),
    dryRun: options['dry-run'],
    aws: bucket ? { bucket } : undefined,
  });
  if (options['dry-run']) {
    print(
      `${report.found} undelivered events waiting${report.skipped ? ` (${report.skipped} for a destination not configured now)` : ''}`,
    );
    return 0;
  }
  print(
    `${report.found} undelivered: ${report.redelivered} delivered now, ${report.stillUndelivered} still undelivered` +
      (report.skipped ? `, ${report.skipped} for a destination not configured now (left in place)` : ''),
  );
  return report.stillUndelivered > 0 ? 1 : 0;
}

runCommand('events-redrive', main);
