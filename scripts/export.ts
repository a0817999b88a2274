/**
 * `npm run export -- <the find filters> --to DIR` (or `--to s3://bucket/prefix --aws [--stack name]`)
 *
 * Produces the recordings the question matches, for a regulator or a court: each recording and its
 * sidecar, index.csv, manifest.json and SHA256SUMS (every file hashed again after the copy and compared
 * with the sidecar's SHA-256), each recording's hold and lock state, and its audit trail. A rerun with
 * the same target skips the files already verified.
 */
import { FsCatalogueStorage } from '../functions/adapters/catalogue-storage';
import { FsArchiveStore } from '../functions/adapters/fs-archive-store';
import { FsHoldAuditLog, FsHoldStore } from '../functions/adapters/fs-legal-hold';
import { configPathFromEnvironment, loadConfigFile } from '../functions/config';
import {
  answerQuestion,
  FIND_FILTER_OPTIONS,
  FIND_FILTER_USAGE,
  filtersFromOptions,
  operatorIdentity,
} from '../functions/ops/archive-question';
import { parseOptions, runCommand, UsageError } from '../functions/ops/command-line';
import { type ExportSources, type ExportTarget, runExport } from '../functions/ops/export';
import { FolderExportTarget, parseS3Url } from '../functions/ops/export-targets';

const USAGE = `usage: npm run export -- ${FIND_FILTER_USAGE} --to DIR|s3://bucket/prefix [--aws [--stack name]]`;

async function main(): Promise<number> {
  const options = parseOptions(
    process.argv.slice(2),
    {
      ...FIND_FILTER_OPTIONS,
      to: { type: 'string', multiple: true },
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
  // `--to` is both find's last day and the export's destination: a value that looks like a day
  // (yyyy-mm-dd) is the day, the other one the destination, so the find filters stay exactly as typed.
  const toValues = options.to ?? [];
  const days = toValues.filter((value) => /^\d{4}-\d{1,2}-\d{1,2}$/.test(value.trim()));
  const destinations = toValues.filter((value) => !days.includes(value));
  if (days.length > 1) throw new UsageError(`--to ${days.join(' and ')}: give one last day`);
  if (destinations.length !== 1)
    throw new UsageError(
      `--to DIR (or s3://bucket/prefix) is required once, the folder to export into${destinations.length > 1 ? `; got ${destinations.join(' and ')}` : ''}`,
    );
  const destination = destinations[0] as string;
  const s3Target = parseS3Url(destination);
  if (destination.startsWith('s3://') && !s3Target)
    throw new UsageError(`--to ${JSON.stringify(destination)} is not s3://bucket/prefix`);
  if (s3Target && !options.aws) throw new UsageError('--to s3://… needs --aws');
  const config = loadConfigFile(configPathFromEnvironment());
  const filters = filtersFromOptions({ ...options, to: days[0] }, config);
  const answer = await answerQuestion(config, filters, {
    aws: options.aws,
    stack: options.stack,
    progress: (line) => process.stderr.write(`export: ${line}\n`),
  });
  const location = answer.location;
  let sources: ExportSources;
  let target: ExportTarget;
  if (location.kind === 'folder') {
    const root = location.archiveDir;
    const catalogue = new FsCatalogueStorage({ root });
    sources = {
      store: new FsArchiveStore({ root }),
      holds: new FsHoldStore({ root }),
      holdAudit: new FsHoldAuditLog({ root }),
      readObject: (key) => catalogue.read(key),
    };
    target = new FolderExportTarget(destination);
  } else {
    const { S3Client } = await import('@aws-sdk/client-s3');
    const { S3ArchiveStore } = await import('../functions/adapters/s3-archive-store');
    const { S3HoldAuditLog, S3HoldStore } = await import('../functions/adapters/s3-legal-hold');
    const { S3CatalogueStorage } = await import('../functions/adapters/catalogue-storage');
    const { S3ExportTarget } = await import('../functions/ops/export-targets');
    const client = new S3Client({ region: location.region });
    const catalogue = new S3CatalogueStorage({ client, bucket: location.bucket });
    sources = {
      store: new S3ArchiveStore({
        client,
        bucket: location.bucket,
        partSizeBytes: 8 * 1024 * 1024,
        partsInFlight: 1,
      }),
      holds: new S3HoldStore({ client, bucket: location.bucket }),
      holdAudit: new S3HoldAuditLog({ client, bucket: location.bucket }),
      readObject: (key) => catalogue.read(key),
    };
    target = s3Target ? new S3ExportTarget({ client, ...s3Target }) : new FolderExportTarget(destination);
  }
  const started = Date.now();
  const report = await runExport(
    {
      rows: answer.rows,
      filters,
      actor: await operatorIdentity(location),
      where: answer.where,
      now: () => new Date(),
      progress: (line) => process.stderr.write(`export: ${line}\n`),
    },
    sources,
    target,
  );
  process.stdout.write(
    `${report.recordings} recordings, ${report.files} files into ${target.description}: ${report.copied} copied and verified, ${report.skipped} already verified, ${report.bytes} B in ${Date.now() - started} ms${report.problems.length > 0 ? `; ${report.problems.length} NOT VERIFIED:\n${report.problems.map((problem) => `  ${problem}`).join('\n')}` : ''}\n`,
  );
  return report.problems.length > 0 ? 1 : 0;
}

runCommand('export', main);
