import { afterEach, describe, expect, it } from 'vitest';
import { type HintJob, JOB_VERSION } from '../../../../functions/core/jobs';
import {
  AppCredentialsRefusedError,
  ApplicationAccessPolicyError,
} from '../../../../functions/providers/teams-recordings/teams-recordings-errors';
import { collect, DAY, DAY_WINDOW, startHarness, type TeamsHarness } from './teams-recordings-fixture';

describe('Teams app token and access policy', () => {
  let harness: TeamsHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('shares one client-credentials token between two adapter instances through one TokenStore', async () => {
    // Prepare: two workers of one source, starting at the same moment.
    harness = await startHarness();
    harness.sandbox.addRecording({ organizerId: harness.alice.id, createdAt: DAY });
    const other = harness.sibling();

    // Act
    const [mine, theirs] = await Promise.all([
      collect(harness.source.listRecordings(DAY_WINDOW)),
      collect(other.listRecordings(DAY_WINDOW)),
    ]);

    // Assess
    expect(mine).toHaveLength(1);
    expect(theirs).toHaveLength(1);
    expect(harness.sandbox.counters.tokenRequests).toBe(1);
    const record = await harness.tokenStore.get('msteams/contoso-teams');
    expect(record?.accessToken).toMatch(/^eyJ/);
    expect(JSON.stringify(record)).not.toContain(harness.sandbox.clientSecret);
  });

  it('turns the 403 "No application access policy" into the typed, non-retryable error naming the admin step', async () => {
    // Prepare
    harness = await startHarness();
    harness.sandbox.setPolicyGranted(harness.alice.id, false);

    // Act
    const error = await collect(harness.source.listRecordings(DAY_WINDOW)).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(ApplicationAccessPolicyError);
    expect((error as ApplicationAccessPolicyError).retryable).toBe(false);
    expect(String(error)).toContain('New-CsApplicationAccessPolicy');
    expect(String(error)).toContain('Grant-CsApplicationAccessPolicy');
    expect(String(error)).toContain(harness.sandbox.clientId);
    expect(harness.log.lines).toContainEqual(
      expect.objectContaining({ level: 'error', message: 'teams application access policy missing' }),
    );
    // One refusal, not a retry loop.
    expect(harness.sandbox.requestLog.filter((entry) => entry.status === 403)).toHaveLength(1);
  });

  it('raises the same error when resolving a hint for a user without a policy', async () => {
    // Prepare
    harness = await startHarness();
    const meeting = harness.sandbox.addRecording({ organizerId: harness.bob.id, createdAt: DAY });
    harness.sandbox.setPolicyGranted(harness.bob.id, false);
    const job: HintJob = {
      v: JOB_VERSION,
      type: 'hint',
      provider: 'msteams',
      sourceId: 'contoso-teams',
      eventTime: new Date().toISOString(),
      hint: { kind: 'onlineMeetings', meetingId: meeting.containerId, recordingId: meeting.id },
    };

    // Act
    const error = await harness.source.resolveHint(job).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(ApplicationAccessPolicyError);
  });

  it('remembers a refused client secret, so other workers do not ask Entra again', async () => {
    // Prepare
    harness = await startHarness({ clientSecret: 'wrong-secret' });
    const other = harness.sibling();

    // Act
    const first = await collect(harness.source.listRecordings(DAY_WINDOW)).catch((caught: unknown) => caught);
    const second = await collect(other.listRecordings(DAY_WINDOW)).catch((caught: unknown) => caught);

    // Assess
    expect(first).toBeInstanceOf(AppCredentialsRefusedError);
    expect(String(first)).toContain('AADSTS7000215');
    expect(second).toBeInstanceOf(AppCredentialsRefusedError);
    expect(harness.sandbox.counters.tokenRequests).toBe(1);
  });

  it('gets a new token once when Graph answers 401 for a token it no longer accepts', async () => {
    // Prepare: the shared record holds a token the sandbox never issued.
    harness = await startHarness();
    await collect(harness.source.listRecordings(DAY_WINDOW));
    const record = await harness.tokenStore.get('msteams/contoso-teams');
    await harness.tokenStore.put('msteams/contoso-teams', {
      ...record,
      credentials: record?.credentials ?? '',
      accessToken: 'eyJrevoked',
    });
    const fresh = harness.sibling();

    // Act
    const listed = await collect(fresh.listRecordings(DAY_WINDOW));

    // Assess
    expect(listed).toEqual([]);
    expect(fresh.graph.stats.retriedAfter401).toBe(1);
    expect(harness.sandbox.counters.tokenRequests).toBe(2);
  });
});
