/**
 * `npm run catalog -- --rebuild [--source id] [--from yyyy-mm-dd] [--to yyyy-mm-dd] [--rate 200] [--aws [--stack name]]`
 * `npm run catalog -- --compact [--before yyyy-mm-dd] [--aws [--stack name]]`
 *
 * --rebuild writes the catalogue of recordings archived before it existed, from the sidecars and the
 * audit records, then compacts the closed days it touched; --compact merges each closed day of a source
 * into one file. Local mode works on the archive folder (or `storage.s3`); --aws on the deployed bucket.
 */
import { randomUUID } from 'node:crypto';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { S3Client } from '@aws-sdk/client-s3';
import { FsCatalogueStorage, S3CatalogueStorage } from '../functions/adapters/catalogue-storage';
import { S3RunLeases } from '../functions/adapters/s3-run-leases';
import { configPathFromEnvironment, loadConfigFile } from '../functions/config';
import { CATALOGUE_PREFIX } from '../functions/core/catalogue';
import {
  type CatalogueStorage,
  compactClosedDays,
  firstOpenDay,
} from '../functions/core/catalogue-compaction';
import { FilterError, parseFindFilters } from '../functions/core/catalogue-query';
import { systemClock } from '../functions/core/ports';
import { type RunLeases, runExclusively } from '../functions/core/run-lease';
import { consoleLog } from '../functions/local/console-log';
import { rebuildCatalogue, rebuildCursorPath } from '../functions/ops/catalog-rebuild';
import { parseOptions, parsePositiveInteger, runCommand, UsageError } from '../functions/ops/command-line';
import { readDeployedStack } from '../functions/ops/stack-outputs';
import { PROVIDER_NAMES } from '../functions/providers';

const USAGE =
  'usage: npm run catalog -- --rebuild [--source id] [--from yyyy-mm-dd] [--to yyyy-mm-dd] [--rate 200] [--no-compact] [--aws [--stack name]]\n' +
  '       npm run catalog -- --compact [--before yyyy-mm-dd] [--aws [--stack name]]';

async function main(): Promise<number> {
  const options = parseOptions(
    process.argv.slice(2),
    {
      rebuild: { type: 'boolean', default: false },
      compact: { type: 'boolean', default: false },
      'no-compact': { type: 'boolean', default: false },
      source: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      before: { type: 'string' },
      rate: { type: 'string', default: '200' },
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
  if (options.rebuild === options.compact) throw new UsageError(`choose --rebuild or --compact\n${USAGE}`);
  if (options.stack && !options.aws) throw new UsageError('--stack needs --aws');
  const config = loadConfigFile(configPathFromEnvironment());
  const range = usageErrors(() =>
    parseFindFilters(
      { source: options.source, from: options.from, to: options.to },
      config.sources,
      PROVIDER_NAMES,
    ),
  );
  const closed = firstOpenDay(new Date());
  const before = options.before
    ? (usageErrors(() => parseFindFilters({ to: options.before }, []), '--before').to ?? closed)
    : closed;
  const rate = parsePositiveInteger(options.rate, '--rate');

  let storage: CatalogueStorage;
  // In a bucket, the stack's daily compaction may run at the same time: both take its lease.
  let leases: RunLeases | undefined;
  let where: string;
  if (options.aws) {
    const region = config.aws.region;
    const stack = await readDeployedStack(
      new CloudFormationClient({ region }),
      options.stack ?? config.aws.stackName,
    );
    const client = new S3Client({ region });
    storage = new S3CatalogueStorage({ client, bucket: stack.bucket });
    leases = new S3RunLeases({ client, bucket: stack.bucket });
    where = `s3://${stack.bucket}`;
  } else if (config.storage.s3) {
    const target = config.storage.s3;
    const client = new S3Client({
      region: target.region,
      endpoint: target.endpoint,
      forcePathStyle: target.forcePathStyle,
    });
    storage = new S3CatalogueStorage({ client, bucket: target.bucket });
    leases = new S3RunLeases({ client, bucket: target.bucket });
    where = `s3://${target.bucket}`;
  } else {
    storage = new FsCatalogueStorage({ root: config.local.archiveDir });
    where = config.local.archiveDir;
  }
  const log = consoleLog();

  if (options.rebuild) {
    const sources = config.sources
      .filter((source) => !range.sourceId || source.id === range.sourceId)
      .map((source) => ({ provider: source.provider, id: source.id }));
    const started = Date.now();
    const report = await rebuildCatalogue({
      storage,
      sources,
      from: range.from,
      to: range.to,
      ratePerSecond: rate,
      cursorPath: rebuildCursorPath(config.local.stateDir, {
        source: range.sourceId,
        from: range.from,
        to: range.to,
      }),
      onProgress: (p) =>
        process.stderr.write(
          `catalog: ${p.sourceId} ${p.day}: ${p.records} records (${p.written} new); day ${p.daysDone}/${p.daysTotal}\n`,
        ),
    });
    process.stdout.write(
      `catalog: rebuilt ${where}: ${report.records} records over ${report.days} days (${report.written} new, ${report.existing} already there; ${report.daysSkipped} days done before) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
    for (const problem of report.problems) process.stderr.write(`catalog: unreadable: ${problem}\n`);
    if (!options['no-compact']) await compact(storage, before, log, leases);
    return report.unreadable > 0 ? 1 : 0;
  }
  return (await compact(storage, before, log, leases)) ? 0 : 1;
}

/** Filter errors as usage errors (exit 2), optionally under another flag's name. */
function usageErrors<T>(parse: () => T, flag?: string): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof FilterError)) throw error;
    throw new UsageError(flag ? `${flag}${error.message.slice(error.flag.length)}` : error.message);
  }
}

/** False when another compaction holds the bucket's lease (nothing was done). */
async function compact(
  storage: CatalogueStorage,
  beforeDay: string,
  log: ReturnType<typeof consoleLog>,
  leases?: RunLeases,
): Promise<boolean> {
  const run = () =>
    compactClosedDays(storage, {
      beforeDay,
      prefix: CATALOGUE_PREFIX,
      log,
      onPartition: (prefix) => process.stderr.write(`catalog: compacting ${prefix}\n`),
    });
  let report: Awaited<ReturnType<typeof run>>;
  if (leases) {
    const exclusive = await runExclusively(
      leases,
      'catalogue-compaction',
      { holder: randomUUID(), ttlMs: 60 * 60_000, clock: systemClock },
      run,
    );
    if (!exclusive.ran) {
      process.stderr.write(
        "catalog: another compaction (the stack's daily run?) holds state/leases/catalogue-compaction.json; nothing done, try again later\n",
      );
      return false;
    }
    report = exclusive.result;
  } else {
    report = await run();
  }
  process.stdout.write(
    `catalog: compacted ${report.compacted} of ${report.partitions} days before ${beforeDay} (${report.recordsRemoved} records merged into their day's file)\n`,
  );
  return true;
}

runCommand('catalog', main);
