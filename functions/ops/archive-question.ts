/**
 * The find question as `npm run hold` and `npm run export` ask it: the same flags, the same parsing
 * (`parseFindFilters`) and the same query (`findQuery`, run by DuckDB locally or by Athena with --aws),
 * every hit without a limit, and the place the recordings are kept (the archive folder, or the deployed
 * stack's bucket).
 */
import { userInfo } from 'node:os';
import type { AthenaProgress } from '../adapters/athena-catalogue';
import { DuckDbCatalogue } from '../adapters/duckdb-catalogue';
import type { CallvaultConfig } from '../config';
import { FilterError, type FindFilters, type FindRow, parseFindFilters } from '../core/catalogue-query';
import { UsageError } from './command-line';

/** The find command's filter flags (parseArgs spec); hold and export accept exactly these. */
export const FIND_FILTER_OPTIONS = {
  number: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  person: { type: 'string' },
  source: { type: 'string' },
  provider: { type: 'string' },
  status: { type: 'string' },
} as const;

export const FIND_FILTER_USAGE =
  '[--number +16505550101] [--from yyyy-mm-dd] [--to yyyy-mm-dd] [--person id] [--source id] [--provider p] [--status archived|gone|expired|deleted]';

type RawFilterOptions = { [K in keyof typeof FIND_FILTER_OPTIONS]?: string };

/** Parses the filters; a bad one is one line naming its flag (exit code 2). At least one is required. */
export function filtersFromOptions(options: RawFilterOptions, config: CallvaultConfig): FindFilters {
  const raw = Object.fromEntries(
    Object.keys(FIND_FILTER_OPTIONS).flatMap((name) => {
      const value = options[name as keyof RawFilterOptions];
      return value === undefined ? [] : [[name, value]];
    }),
  );
  if (Object.keys(raw).length === 0)
    throw new UsageError(
      'give at least one filter (--number, --from, --to, --person, --source, --provider, --status)',
    );
  try {
    return parseFindFilters(raw, config.sources);
  } catch (error) {
    if (error instanceof FilterError) throw new UsageError(error.message);
    throw error;
  }
}

/** Where the archive is, for a command that reads or changes it. */
export type ArchiveLocation =
  | { kind: 'folder'; archiveDir: string }
  | { kind: 'bucket'; bucket: string; region: string | undefined; stackName: string };

export interface ArchiveAnswer {
  rows: FindRow[];
  location: ArchiveLocation;
  /** Where the answer came from, for the summary line. */
  where: string;
}

/** Runs the question over the local catalogue (DuckDB) or, with `aws`, through Athena in the deployed stack. */
export async function answerQuestion(
  config: CallvaultConfig,
  filters: FindFilters,
  options: { aws: boolean; stack?: string; progress?: (line: string) => void },
): Promise<ArchiveAnswer> {
  if (!options.aws) {
    if (config.storage.s3)
      throw new UsageError(
        'storage.s3 is set: this archive and its catalogue are in a bucket; use --aws (Athena)',
      );
    const engine = await DuckDbCatalogue.open(config.local.archiveDir);
    try {
      return {
        rows: await engine.find(filters),
        location: { kind: 'folder', archiveDir: config.local.archiveDir },
        where: `local catalogue in ${config.local.archiveDir}`,
      };
    } finally {
      engine.close();
    }
  }
  const { athena, stack, region } = await openDeployedCatalogue(config, options.stack, (progress) =>
    options.progress?.(`Athena ${progress.state} after ${(progress.elapsedMs / 1000).toFixed(1)} s`),
  );
  const answer = await athena.find(filters);
  return {
    rows: answer.rows,
    location: { kind: 'bucket', bucket: stack.bucket, region, stackName: stack.stackName },
    where: `Athena ${answer.queryExecutionId}`,
  };
}

/**
 * Who is acting, for the audit: on AWS the STS caller identity (an ARN) where it can be read, else the
 * local user name; locally the user name.
 */
export async function operatorIdentity(location: ArchiveLocation): Promise<string> {
  const user = (() => {
    try {
      return userInfo().username;
    } catch {
      return process.env.USER ?? 'unknown';
    }
  })();
  if (location.kind === 'folder') return user;
  try {
    const { GetCallerIdentityCommand, STSClient } = await import('@aws-sdk/client-sts');
    const identity = await new STSClient({ region: location.region }).send(new GetCallerIdentityCommand({}));
    return identity.Arn ? `${identity.Arn} (local user ${user})` : user;
  } catch {
    return user;
  }
}

/**
 * The deployed stack's catalogue through Athena: its database and workgroup from the stack outputs, or a
 * StackOutputError naming what is missing. Shared by find, hold, export and the console.
 */
export async function openDeployedCatalogue(
  config: CallvaultConfig,
  stackName: string | undefined,
  onProgress?: (progress: AthenaProgress) => void,
) {
  // Loaded only here: the local path starts faster without the AWS SDK.
  const [{ AthenaClient }, { CloudFormationClient }] = await Promise.all([
    import('@aws-sdk/client-athena'),
    import('@aws-sdk/client-cloudformation'),
  ]);
  const { AthenaCatalogue } = await import('../adapters/athena-catalogue');
  const { readDeployedStack, requireCatalogueOutputs } = await import('./stack-outputs');
  const region = config.aws.region;
  const stack = await readDeployedStack(
    new CloudFormationClient({ region }),
    stackName ?? config.aws.stackName,
  );
  const { database, workgroup } = requireCatalogueOutputs(stack);
  const athena = new AthenaCatalogue({
    client: new AthenaClient({ region }),
    database,
    workgroup,
    onProgress,
  });
  return { athena, stack, region };
}
