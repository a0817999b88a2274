/**
 * The archive worker in a process of its own, so a test can kill it mid-upload (SIGKILL: no finally
 * block, no abort, nothing) the way a Lambda container dies. Started by `spawnWorkerProcess` with the
 * runtime environment and the SQS records to process in FAULT_WORKER_INPUT; reports on stdout.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SQSRecord } from 'aws-lambda';
import type { RuntimeEnvironment } from '../../functions/config';

export interface WorkerProcessInput {
  env: RuntimeEnvironment;
  motoEndpoint: string;
  records: SQSRecord[];
}

const INPUT_VARIABLE = 'FAULT_WORKER_INPUT';

/** Starts the worker process; it exits once the batch is done (or when killed). */
export function spawnWorkerProcess(input: WorkerProcessInput): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    cwd: process.cwd(),
    env: { ...process.env, [INPUT_VARIABLE]: JSON.stringify(input), POWERTOOLS_LOG_LEVEL: 'SILENT' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function main(text: string): Promise<void> {
  const [
    { S3Client },
    { SQSClient },
    { SecretsManagerClient },
    { createAwsRuntime },
    { createArchiveWorkerHandler },
    { parseConfig },
    { TEST_CREDENTIALS, TEST_REGION },
  ] = await Promise.all([
    import('@aws-sdk/client-s3'),
    import('@aws-sdk/client-sqs'),
    import('@aws-sdk/client-secrets-manager'),
    import('../../functions/composition/aws-runtime'),
    import('../../functions/archive-worker'),
    import('../../functions/config'),
    import('./moto'),
  ]);
  const input = JSON.parse(text) as WorkerProcessInput;
  const client = { endpoint: input.motoEndpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS };
  const env = { ...input.env, config: parseConfig(input.env.config) };
  const runtime = createAwsRuntime(env, {
    s3: new S3Client({ ...client, forcePathStyle: true }),
    sqs: new SQSClient(client),
    secrets: new SecretsManagerClient(client),
  });
  const worker = createArchiveWorkerHandler(() => runtime);
  const response = await worker({ Records: input.records }, { getRemainingTimeInMillis: () => 120_000 });
  process.stdout.write(`${JSON.stringify(response)}\n`);
  process.exit(0);
}

const input = process.env[INPUT_VARIABLE];
if (input && process.argv[1] === fileURLToPath(import.meta.url)) {
  main(input).catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  });
}
