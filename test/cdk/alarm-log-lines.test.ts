/**
 * The RingCentral and Teams metric filters read log lines other modules write. These tests produce those lines with
 * the real components (the RingCentral adapter against its sandbox, the SQS batch processor against moto,
 * Powertools printing them) and check that the filters' fields and values are what gets printed.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { powertoolsLog } from '../../functions/adapters/logger';
import { processSqsBatch, queueRoutesFromUrls } from '../../functions/adapters/sqs-batch-processor';
import { RateLimitedError } from '../../functions/core/errors';
import {
  type ArchiveJob,
  describeJob,
  JOB_VERSION,
  parseJob,
  recordingJob,
  serialiseJob,
} from '../../functions/core/jobs';
import {
  WEBHOOK_NOT_UNDERSTOOD_CODE as LOGGED_NOT_UNDERSTOOD_CODE,
  receiveWebhook,
} from '../../functions/core/receive-webhook';
import type { ProviderName } from '../../functions/core/recording';
import { WEBHOOK_NOT_UNDERSTOOD_CODE } from '../../functions/observability/names';
import {
  RINGCENTRAL_JOB_PATTERNS,
  RINGCENTRAL_LOGIN_REFUSED_MESSAGE,
} from '../../functions/providers/ringcentral/descriptor';
import { CredentialsRefusedError } from '../../functions/providers/ringcentral/ringcentral-auth';
import {
  TEAMS_ACCESS_POLICY_MISSING_MESSAGE,
  TEAMS_CREDENTIALS_REFUSED_MESSAGE,
  TEAMS_LIFECYCLE_MESSAGE,
  TEAMS_METERED_API_MESSAGE,
  TEAMS_MISSED_EVENT,
} from '../../functions/providers/teams-recordings/descriptor';
import {
  AppCredentialsRefusedError,
  ApplicationAccessPolicyError,
  TeamsMeteredApiError,
} from '../../functions/providers/teams-recordings/teams-recordings-errors';
import { fixedSourceRegistry } from '../support/fixed-source-registry';
import { type MotoServer, motoAvailable, startMoto } from '../support/moto';
import { createQueue, receiveRecords } from '../support/sqs-records';
import {
  collect,
  JAN_WINDOW,
  type RingCentralHarness,
  startHarness,
} from '../unit/providers/ringcentral/ringcentral-fixture';
import {
  collect as collectTeams,
  DAY,
  DAY_WINDOW,
  startHarness as startTeamsHarness,
  WEBHOOK_SECRET as TEAMS_WEBHOOK_SECRET,
  type TeamsHarness,
} from '../unit/providers/teams-recordings/teams-recordings-fixture';

/** CloudWatch's trailing wildcard: `"hint ringcentral/*"` matches values starting with `hint ringcentral/`. */
function matchesRingCentralJob(value: unknown): boolean {
  return (
    typeof value === 'string' &&
    RINGCENTRAL_JOB_PATTERNS.some((pattern) => value.startsWith(pattern.slice(0, -1)))
  );
}

function job(provider: ProviderName, index: number): ArchiveJob {
  return recordingJob({
    provider,
    sourceId: `${provider}-main`,
    recordingId: `rec-${index}`,
    startedAt: new Date(Date.UTC(2025, 4, 6, 7, 8, index)),
    direction: 'inbound',
    fileExtension: 'mp3',
    raw: {},
  });
}

/** Powertools' JSON lines written while `act` runs. */
async function printedLines(act: (logger: Logger) => Promise<void>): Promise<Record<string, unknown>[]> {
  const printed: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    printed.push(String(chunk));
    return true;
  };
  const writes = [
    vi.spyOn(process.stdout, 'write').mockImplementation(capture),
    vi.spyOn(process.stderr, 'write').mockImplementation(capture),
  ];
  try {
    await act(new Logger({ serviceName: 'callvault-test' }));
  } finally {
    for (const write of writes) write.mockRestore();
  }
  return printed
    .flatMap((text) => text.split('\n'))
    .filter((text) => text.startsWith('{'))
    .map((text) => JSON.parse(text));
}

describe('the RingCentral job patterns', () => {
  it('match the job descriptions of RingCentral hints and recordings, and no other provider', () => {
    const hint = parseJob(
      JSON.stringify({
        v: JOB_VERSION,
        type: 'hint',
        provider: 'ringcentral',
        sourceId: 'ringcentral-main',
        eventTime: '2025-05-06T07:08:09.000Z',
        hint: {},
      }),
    );
    expect(matchesRingCentralJob(describeJob(hint))).toBe(true);
    expect(matchesRingCentralJob(describeJob(job('ringcentral', 1)))).toBe(true);
    expect(matchesRingCentralJob(describeJob(job('telphin', 1)))).toBe(false);
    expect(matchesRingCentralJob(describeJob(job('msgraph', 1)))).toBe(false);
  });
});

describe('the RingCentral login refusal', () => {
  let harness: RingCentralHarness | undefined;
  afterAll(async () => harness?.sandbox.close());

  it('is logged at error level with exactly the message the filter looks for', async () => {
    // Prepare
    harness = await startHarness({ jwt: 'eyJhbGciOiJSUzI1NiJ9.revoked-jwt.sig' });

    // Act
    await expect(collect(harness.source.listRecordings(JAN_WINDOW))).rejects.toBeInstanceOf(
      CredentialsRefusedError,
    );

    // Assess
    expect(harness.log.lines.filter((line) => line.level === 'error').map((line) => line.message)).toEqual([
      RINGCENTRAL_LOGIN_REFUSED_MESSAGE,
    ]);
  });
});

describe.skipIf(!motoAvailable())(
  'the worker log lines of failed RingCentral jobs (SQS batch processor on moto)',
  () => {
    let moto: MotoServer;
    beforeAll(async () => {
      moto = await startMoto();
    });
    afterAll(async () => {
      await moto?.stop();
    });

    async function processOne(
      provider: ProviderName,
      failure: Error,
      run: string,
    ): Promise<Record<string, unknown>[]> {
      const dlq = await createQueue(moto.sqs, `${run}-dlq`);
      const queue = await createQueue(moto.sqs, run, { deadLetter: dlq, maxReceiveCount: 5 });
      await moto.sqs.send(
        new SendMessageCommand({ QueueUrl: queue.url, MessageBody: serialiseJob(job(provider, 1)) }),
      );
      const records = await receiveRecords(moto.sqs, queue);
      expect(records).toHaveLength(1);
      return printedLines(async (logger) => {
        await processSqsBatch(records, {
          client: moto.sqs,
          handleJob: async () => {
            throw failure;
          },
          routeFor: queueRoutesFromUrls({ [provider]: queue.url }, { [provider]: dlq.url }),
          maxReceiveCount: 5,
          deadline: new AbortController().signal,
          log: powertoolsLog(logger),
          random: () => 1,
        });
      });
    }

    it('a 429 is printed with code RATE_LIMITED and the RingCentral job, as the rate filter expects', async () => {
      const lines = await processOne(
        'ringcentral',
        new RateLimitedError('Heavy group exhausted', 30),
        'rc-429',
      );
      const counted = lines.filter((line) => line.code === 'RATE_LIMITED' && matchesRingCentralJob(line.job));
      expect(counted).toHaveLength(1);
      expect(counted[0]).toMatchObject({ message: 'job failed; retrying later', level: 'WARN' });
    });

    it('a refused login is printed with code UNAUTHENTICATED and the RingCentral job, as the login filter expects', async () => {
      const lines = await processOne(
        'ringcentral',
        new CredentialsRefusedError('RingCentral refused the credentials of source ringcentral-main'),
        'rc-refused',
      );
      const counted = lines.filter(
        (line) => line.code === 'UNAUTHENTICATED' && matchesRingCentralJob(line.job),
      );
      expect(counted).toHaveLength(1);
    });

    it("Telphin's 429s are not counted as RingCentral's", async () => {
      const lines = await processOne('telphin', new RateLimitedError('slow down', 30), 'telphin-429');
      expect(lines.some((line) => line.code === 'RATE_LIMITED')).toBe(true);
      expect(lines.filter((line) => matchesRingCentralJob(line.job))).toEqual([]);
    });
  },
);

/** CloudWatch's `{ $.field = "value" }` on one printed JSON line. */
function matchesFields(line: Record<string, unknown>, fields: Record<string, string>): boolean {
  return Object.entries(fields).every(([field, value]) => line[field] === value);
}

describe('the Teams lines the metric filters count (Teams adapter against its sandbox, Powertools printing)', () => {
  let teams: TeamsHarness | undefined;
  afterEach(async () => {
    await teams?.close();
    teams = undefined;
  });

  it('prints the access-policy refusal with the message the filter looks for', async () => {
    teams = await startTeamsHarness();
    teams.sandbox.setPolicyGranted(teams.alice.id, false);
    const harness = teams;
    const lines = await printedLines(async (logger) => {
      const source = harness.sibling({ log: powertoolsLog(logger) });
      await expect(collectTeams(source.listRecordings(DAY_WINDOW))).rejects.toBeInstanceOf(
        ApplicationAccessPolicyError,
      );
    });
    expect(
      lines.filter((line) => matchesFields(line, { message: TEAMS_ACCESS_POLICY_MISSING_MESSAGE })),
    ).toHaveLength(1);
  });

  it('prints the metered-API refusal (402) with the message the filter looks for', async () => {
    teams = await startTeamsHarness();
    teams.sandbox.addRecording({ kind: 'onlineMeetings', organizerId: teams.alice.id, createdAt: DAY });
    teams.sandbox.setMeteredBilling('unlinked');
    const harness = teams;
    const lines = await printedLines(async (logger) => {
      const source = harness.sibling({ log: powertoolsLog(logger) });
      const [recording] = await collectTeams(source.listRecordings(DAY_WINDOW));
      if (!recording) throw new Error('nothing listed');
      const error = await source.openDownload(recording).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TeamsMeteredApiError);
      expect((error as TeamsMeteredApiError).retryable).toBe(true);
    });
    expect(
      lines.filter((line) =>
        matchesFields(line, {
          message: TEAMS_METERED_API_MESSAGE,
          errorCode: 'TEAMS_METERED_API_BILLING',
        }),
      ),
    ).toHaveLength(1);
  });

  it('prints the refused app credentials with the message the filter looks for', async () => {
    teams = await startTeamsHarness({ clientSecret: 'not-the-secret' });
    const harness = teams;
    const lines = await printedLines(async (logger) => {
      const source = harness.sibling({ log: powertoolsLog(logger) });
      await expect(collectTeams(source.listRecordings(DAY_WINDOW))).rejects.toBeInstanceOf(
        AppCredentialsRefusedError,
      );
    });
    expect(
      lines.filter((line) => matchesFields(line, { message: TEAMS_CREDENTIALS_REFUSED_MESSAGE })),
    ).toHaveLength(1);
  });

  it("prints Graph's missed lifecycle event with the message and event the webhook filter looks for, and no other event so", async () => {
    teams = await startTeamsHarness();
    const harness = teams;
    const lines = await printedLines(async (logger) => {
      const source = harness.sibling({ log: powertoolsLog(logger) });
      await source.handleWebhook({
        method: 'POST',
        query: {},
        headers: {},
        body: JSON.stringify({
          value: [
            { subscriptionId: 'sub-1', clientState: TEAMS_WEBHOOK_SECRET, lifecycleEvent: 'missed' },
            {
              subscriptionId: 'sub-1',
              clientState: TEAMS_WEBHOOK_SECRET,
              lifecycleEvent: 'reauthorizationRequired',
            },
          ],
        }),
      });
    });
    const missed = { message: TEAMS_LIFECYCLE_MESSAGE, event: TEAMS_MISSED_EVENT };
    expect(lines.filter((line) => matchesFields(line, missed))).toHaveLength(1);
    expect(lines.filter((line) => matchesFields(line, { message: TEAMS_LIFECYCLE_MESSAGE }))).toHaveLength(2);
  });

  it('prints an unreadable Teams resource with its text, then the errorCode and event count the webhook filter sums', async () => {
    teams = await startTeamsHarness();
    const harness = teams;
    const user = harness.alice.id;
    const resource = `users/${user}/onlineMeetings('m-1')/recordingArtifacts('r-1')`;
    const lines = await printedLines(async (logger) => {
      const log = powertoolsLog(logger);
      const source = harness.sibling({ log });
      const answer = await receiveWebhook(
        'msteams',
        source.sourceId,
        {
          method: 'POST',
          query: {},
          headers: {},
          body: JSON.stringify({
            value: [1, 2].map((n) => ({
              subscriptionId: 'sub-1',
              changeType: 'created',
              clientState: TEAMS_WEBHOOK_SECRET,
              resource: `${resource}${n === 2 ? '/x' : ''}`,
            })),
          }),
        },
        {
          sources: fixedSourceRegistry([{ provider: 'msteams', id: source.sourceId }], () => source),
          queue: { enqueue: async () => {}, stats: () => ({}) } as never,
          log,
        },
      );
      expect(answer.status).toBe(202);
    });
    expect(WEBHOOK_NOT_UNDERSTOOD_CODE).toBe(LOGGED_NOT_UNDERSTOOD_CODE);
    const counted = lines.filter((line) => matchesFields(line, { errorCode: WEBHOOK_NOT_UNDERSTOOD_CODE }));
    expect(counted).toHaveLength(1);
    expect(counted[0]).toMatchObject({ level: 'ERROR', events: 2, provider: 'msteams' });
    // The text of each is in the adapter's own line, for the reader.
    expect(
      lines.filter((line) => typeof line.resource === 'string' && line.resource.startsWith(resource)),
    ).toHaveLength(2);
  });
});
