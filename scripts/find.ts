/**
 * `npm run find -- [--number +16505550101] [--from yyyy-mm-dd] [--to yyyy-mm-dd] [--person id]
 *   [--source id] [--provider p] [--status archived|gone|expired|deleted] [--limit n] [--json|--csv]
 *   [--aws [--stack name]]`
 *
 * Answers from the local archive's catalogue with DuckDB, or with --aws through Athena in the deployed
 * stack's workgroup. Each hit comes with its key and a way to play it: a path, or a presigned GET (≤ 1 h).
 */
import { DuckDbCatalogue } from '../functions/adapters/duckdb-catalogue';
import { configPathFromEnvironment, loadConfigFile } from '../functions/config';
import { FilterError, parseFindFilters } from '../functions/core/catalogue-query';
import { openDeployedCatalogue } from '../functions/ops/archive-question';
import { parseOptions, parsePositiveInteger, runCommand, UsageError } from '../functions/ops/command-line';
import { awsHits, type FindHit, formatCsv, formatJson, formatText, localHits } from '../functions/ops/find';
import { PROVIDER_NAMES } from '../functions/providers';

const USAGE =
  'usage: npm run find -- [--number +16505550101] [--from yyyy-mm-dd] [--to yyyy-mm-dd] [--person id] [--source id] [--provider p] [--status archived|gone|expired|deleted] [--limit 1000] [--json|--csv] [--aws [--stack name]]';

async function main(): Promise<number> {
  const options = parseOptions(
    process.argv.slice(2),
    {
      number: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      person: { type: 'string' },
      source: { type: 'string' },
      provider: { type: 'string' },
      status: { type: 'string' },
      limit: { type: 'string', default: '1000' },
      json: { type: 'boolean', default: false },
      csv: { type: 'boolean', default: false },
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
  if (options.json && options.csv) throw new UsageError('--json and --csv: choose one');
  if (options.stack && !options.aws) throw new UsageError('--stack needs --aws');
  const limit = parsePositiveInteger(options.limit, '--limit');
  const config = loadConfigFile(configPathFromEnvironment());
  let filters: ReturnType<typeof parseFindFilters>;
  try {
    filters = parseFindFilters(options, config.sources, PROVIDER_NAMES);
  } catch (error) {
    if (error instanceof FilterError) throw new UsageError(error.message);
    throw error;
  }

  const started = Date.now();
  let hits: FindHit[];
  let where: string;
  if (options.aws) {
    // Loaded only here: the local path starts faster without the AWS SDK.
    const [{ GetObjectCommand, S3Client }, { getSignedUrl }] = await Promise.all([
      import('@aws-sdk/client-s3'),
      import('@aws-sdk/s3-request-presigner'),
    ]);
    const { athena, stack, region } = await openDeployedCatalogue(config, options.stack, (progress) =>
      process.stderr.write(
        `find: Athena ${progress.state} after ${(progress.elapsedMs / 1000).toFixed(1)} s${progress.bytesScanned !== undefined ? `, ${progress.bytesScanned} B scanned` : ''}\n`,
      ),
    );
    const answer = await athena.find(filters, { limit });
    const s3 = new S3Client({ region });
    hits = await awsHits(answer.rows, (key, expiresIn) =>
      getSignedUrl(s3, new GetObjectCommand({ Bucket: stack.bucket, Key: key }), { expiresIn }),
    );
    where = `Athena ${answer.queryExecutionId}, ${answer.bytesScanned ?? '?'} B scanned`;
  } else {
    if (config.storage.s3)
      throw new UsageError(
        'storage.s3 is set: this archive and its catalogue are in a bucket; query them with --aws (Athena)',
      );
    const engine = await DuckDbCatalogue.open(config.local.archiveDir);
    try {
      hits = localHits(await engine.find(filters, { limit }), config.local.archiveDir);
    } finally {
      engine.close();
    }
    where = `local catalogue in ${config.local.archiveDir}`;
  }
  const summary = `${hits.length} hit${hits.length === 1 ? '' : 's'}${hits.length === limit ? ` (the first ${limit}; raise --limit for more)` : ''} from the ${where} in ${Date.now() - started} ms`;
  if (options.json) process.stdout.write(formatJson(hits));
  else if (options.csv) process.stdout.write(formatCsv(hits));
  else process.stdout.write(formatText(hits, summary));
  if (options.json || options.csv) process.stderr.write(`find: ${summary}\n`);
  return 0;
}

runCommand('find', main);
