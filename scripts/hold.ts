/**
 * `npm run hold -- <the find filters> [--release] [--dry-run] [--yes] [--reason text] [--aws [--stack name]]`
 *
 * Puts every archived recording the question matches (and its sidecar) on legal hold, or releases it:
 * an S3 Object Lock legal hold where the bucket has Object Lock, otherwise callvault's own hold record;
 * retention never deletes a held recording at the source. Prints the counts and the protection, asks
 * for confirmation unless --yes, and writes an audit record of who, what, when and the question.
 */
import { createInterface } from 'node:readline/promises';
import { FsHoldAuditLog, FsHoldStore } from '../functions/adapters/fs-legal-hold';
import { configPathFromEnvironment, loadConfigFile } from '../functions/config';
import { systemClock } from '../functions/core/ports';
import {
  answerQuestion,
  FIND_FILTER_OPTIONS,
  FIND_FILTER_USAGE,
  filtersFromOptions,
  operatorIdentity,
} from '../functions/ops/archive-question';
import { parseOptions, runCommand, UsageError } from '../functions/ops/command-line';
import { runHoldCommand } from '../functions/ops/hold';

const USAGE = `usage: npm run hold -- ${FIND_FILTER_USAGE} [--release] [--dry-run] [--yes] [--reason text] [--aws [--stack name]]`;

async function main(): Promise<number> {
  const options = parseOptions(
    process.argv.slice(2),
    {
      ...FIND_FILTER_OPTIONS,
      release: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      yes: { type: 'boolean', default: false },
      reason: { type: 'string' },
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
  if (options.stack && !options.aws) throw new UsageError('--stack needs --aws');
  const config = loadConfigFile(configPathFromEnvironment());
  const filters = filtersFromOptions(options, config);
  const answer = await answerQuestion(config, filters, {
    aws: options.aws,
    stack: options.stack,
    progress: (line) => process.stderr.write(`hold: ${line}\n`),
  });
  const location = answer.location;
  let ports: Pick<Parameters<typeof runHoldCommand>[0], 'store' | 'audit'>;
  if (location.kind === 'folder') {
    ports = {
      store: new FsHoldStore({ root: location.archiveDir }),
      audit: new FsHoldAuditLog({ root: location.archiveDir }),
    };
  } else {
    const { S3Client } = await import('@aws-sdk/client-s3');
    const { S3HoldAuditLog, S3HoldStore } = await import('../functions/adapters/s3-legal-hold');
    const client = new S3Client({ region: location.region });
    ports = {
      store: new S3HoldStore({ client, bucket: location.bucket }),
      audit: new S3HoldAuditLog({ client, bucket: location.bucket }),
    };
  }
  const interactive = process.stdin.isTTY === true;
  const { code } = await runHoldCommand({
    rows: answer.rows,
    filters,
    release: options.release,
    dryRun: options['dry-run'],
    yes: options.yes,
    actor: await operatorIdentity(location),
    reason: options.reason,
    where: answer.where,
    ...ports,
    clock: systemClock,
    confirm: interactive
      ? async (question) => {
          const prompt = createInterface({ input: process.stdin, output: process.stderr });
          try {
            return (await prompt.question(question)).trim().toLowerCase() === 'yes';
          } finally {
            prompt.close();
          }
        }
      : undefined,
    print: (line) => process.stdout.write(`${line}\n`),
  });
  return code;
}

runCommand('hold', main);
