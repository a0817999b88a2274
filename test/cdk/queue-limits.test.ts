/**
 * Issue 16, item 8: what SQS cannot do is refused at synth, naming the config key; the Graph calling bot's
 * worker is sized for a burst that must be fetched before its tokens expire, and its queue's oldest job
 * is alarmed on.
 */
import type { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../cdk/app';
import { ConfigError, parseConfig } from '../../functions/config';
import {
  GRAPH_BURST_RECORDINGS,
  GRAPH_BURST_WORKERS,
  GRAPH_FETCH_WITHIN_SECONDS,
  GRAPH_JOB_SECONDS,
} from '../../functions/providers/graph-calling-bot/descriptor';
import { receivesWhileNotReady } from '../../functions/providers/teams-recordings/descriptor';
import { cdkJsonContext } from './support';

const noBundling = { appProps: cdkJsonContext({ 'aws:cdk:bundling-stacks': [] }), nag: false };

const TEAMS = {
  provider: 'msteams',
  id: 'teams',
  tenantId: '00000000-0000-4000-8000-000000000002',
  users: 'all',
  mediaPersistenceApproved: true,
} as const;

const GRAPH = {
  provider: 'msgraph',
  id: 'bot',
  botAppId: '00000000-0000-4000-8000-000000000001',
  tenantId: '00000000-0000-4000-8000-000000000002',
  allowedDownloadHosts: ['recordings.example.com'],
  mediaPersistenceApproved: true,
} as const;

function synthError(config: object): unknown {
  try {
    buildApp(parseConfig(config), noBundling);
  } catch (error) {
    return error;
  }
  return undefined;
}

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Json = any;

describe('SQS limits refused at synth', () => {
  it('refuses a contentWaitHours beyond the queue’s 14-day retention, naming the source’s key', () => {
    const error = synthError({
      sources: [
        { provider: 'telphin', id: 'hq' },
        { ...TEAMS, contentWaitHours: 14 * 24 + 1 },
      ],
    });
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(
      /sources\[1\]\.contentWaitHours: its jobs would keep coming back for 337 hours, beyond the 14-day retention of the queue \(336 hours/,
    );
  });

  it('accepts a contentWaitHours of exactly 14 days', () => {
    expect(synthError({ sources: [{ ...TEAMS, contentWaitHours: 14 * 24 }] })).toBeUndefined();
  });

  it('refuses a queue maxReceiveCount above 1,000, naming worker.maxReceiveCount and the wait that adds to it', () => {
    // 336 hours of not-ready receives plus 700 for transient faults: above SQS's 1,000.
    expect(receivesWhileNotReady(336) + 700).toBeGreaterThan(1000);
    const error = synthError({
      sources: [{ ...TEAMS, contentWaitHours: 336 }],
      worker: { maxReceiveCount: 700 },
    });
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(
      `worker.maxReceiveCount: the msteams queue would need a maxReceiveCount of ${receivesWhileNotReady(336) + 700} (worker.maxReceiveCount 700 plus the receives of sources[0].contentWaitHours), above SQS's maximum of 1000; lower worker.maxReceiveCount or sources[0].contentWaitHours`,
    );
  });

  it('accepts SQS’s maximum of 1,000 exactly, and a disabled source never counts', () => {
    expect(
      synthError({ sources: [{ provider: 'telphin', id: 'hq' }], worker: { maxReceiveCount: 1000 } }),
    ).toBeUndefined();
    expect(
      synthError({
        sources: [
          { provider: 'telphin', id: 'hq' },
          { ...TEAMS, contentWaitHours: 700, enabled: false },
        ],
      }),
    ).toBeUndefined();
  });
});

describe('the Graph calling bot’s burst', () => {
  it('is fetched within the token budget by the workers it is sized for, and not by one fewer', () => {
    const jobsPerWorker = Math.floor(GRAPH_FETCH_WITHIN_SECONDS / GRAPH_JOB_SECONDS);
    expect(GRAPH_BURST_RECORDINGS).toBe(200);
    expect(GRAPH_BURST_WORKERS * jobsPerWorker).toBeGreaterThanOrEqual(GRAPH_BURST_RECORDINGS);
    expect((GRAPH_BURST_WORKERS - 1) * jobsPerWorker).toBeLessThan(GRAPH_BURST_RECORDINGS);
  });

  const graphStack = (worker: object = {}) => {
    const { stack } = buildApp(
      parseConfig({ sources: [{ provider: 'telphin', id: 'hq' }, GRAPH], worker }),
      noBundling,
    );
    const template = Template.fromStack(stack);
    const id = (construct: { node: { defaultChild?: unknown } }) =>
      stack.getLogicalId(construct.node.defaultChild as CfnElement);
    const queueOf = (provider: 'msgraph' | 'telphin') => id(stack.queues.get(provider)!.queue);
    const mappingOf = (provider: 'msgraph' | 'telphin') =>
      (
        Object.values(template.findResources('AWS::Lambda::EventSourceMapping')).find(
          (mapping: Json) => mapping.Properties.EventSourceArn['Fn::GetAtt'][0] === queueOf(provider),
        ) as Json
      ).Properties;
    return { template, queueOf, mappingOf };
  };

  it('gets that many workers, unless worker.maxConcurrency asks for more; other queues keep the configured figure', () => {
    const sized = graphStack();
    expect(sized.mappingOf('msgraph').ScalingConfig).toEqual({ MaximumConcurrency: GRAPH_BURST_WORKERS });
    expect(sized.mappingOf('telphin').ScalingConfig).toEqual({ MaximumConcurrency: 5 });
    expect(graphStack({ maxConcurrency: 50 }).mappingOf('msgraph').ScalingConfig).toEqual({
      MaximumConcurrency: 50,
    });
  });

  it('alarms when the oldest job of its queue, and of no other, has waited the token budget', () => {
    const { template, queueOf } = graphStack();
    const ageAlarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'))
      .map((alarm: Json) => alarm.Properties)
      .filter((alarm) => alarm.MetricName === 'ApproximateAgeOfOldestMessage');
    const onQueue = (provider: 'msgraph' | 'telphin') =>
      ageAlarms.filter((alarm) => alarm.Dimensions[0].Value['Fn::GetAtt'][0] === queueOf(provider));
    // The stalled-queue alarm on both; the token-budget one on the Graph queue only.
    expect(onQueue('telphin').map((alarm) => alarm.Threshold)).toEqual([3600]);
    const graph = onQueue('msgraph').find((alarm) => alarm.Threshold === GRAPH_FETCH_WITHIN_SECONDS);
    expect(graph).toMatchObject({
      Period: 60,
      Statistic: 'Maximum',
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(graph.AlarmActions).toHaveLength(1);
  });
});
