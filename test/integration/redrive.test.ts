/**
 * `npm run redrive` on moto and on the local state folder. The dead letters are made the way production
 * makes them: the worker's batch processor dead-letters failed jobs itself (SendMessage, failure
 * attributes), so SQS knows no source queue for them. moto has no message move tasks: the default AWS path
 * is shown to fail there with advice, and the receive → send → delete path does the work.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStacksCommand,
} from '@aws-sdk/client-cloudformation';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalJobQueue } from '../../functions/adapters/local-job-queue';
import {
  DEAD_LETTER_ATTRIBUTE_NAMES,
  processSqsBatch,
  queueRoutesFromUrls,
} from '../../functions/adapters/sqs-batch-processor';
import { SqsJobQueue } from '../../functions/adapters/sqs-job-queue';
import { PermanentError } from '../../functions/core/errors';
import { type ArchiveJob, describeJob, parseJob, recordingJob } from '../../functions/core/jobs';
import { silentLog } from '../../functions/core/ports';
import {
  copyDeadLetters,
  countQueueMessages,
  MoveTaskUnavailableError,
  moveDeadLetters,
  type RedriveQueues,
  redriveLocalDeadLetters,
} from '../../functions/ops/redrive';
import { readDeployedStack, requireRedriveQueues } from '../../functions/ops/stack-outputs';
import { type MotoServer, motoAvailable, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../support/moto';
import {
  createQueue,
  deleteSucceeded,
  receiveAtLeast,
  receiveRecords,
  type TestQueue,
} from '../support/sqs-records';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TSX = join(REPO, 'node_modules', '.bin', 'tsx');

function job(sourceId: string, index: number): ArchiveJob {
  return recordingJob({
    provider: 'telphin',
    sourceId,
    recordingId: `${sourceId}-rec-${index}`,
    startedAt: new Date(Date.UTC(2026, 0, 15, 9, 0, index)),
    direction: 'inbound',
    fileExtension: 'mp3',
    raw: {},
  });
}

/** Enqueues `jobs` as the adapters do, then lets the worker's processor fail each for good. */
async function deadLetter(
  moto: MotoServer,
  source: TestQueue,
  dlq: TestQueue,
  jobs: ArchiveJob[],
  malformedBodies: string[] = [],
) {
  await new SqsJobQueue({ client: moto.sqs, queueUrls: { telphin: source.url } }).enqueue(jobs);
  for (const body of malformedBodies) {
    await moto.sqs.send(new SendMessageCommand({ QueueUrl: source.url, MessageBody: body }));
  }
  const records = await receiveAtLeast(moto.sqs, source, jobs.length + malformedBodies.length);
  const response = await processSqsBatch(records, {
    client: moto.sqs,
    routeFor: queueRoutesFromUrls({ telphin: source.url }, { telphin: dlq.url }),
    maxReceiveCount: 5,
    deadline: new AbortController().signal,
    log: silentLog,
    handleJob: async () => {
      throw new PermanentError('Telphin refused the client credentials');
    },
  });
  expect(response.batchItemFailures).toEqual([]);
  // As Lambda does: records not reported as failed are deleted from the job queue.
  await deleteSucceeded(moto.sqs, source, records, response);
}

describe.skipIf(!motoAvailable())('redrive on moto', () => {
  let moto: MotoServer;
  let run = 0;
  let source: TestQueue;
  let dlq: TestQueue;
  let queues: RedriveQueues;

  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });
  beforeEach(async () => {
    run++;
    dlq = await createQueue(moto.sqs, `callvault-telphin-dlq-${run}`);
    source = await createQueue(moto.sqs, `callvault-telphin-${run}`, { deadLetter: dlq, maxReceiveCount: 5 });
    queues = {
      queueUrl: source.url,
      queueArn: source.arn,
      deadLetterQueueUrl: dlq.url,
      deadLetterQueueArn: dlq.arn,
    };
  });

  it("moves one source's dead letters back unchanged, without the failure attributes, leaving another source's visible", async () => {
    // Prepare
    const hq = [0, 1, 2].map((index) => job('hq', index));
    const branch = [0, 1].map((index) => job('branch', index));
    await deadLetter(moto, source, dlq, [...hq, ...branch]);
    expect(await countQueueMessages(moto.sqs, dlq.url)).toEqual({ visible: 5, inFlight: 0 });

    // Act
    const report = await copyDeadLetters(moto.sqs, queues, { limit: 5, sourceId: 'hq' });

    // Assess
    expect(report).toEqual({ moved: 3, skipped: 2, failed: 0, notDeleted: 0 });
    expect(await countQueueMessages(moto.sqs, dlq.url)).toEqual({ visible: 2, inFlight: 0 });
    const back = await receiveAtLeast(moto.sqs, source, 3);
    expect(back.map((record) => describeJob(parseJob(record.body))).sort()).toEqual(
      hq.map(describeJob).sort(),
    );
    for (const record of back) {
      expect(Object.keys(record.messageAttributes).sort()).toEqual(['job-type', 'provider', 'source-id']);
      for (const name of DEAD_LETTER_ATTRIBUTE_NAMES) expect(record.messageAttributes[name]).toBeUndefined();
    }
    const left = await receiveRecords(moto.sqs, dlq, { waitTimeSeconds: 1 });
    expect(
      left.map(
        (record) =>
          parseJob(record.body).type === 'recording' && record.messageAttributes['source-id']?.stringValue,
      ),
    ).toEqual(['branch', 'branch']);
    expect(left[0]?.messageAttributes['failure-reason']?.stringValue).toBe(
      'PERMANENT: Telphin refused the client credentials',
    );
  });

  it('moves every dead letter, malformed bodies included, when no source is named; never more than the limit', async () => {
    // Prepare
    await deadLetter(moto, source, dlq, [job('hq', 0), job('branch', 0), job('hq', 1)], ['{"v":1,"type"']);

    // Act
    const onlyHq = await copyDeadLetters(moto.sqs, queues, { limit: 4, sourceId: 'hq' });
    const first = await copyDeadLetters(moto.sqs, queues, { limit: 1 });
    const rest = await copyDeadLetters(moto.sqs, queues, { limit: 10 });

    // Assess: a malformed body belongs to no source, so only a redrive of everything takes it.
    expect(onlyHq).toEqual({ moved: 2, skipped: 2, failed: 0, notDeleted: 0 });
    expect(first.moved).toBe(1);
    expect(rest).toEqual({ moved: 1, skipped: 0, failed: 0, notDeleted: 0 });
    expect(await countQueueMessages(moto.sqs, dlq.url)).toEqual({ visible: 0, inFlight: 0 });
    const back = await receiveAtLeast(moto.sqs, source, 4);
    expect(back.map((record) => record.body)).toContain('{"v":1,"type"');
  });

  it('says to use --copy where the server has no message move tasks, and moves nothing', async () => {
    // Prepare
    await deadLetter(moto, source, dlq, [job('hq', 0)]);

    // Act
    const attempt = moveDeadLetters(moto.sqs, queues);

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(MoveTaskUnavailableError);
    await expect(attempt).rejects.toThrow(/use --copy/);
    expect(await countQueueMessages(moto.sqs, dlq.url)).toEqual({ visible: 1, inFlight: 0 });
  });

  describe('the command against a deployed stack', () => {
    let folder: string;
    let configPath: string;
    let cloudFormation: CloudFormationClient;

    beforeEach(async () => {
      folder = await mkdtemp(join(tmpdir(), 'callvault-redrive-'));
      configPath = join(folder, 'callvault.config.json');
      await writeFile(
        configPath,
        JSON.stringify({
          sources: [
            { provider: 'telphin', id: 'hq' },
            { provider: 'telphin', id: 'branch' },
          ],
          aws: { stackName: `Redrive${run}`, region: TEST_REGION },
          local: { stateDir: join(folder, 'state'), port: 1 },
        }),
      );
      cloudFormation = new CloudFormationClient({
        endpoint: moto.endpoint,
        region: TEST_REGION,
        credentials: TEST_CREDENTIALS,
      });
    });
    afterEach(async () => {
      cloudFormation.destroy();
      await rm(folder, { recursive: true, force: true });
    });

    function redrive(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
      const child = spawn(TSX, ['scripts/redrive.ts', ...args], {
        cwd: REPO,
        env: {
          ...process.env,
          CALLVAULT_CONFIG: configPath,
          AWS_ENDPOINT_URL: moto.endpoint,
          AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
          AWS_REGION: TEST_REGION,
          AWS_MAX_ATTEMPTS: '1',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
    }

    it('reads both ARNs from the stack outputs, counts in a dry run, and moves the source back with --copy', async () => {
      // Prepare: a stack with the outputs cdk/archive-stack.ts writes (naming the test's queues, whose URLs
      // point at moto), and dead letters in its DLQ.
      const stackName = `Redrive${run}`;
      await cloudFormation.send(
        new CreateStackCommand({
          StackName: stackName,
          TemplateBody: JSON.stringify({
            Resources: { Placeholder: { Type: 'AWS::SQS::Queue' } },
            Outputs: {
              BucketName: { Value: 'the-bucket' },
              TelphinQueueUrl: { Value: source.url },
              TelphinQueueArn: { Value: source.arn },
              TelphinDeadLetterQueueUrl: { Value: dlq.url },
              TelphinDeadLetterQueueArn: { Value: dlq.arn },
            },
          }),
        }),
      );
      const deployed = requireRedriveQueues(await readDeployedStack(cloudFormation, stackName), 'telphin');
      expect(deployed).toEqual(queues);
      await deadLetter(moto, source, dlq, [job('hq', 0), job('hq', 1), job('branch', 0)]);

      // Act
      const dryRun = await redrive(['--source', 'hq', '--aws', '--copy', '--dry-run']);
      const moveTask = await redrive(['--source', 'hq', '--aws']);
      const copied = await redrive(['--source', 'hq', '--aws', '--copy']);

      // Assess
      expect(dryRun, dryRun.stderr).toMatchObject({ code: 0 });
      expect(dryRun.stdout).toContain(
        `${deployed.deadLetterQueueArn}: 3 waiting, 0 in flight (shared by sources hq, branch)`,
      );
      expect(dryRun.stdout).toContain(`dry run: would receive, send to ${deployed.queueArn}`);
      expect(moveTask.code).toBe(1);
      expect(moveTask.stderr).toContain(
        `could not start a message move task from ${deployed.deadLetterQueueArn} to ${deployed.queueArn}`,
      );
      expect(copied.stdout).toContain('done: 2 moved back, 1 of other sources left, 0 failed');
      expect(copied.code).toBe(0);
      expect(await countQueueMessages(moto.sqs, deployed.deadLetterQueueUrl)).toEqual({
        visible: 1,
        inFlight: 0,
      });
      expect(await countQueueMessages(moto.sqs, deployed.queueUrl)).toEqual({ visible: 2, inFlight: 0 });
    });

    it('names the missing ARN outputs of a stack deployed before them', async () => {
      const stackName = `Redrive${run}`;
      await cloudFormation.send(
        new CreateStackCommand({
          StackName: stackName,
          TemplateBody: JSON.stringify({
            Resources: { Queue: { Type: 'AWS::SQS::Queue' }, DeadLetters: { Type: 'AWS::SQS::Queue' } },
            Outputs: {
              BucketName: { Value: 'the-bucket' },
              TelphinQueueUrl: { Value: { Ref: 'Queue' } },
              TelphinDeadLetterQueueUrl: { Value: { Ref: 'DeadLetters' } },
            },
          }),
        }),
      );
      expect(
        (await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks,
      ).toHaveLength(1);

      const result = await redrive(['--source', 'hq', '--aws', '--dry-run']);

      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `stack "${stackName}" lacks the outputs TelphinQueueArn, TelphinDeadLetterQueueArn`,
      );
    });
  });
});

describe('local redrive', () => {
  let stateDir: string;

  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'callvault-local-redrive-'));
  });
  afterEach(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  function queue(handleJob: (job: ArchiveJob) => Promise<void>): LocalJobQueue {
    return new LocalJobQueue({
      concurrency: 2,
      maxReceiveCount: 1,
      deadLetterDir: join(stateDir, 'dead-letter'),
      stateFile: join(stateDir, 'pending-jobs.json'),
      handleJob,
    });
  }

  it("puts one source's dead-letter files back into the saved queue, which the next run archives", async () => {
    // Prepare: the local queue dead-letters five jobs of two sources; one job of hq is still pending.
    const failing = queue(async () => {
      throw new PermanentError('Telphin refused the client credentials');
    });
    failing.start();
    await failing.enqueue([job('hq', 0), job('hq', 1), job('branch', 0), job('branch', 1), job('hq', 2)]);
    await failing.idle();
    await failing.stop();
    const pending = queue(async () => {});
    await pending.enqueue([job('hq', 9)]);
    await pending.stop();

    // Act
    const preview = await redriveLocalDeadLetters({ stateDir, sourceId: 'hq', dryRun: true });
    const report = await redriveLocalDeadLetters({ stateDir, sourceId: 'hq', dryRun: false });

    // Assess: the files moved aside, the other source's left; then a new run handles what was saved.
    expect(preview).toEqual({ bySource: { hq: 3 }, redriven: 3, left: 2 });
    expect(report).toEqual(preview);
    const folder = join(stateDir, 'dead-letter');
    expect((await readdir(folder)).filter((name) => name.endsWith('.json'))).toHaveLength(2);
    expect(await readdir(join(folder, 'redriven'))).toHaveLength(3);
    const saved = JSON.parse(await readFile(join(stateDir, 'pending-jobs.json'), 'utf8'));
    expect(saved.jobs).toHaveLength(4);
    const handled: string[] = [];
    const next = queue(async (archiveJob) => {
      handled.push(describeJob(archiveJob));
    });
    next.start();
    await next.idle();
    await next.stop();
    expect(handled.sort()).toEqual(
      [job('hq', 0), job('hq', 1), job('hq', 2), job('hq', 9)].map(describeJob).sort(),
    );
    expect(existsSync(join(stateDir, 'pending-jobs.json'))).toBe(false);
  });

  it('does nothing where there are no dead letters', async () => {
    expect(await redriveLocalDeadLetters({ stateDir, sourceId: 'hq', dryRun: false })).toEqual({
      bySource: {},
      redriven: 0,
      left: 0,
    });
  });
});
