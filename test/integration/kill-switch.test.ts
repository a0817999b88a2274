/**
 * The retention kill switch on moto's SSM: the parameter's existence engages it, whatever its value, and
 * only its absence lets deletes go on; an unreadable switch counts as engaged. The deployed retention entry
 * point deletes nothing while the parameter exists.
 */
import { DeleteParameterCommand, ParameterType, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SsmKillSwitch } from '../../functions/adapters/kill-switch';
import type { Log } from '../../functions/core/ports';
import { freePort, motoAvailable, TEST_CREDENTIALS, TEST_REGION } from '../support/moto';
import { type PipelineHarness, startPipelineHarness } from '../support/pipeline-harness';

const PARAMETER = '/callvault/Callvault/retention/kill-switch';
const DAY_MS = 86_400_000;

function recordingLog() {
  const lines: { level: string; message: string; attributes?: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (message: string, attributes?: Record<string, unknown>): void => {
      lines.push({ level, message, attributes });
    };
  const log: Log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines };
}

describe.skipIf(!motoAvailable())('retention kill switch on SSM', () => {
  let harness: PipelineHarness;
  let ssm: SSMClient;

  beforeAll(async () => {
    harness = await startPipelineHarness();
    ssm = new SSMClient({
      endpoint: harness.moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
  });

  afterAll(async () => {
    ssm?.destroy();
    await harness?.stop();
  });

  beforeEach(async () => {
    await harness.moto.reset();
  });

  const engage = (value: string) =>
    ssm.send(
      new PutParameterCommand({ Name: PARAMETER, Value: value, Type: ParameterType.STRING, Overwrite: true }),
    );
  const disengage = () => ssm.send(new DeleteParameterCommand({ Name: PARAMETER }));

  it('is disengaged only while the parameter does not exist; any value engages it', async () => {
    // Prepare
    const { log, lines } = recordingLog();
    const killSwitch = new SsmKillSwitch({ client: ssm, parameterName: PARAMETER, log });

    // Act / Assess
    expect(await killSwitch.engaged()).toBe(false);
    for (const value of ['on', 'off', 'false', '0', 'maintenance until Monday']) {
      await engage(value);
      expect(await killSwitch.engaged(), value).toBe(true);
    }
    await disengage();
    expect(await killSwitch.engaged()).toBe(false);
    expect(lines.filter((line) => line.level === 'warn')).toHaveLength(5);
    expect(lines.filter((line) => line.level === 'error')).toEqual([]);
  });

  it('counts as engaged, loudly, when SSM cannot be reached', async () => {
    // Prepare: nothing listens on this port.
    const unreachable = new SSMClient({
      endpoint: `http://127.0.0.1:${await freePort()}`,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
      maxAttempts: 1,
    });
    const { log, lines } = recordingLog();
    const killSwitch = new SsmKillSwitch({ client: unreachable, parameterName: PARAMETER, log });

    // Act
    const engaged = await killSwitch.engaged();
    unreachable.destroy();

    // Assess
    expect(engaged).toBe(true);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'error',
        message: 'kill switch unreadable: treating it as engaged',
        attributes: expect.objectContaining({ parameter: PARAMETER }),
      }),
    ]);
  });

  it('stops the deployed retention entry point while the parameter exists, even holding "off"', async () => {
    // Prepare: two verified copies of old calls, due for deletion.
    const pipeline = await harness.pipeline({
      retention: { dryRun: false, gracePeriodHours: 0, deleteFromSourceAfterDays: 1, scanBackDays: 30 },
      killSwitchParameter: PARAMETER,
    });
    const old = [2, 3].map((daysAgo) =>
      pipeline.sandbox.addRecording({
        startedAt: new Date(Date.now() - daysAgo * DAY_MS),
        durationSeconds: 60,
        size: 100_000,
      }),
    );
    await pipeline.send(old.map((recording) => pipeline.recordingJobFor(recording)));
    await pipeline.drain();
    await engage('off');

    // Act
    const stopped = await pipeline.retention();

    // Assess
    expect(stopped.reports[0]).toMatchObject({ deleted: 0, stoppedBy: 'kill-switch' });
    expect(pipeline.sandbox.deletedIds()).toEqual([]);

    // Act: the operator deletes the parameter.
    await disengage();
    const resumed = await pipeline.retention();

    // Assess
    expect(resumed.reports[0]).toMatchObject({ deleted: 2 });
    expect(pipeline.sandbox.deletedIds().sort()).toEqual(old.map((recording) => recording.recordUuid).sort());
  });
});
