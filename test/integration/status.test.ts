/**
 * `npm run status`: local mode against the Telphin sandbox and an archive populated by the real local
 * pipeline; the S3/SQS side against moto.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalJobQueue } from '../../functions/adapters/local-job-queue';
import { S3RunLedger } from '../../functions/adapters/run-ledgers';
import { parseConfig } from '../../functions/config';
import { recordingJob } from '../../functions/core/jobs';
import { recordingKey, sidecarKey } from '../../functions/core/keys';
import type { AuditEntry } from '../../functions/core/ports';
import { silentLog } from '../../functions/core/ports';
import type { SourceRecording } from '../../functions/core/recording';
import { startLocalHost } from '../../functions/local/local-host';
import { readDeployedStack } from '../../functions/ops/stack-outputs';
import { awsStatusDependencies, localStatusDependencies } from '../../functions/ops/status-dependencies';
import { collectStatus, type StatusReport } from '../../functions/ops/status-report';
import { formatStatus } from '../../functions/ops/status-table';
import {
  type SandboxRecording,
  startTelphinSandbox,
  type TelphinSandbox,
} from '../../sandbox/providers/telphin-sandbox';
import {
  freePort,
  type MotoServer,
  motoAvailable,
  startMoto,
  TEST_CREDENTIALS,
  TEST_REGION,
} from '../support/moto';
import { createQueue } from '../support/sqs-records';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const SOURCE_ID = 'hq';
const DAY_MS = 86_400_000;

/**
 * The instant every in-process status is taken at. The data sits on days counted back from its UTC day;
 * a status taken at its own "now" could fall on the next day when the test runs across midnight.
 */
const NOW = new Date();
const today = new Date(Math.floor(NOW.getTime() / DAY_MS) * DAY_MS);
/** Noon UTC `back` days before today. */
const noon = (back: number, minutes = 0) =>
  new Date(today.getTime() - back * DAY_MS + 12 * 3_600_000 + minutes * 60_000);
const dayOf = (back: number) => new Date(today.getTime() - back * DAY_MS).toISOString().slice(0, 10);

const listedStart = (recording: SandboxRecording) =>
  new Date(Math.floor(recording.startedAt.getTime() / 1000) * 1000);
const sourceRecording = (recording: SandboxRecording): SourceRecording => ({
  provider: 'telphin',
  sourceId: SOURCE_ID,
  recordingId: recording.recordUuid,
  startedAt: listedStart(recording),
  direction: 'inbound',
  fileExtension: 'mp3',
  size: recording.size,
  raw: {},
});
const keyOf = (recording: SandboxRecording) => recordingKey(sourceRecording(recording));

function auditLine(decision: AuditEntry['decision'], sourceId = SOURCE_ID): string {
  const entry: AuditEntry = {
    runId: 'run-1',
    at: new Date().toISOString(),
    provider: 'telphin',
    sourceId,
    recordingId: `rec-${Math.random()}`,
    startedAt: new Date().toISOString(),
    decision,
    dryRun: false,
  };
  return `${JSON.stringify(entry)}\n`;
}
const auditKeyFor = (back: number) => `audit/retention/${dayOf(back).replaceAll('-', '/')}/run-1.jsonl`;
/** 2 deleted + 1 already-gone for hq; noise that must not count: a would-delete, a skipped, another source's delete. */
const AUDIT_TEXT = [
  auditLine('deleting'),
  auditLine('deleted'),
  auditLine('deleted'),
  auditLine('already-gone'),
  auditLine('would-delete'),
  auditLine('skipped'),
  auditLine('deleted', 'other'),
].join('');

const dayRow = (report: StatusReport, back: number) =>
  report.sources[0]?.days.find((day) => day.day === dayOf(back));

describe('npm run status (local mode)', () => {
  let sandbox: TelphinSandbox;
  let dir: string;
  let archiveDir: string;
  let stateDir: string;
  let recordings: SandboxRecording[];
  let config: ReturnType<typeof parseConfig>;

  beforeAll(async () => {
    sandbox = await startTelphinSandbox();
  });
  afterAll(async () => {
    await sandbox?.close();
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callvault-status-'));
    archiveDir = join(dir, 'archive');
    stateDir = join(dir, 'state');
    config = parseConfig({
      sources: [
        {
          provider: 'telphin',
          id: SOURCE_ID,
          apiUrl: sandbox.url,
          clientId: sandbox.clientId,
          clientSecret: sandbox.clientSecret,
          allowedDownloadHosts: [new URL(sandbox.url).hostname, new URL(sandbox.storageOrigin).hostname],
        },
      ],
      local: { archiveDir, stateDir, port: await freePort() },
      sweep: { enabled: false, lookbackHours: 24 * 5 },
    });
    await writeFile(join(dir, 'callvault.config.json'), JSON.stringify({ ...config, retention: undefined }));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('counts source, archived, missing and deleted per day, queue and dead letters, and the last sweep', async () => {
    // Prepare: 10 recordings over three days; 3 hidden from the sweep, so only 7 get archived.
    recordings = [
      ...[0, 1, 2, 3].map((i) =>
        sandbox.addRecording({ startedAt: noon(3, i), durationSeconds: 60, flow: 'in', size: 100_000 + i }),
      ),
      ...[0, 1, 2].map((i) =>
        sandbox.addRecording({ startedAt: noon(2, i), durationSeconds: 60, flow: 'in', size: 200_000 + i }),
      ),
      ...[0, 1, 2].map((i) =>
        sandbox.addRecording({ startedAt: noon(1, i), durationSeconds: 60, flow: 'out', size: 300_000 + i }),
      ),
    ];
    const hidden = [recordings[4], recordings[5], recordings[8]].filter(
      (r): r is SandboxRecording => r !== undefined,
    );
    for (const recording of hidden)
      sandbox.setListedAt(recording.recordUuid, new Date(Date.now() + 3_600_000));
    const host = await startLocalHost({
      config,
      log: silentLog,
      scheduleSweep: false,
      scheduleRetention: false,
    });
    await host.sweepNow();
    await host.idle();
    await host.stop();
    for (const recording of hidden) sandbox.setListedAt(recording.recordUuid, undefined);
    // One archived recording loses its sidecar: no longer counts as archived.
    const first = recordings[0] as SandboxRecording;
    await unlink(join(archiveDir, sidecarKey(keyOf(first))));
    await mkdir(join(archiveDir, 'audit/retention', dayOf(2).replaceAll('-', '/')), { recursive: true });
    await writeFile(join(archiveDir, auditKeyFor(2)), AUDIT_TEXT);
    // Two jobs saved by a stopped local queue, one dead letter.
    const queue = new LocalJobQueue({
      concurrency: 1,
      maxReceiveCount: 1,
      deadLetterDir: join(stateDir, 'dead-letter'),
      stateFile: join(stateDir, 'pending-jobs.json'),
      handleJob: async () => {},
    });
    await queue.enqueue(hidden.slice(0, 2).map((recording) => recordingJob(sourceRecording(recording))));
    await queue.stop();
    await mkdir(join(stateDir, 'dead-letter'), { recursive: true });
    await writeFile(
      join(stateDir, 'dead-letter', `${new Date().toISOString().replaceAll(':', '-')}-telphin-0123abcd.json`),
      '{}',
    );

    // Act
    const report = await collectStatus(
      localStatusDependencies({ config, days: 5, checkRunningHost: false, now: NOW }),
    );

    // Assess
    const bytes = (list: (SandboxRecording | undefined)[]) =>
      list.reduce((sum, r) => sum + (r?.size ?? 0), 0);
    expect(report.days).toEqual([dayOf(4), dayOf(3), dayOf(2), dayOf(1), dayOf(0)]);
    expect(dayRow(report, 4)).toMatchObject({
      atSource: { count: 0, bytes: 0 },
      archived: { count: 0, bytes: 0 },
      missing: 0,
      deletedAtSource: 0,
    });
    expect(dayRow(report, 3)).toMatchObject({
      atSource: { count: 4, bytes: bytes(recordings.slice(0, 4)) },
      archived: { count: 3, bytes: bytes(recordings.slice(1, 4)) },
      withoutSidecar: 1,
      missing: 1,
      deletedAtSource: 0,
    });
    expect(dayRow(report, 2)).toMatchObject({
      atSource: { count: 3 },
      archived: { count: 1, bytes: bytes([recordings[6]]) },
      missing: 2,
      deletedAtSource: 3,
    });
    expect(dayRow(report, 1)).toMatchObject({
      atSource: { count: 3 },
      archived: { count: 2, bytes: bytes([recordings[7], recordings[9]]) },
      missing: 1,
      deletedAtSource: 0,
    });
    expect(report.sources[0]?.daysWithMissing).toEqual([dayOf(3), dayOf(2), dayOf(1)]);
    expect(report.sources[0]?.lastRuns.sweep).toMatchObject({
      kind: 'sweep',
      outcome: 'ok',
      summary: { listed: 7, enqueued: 7 },
    });
    expect(report.sources[0]?.lastRuns.retention).toBeUndefined();
    expect(report.queues).toEqual([
      { provider: 'telphin', pending: 2, inFlight: 0, delayed: 0, deadLetters: 1, origin: 'saved-state' },
    ]);

    const text = formatStatus(report);
    expect(text).toContain(`${dayOf(2)}`);
    expect(text).toMatch(new RegExp(`${dayOf(2)} +3 +[\\d.]+ KiB +1 +[\\d.]+ KiB +2 ! +3`));
    expect(text).toContain(`! missing recordings on ${dayOf(3)}, ${dayOf(2)}, ${dayOf(1)}`);

    // The CLI prints the same numbers as JSON.
    const cli = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(
        join(REPO, 'node_modules/.bin/tsx'),
        ['scripts/status.ts', '--days', '5', '--json'],
        { cwd: REPO, env: { ...process.env, CALLVAULT_CONFIG: join(dir, 'callvault.config.json') } },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(cli.code, cli.stderr).toBe(0);
    const fromCli = JSON.parse(cli.stdout) as StatusReport;
    // The CLI reads the real clock: compare with a status taken in-process at the same instant.
    const atCliInstant = await collectStatus(
      localStatusDependencies({
        config,
        days: 5,
        checkRunningHost: false,
        now: new Date(fromCli.generatedAt),
      }),
    );
    const rows = (status: StatusReport) =>
      status.sources[0]?.days.map((day) => [
        day.day,
        day.atSource?.count,
        day.archived.count,
        day.missing,
        day.deletedAtSource,
      ]);
    expect(rows(fromCli)).toEqual(rows(atCliInstant));
  }, 60_000);

  it('reads the live queue of a running npm start instead of its saved state', async () => {
    const host = await startLocalHost({
      config,
      log: silentLog,
      scheduleSweep: false,
      scheduleRetention: false,
    });
    try {
      const report = await collectStatus(localStatusDependencies({ config, days: 1 }));
      expect(report.queues).toEqual([
        { provider: 'all', pending: 0, inFlight: 0, delayed: 0, deadLetters: 0, origin: 'running-host' },
      ]);
    } finally {
      await host.stop();
    }
  });

  it('refuses a bad --days with a message naming it', async () => {
    const cli = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(join(REPO, 'node_modules/.bin/tsx'), ['scripts/status.ts', '--days', 'seven'], {
        cwd: REPO,
        env: { ...process.env, CALLVAULT_CONFIG: join(dir, 'callvault.config.json') },
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain('--days "seven" must be a whole number');
  });
});

describe.skipIf(!motoAvailable())('npm run status (S3 and SQS, moto)', () => {
  const BUCKET = 'callvault-status';
  let moto: MotoServer;
  let sandbox: TelphinSandbox;

  beforeAll(async () => {
    moto = await startMoto();
    sandbox = await startTelphinSandbox();
  });
  afterAll(async () => {
    await sandbox?.close();
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
  });

  it('counts archived objects and audit lines in the bucket, queue and DLQ depths, and ledger runs', async () => {
    // Prepare: at the source 3 + 2 recordings on two days; in the bucket 2 + 2, one of them without sidecar.
    const recordings = [
      ...[0, 1, 2].map((i) =>
        sandbox.addRecording({ startedAt: noon(2, i), durationSeconds: 60, flow: 'in', size: 10_000 + i }),
      ),
      ...[0, 1].map((i) =>
        sandbox.addRecording({ startedAt: noon(1, i), durationSeconds: 60, flow: 'in', size: 20_000 + i }),
      ),
    ];
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const put = (key: string, body: string | Buffer) =>
      moto.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
    const inBucket = [recordings[0], recordings[1], recordings[3], recordings[4]].filter(
      (r): r is SandboxRecording => r !== undefined,
    );
    for (const recording of inBucket) {
      await put(keyOf(recording), Buffer.alloc(recording.size, 1));
      if (recording !== recordings[4]) await put(sidecarKey(keyOf(recording)), '{}');
    }
    await put(auditKeyFor(1), AUDIT_TEXT);
    await new S3RunLedger({ client: moto.s3, bucket: BUCKET }).record({
      kind: 'retention',
      sourceId: SOURCE_ID,
      startedAt: '2024-01-01T00:00:00.000Z',
      endedAt: '2024-01-01T00:05:00.000Z',
      outcome: 'ok',
      summary: { deleted: 3 },
    });
    const dlq = await createQueue(moto.sqs, 'callvault-telphin-dlq');
    const queue = await createQueue(moto.sqs, 'callvault-telphin', { deadLetter: dlq, maxReceiveCount: 5 });
    for (const body of ['a', 'b', 'c'])
      await moto.sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: body }));
    await moto.sqs.send(new SendMessageCommand({ QueueUrl: dlq.url, MessageBody: 'dead' }));
    await moto.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 1, VisibilityTimeout: 60 }),
    );
    const config = parseConfig({
      sources: [
        {
          provider: 'telphin',
          id: SOURCE_ID,
          apiUrl: sandbox.url,
          clientId: sandbox.clientId,
          clientSecret: sandbox.clientSecret,
          allowedDownloadHosts: [new URL(sandbox.url).hostname],
        },
      ],
    });

    // Act
    const report = await collectStatus(
      awsStatusDependencies({
        config,
        days: 3,
        bucket: BUCKET,
        queueUrls: { telphin: queue.url },
        deadLetterQueueUrls: { telphin: dlq.url },
        s3: moto.s3,
        sqs: moto.sqs,
        credentials: async () => ({
          values: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret },
          origin: 'the test',
        }),
        now: NOW,
      }),
    );

    // Assess
    expect(dayRow(report, 2)).toMatchObject({
      atSource: { count: 3 },
      archived: { count: 2, bytes: 10_000 + 10_001 },
      missing: 1,
      deletedAtSource: 0,
    });
    expect(dayRow(report, 1)).toMatchObject({
      atSource: { count: 2 },
      archived: { count: 1, bytes: 20_000 },
      withoutSidecar: 1,
      missing: 1,
      deletedAtSource: 3,
    });
    expect(dayRow(report, 0)).toMatchObject({ atSource: { count: 0 }, archived: { count: 0 }, missing: 0 });
    expect(report.sources[0]?.lastRuns.retention).toMatchObject({ outcome: 'ok', summary: { deleted: 3 } });
    expect(report.queues).toEqual([
      { provider: 'telphin', pending: 2, inFlight: 1, delayed: 0, deadLetters: 1, origin: 'sqs' },
    ]);
  });

  it('reads bucket and queue URLs from the stack outputs, and names a missing output', async () => {
    const cloudFormation = new CloudFormationClient({
      endpoint: moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
    const template = (withBucketOutput: boolean) =>
      JSON.stringify({
        Resources: { Queue: { Type: 'AWS::SQS::Queue' }, DeadLetters: { Type: 'AWS::SQS::Queue' } },
        Outputs: {
          ...(withBucketOutput ? { BucketName: { Value: 'the-bucket' } } : {}),
          TelphinQueueUrl: { Value: { Ref: 'Queue' } },
          TelphinDeadLetterQueueUrl: { Value: { Ref: 'DeadLetters' } },
          SecretNameHq: { Value: 'callvault/hq' },
        },
      });
    await cloudFormation.send(
      new CreateStackCommand({ StackName: 'Callvault', TemplateBody: template(true) }),
    );
    await cloudFormation.send(new CreateStackCommand({ StackName: 'Broken', TemplateBody: template(false) }));

    const stack = await readDeployedStack(cloudFormation, 'Callvault');

    expect(stack.bucket).toBe('the-bucket');
    expect(stack.queueUrls.telphin).toMatch(/^http.*Queue/);
    expect(stack.deadLetterQueueUrls.telphin).toMatch(/^http.*DeadLetters/);
    expect(stack.secretNameFor('hq')).toBe('callvault/hq');
    await expect(readDeployedStack(cloudFormation, 'Broken')).rejects.toThrow(
      'stack "Broken" has no output BucketName',
    );
    await expect(readDeployedStack(cloudFormation, 'Missing')).rejects.toThrow(
      'cannot describe CloudFormation stack "Missing"',
    );
    cloudFormation.destroy();
  });
});
