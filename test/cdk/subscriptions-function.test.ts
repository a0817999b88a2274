import type { CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../cdk/app';
import type { ArchiveStack } from '../../cdk/archive-stack';
import {
  DEFAULT_SUBSCRIPTIONS_INTERVAL_SECONDS,
  SubscriptionsFunction,
  subscriptionsCheckWithinSeconds,
} from '../../cdk/constructs/subscriptions-function';
import { ENV, parseConfig } from '../../functions/config';
import { allowStatements, cdkJsonContext, nagViolations, policyOfRole } from './support';

const noBundling = { appProps: cdkJsonContext({ 'aws:cdk:bundling-stacks': [] }) };

const withRingCentral = parseConfig({
  sources: [
    { provider: 'telphin', id: 'hq' },
    { provider: 'ringcentral', id: 'rc-main' },
  ],
  aws: { stackName: 'CallvaultSubs', account: '123456789012', region: 'eu-west-1' },
});

describe('the subscriptions function', () => {
  let stack: ArchiveStack;
  let template: Template;
  const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(construct.node.defaultChild as CfnElement);

  beforeAll(() => {
    ({ stack } = buildApp(withRingCentral, noBundling));
    template = Template.fromStack(stack);
  });

  it('runs after the deploy, once the webhook API and secrets exist, and on a schedule', () => {
    const subscriptions = stack.subscriptions;
    if (!subscriptions) throw new Error('expected the subscriptions function');
    const functionId = logicalId(subscriptions.handler);
    const triggers = template.findResources('Custom::Trigger');
    const [trigger] = Object.values(triggers);
    if (!trigger) throw new Error('expected a Custom::Trigger');
    expect(Object.keys(triggers)).toHaveLength(1);
    // The function's current version: a change to its code or configuration runs the trigger again.
    const versionId = stack.getLogicalId(
      subscriptions.handler.currentVersion.node.defaultChild as CfnElement,
    );
    // (Its logical id gains a hash of the function's code and configuration at synthesis.)
    expect(trigger.Properties.HandlerArn.Ref).toMatch(new RegExp(`^${versionId}[0-9a-f]{32}$`));
    expect(trigger.DependsOn).toEqual(
      expect.arrayContaining([logicalId(stack.webhookApi.stage), logicalId(stack.webhook)]),
    );
    // Queued, not awaited: a throttled or slow run cannot fail the deploy.
    expect(trigger.Properties.InvocationType).toBe('Event');
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: `rate(${DEFAULT_SUBSCRIPTIONS_INTERVAL_SECONDS / 3600} hours)`,
      Target: { Arn: { 'Fn::GetAtt': [functionId, 'Arn'] } },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^callvault subscriptions'),
      // Runs are kept apart by the handler's lease; a reserve would fail the deploy on new accounts.
      ReservedConcurrentExecutions: Match.absent(),
      Environment: {
        Variables: Match.objectLike({
          [ENV.sharedStateTable]: { Ref: Match.stringLikeRegexp('SharedStateTable') },
          [ENV.webhookBaseUrl]: Match.anyValue(),
          [ENV.sourceSecrets]: Match.anyValue(),
        }),
      },
    });
  });

  it('may read the secrets and the shared-state items, write its run records and lease, and sweep its sources for webhook follow-ups: inspect recordings, read and write sweep runs, send to their queues', () => {
    const subscriptions = stack.subscriptions;
    if (!subscriptions) throw new Error('expected the subscriptions function');
    const roleId = stack.getLogicalId(subscriptions.handler.role?.node.defaultChild as CfnElement);
    const statements = allowStatements(policyOfRole(template, roleId));
    const actions = statements.flatMap((statement) => statement.actions);
    expect(actions).toEqual(
      expect.arrayContaining(['secretsmanager:GetSecretValue', 'dynamodb:GetItem', 'dynamodb:PutItem']),
    );
    const bucketId = stack.getLogicalId(stack.recordings.bucket.node.defaultChild as CfnElement);
    const s3 = statements.filter((statement) =>
      statement.actions.some((action) => /^(s3|sqs):/.test(action)),
    );
    const resourcesOf = (action: string) =>
      s3
        .filter((statement) => statement.actions.includes(action))
        .flatMap((statement) => statement.resources);
    // An authenticated Telphin or RingCentral event the adapter cannot interpret is followed by a sweep of
    // that source, run here (functions/composition/webhook-follow-up.ts).
    expect(new Set(s3.flatMap((statement) => statement.actions))).toEqual(
      new Set(['s3:GetObject', 's3:GetObjectTagging', 's3:ListBucket', 's3:PutObject', 'sqs:SendMessage']),
    );
    expect(resourcesOf('s3:PutObject').sort()).toEqual([
      `<${bucketId}.Arn>/state/leases/subscriptions.json`,
      `<${bucketId}.Arn>/state/runs/subscriptions/*`,
      `<${bucketId}.Arn>/state/runs/sweep/*`,
    ]);
    expect([...new Set(resourcesOf('s3:GetObject'))].sort()).toEqual([
      `<${bucketId}.Arn>/recordings/*`,
      `<${bucketId}.Arn>/state/leases/subscriptions.json`,
      `<${bucketId}.Arn>/state/runs/sweep/*`,
    ]);
    const queueIds = ['TelphinQueue', 'RingcentralQueue'].map((id) => {
      const queue = stack.queues.get(id === 'TelphinQueue' ? 'telphin' : 'ringcentral');
      if (!queue) throw new Error(`expected the ${id}`);
      return `<${stack.getLogicalId(queue.queue.node.defaultChild as CfnElement)}.Arn>`;
    });
    expect([...new Set(resourcesOf('sqs:SendMessage'))].sort()).toEqual(queueIds.sort());
    expect(actions.filter((action) => /Scan|Query|Table/.test(action))).toEqual([]);
  });

  it('passes cdk-nag', () => {
    expect(nagViolations(stack)).toEqual([]);
  });

  it('reserves one concurrent execution for retention and subscriptions only when aws.reserveConcurrency asks', () => {
    const { stack: reserved } = buildApp(
      parseConfig({
        sources: [{ provider: 'ringcentral', id: 'rc-main' }],
        retention: { deleteFromSourceAfterDays: 90 },
        aws: {
          stackName: 'CallvaultReserved',
          account: '123456789012',
          region: 'eu-west-1',
          reserveConcurrency: true,
        },
      }),
      noBundling,
    );
    const functions = Template.fromStack(reserved).findResources('AWS::Lambda::Function');
    const reserves = Object.values(functions)
      .filter((fn) => fn.Properties.ReservedConcurrentExecutions !== undefined)
      .map((fn) => [fn.Properties.Description.split(':')[0], fn.Properties.ReservedConcurrentExecutions]);
    expect(reserves.sort()).toEqual([
      ['callvault retention', 1],
      ['callvault subscriptions', 1],
    ]);
  });

  it('is not deployed when no source has subscriptions', () => {
    const { stack: telphinOnly } = buildApp(
      parseConfig({
        sources: [{ provider: 'telphin', id: 'hq' }],
        aws: { stackName: 'CallvaultNoSubs', account: '123456789012', region: 'eu-west-1' },
      }),
      noBundling,
    );
    expect(telphinOnly.subscriptions).toBeUndefined();
    Template.fromStack(telphinOnly).resourceCountIs('Custom::Trigger', 0);
  });
});

describe('the subscriptions schedule with Graph subscriptions (Teams)', () => {
  const scheduleOf = (graphSubscriptions: boolean) => {
    const config = parseConfig({
      sources: [{ provider: 'ringcentral', id: 'rc-main' }],
      aws: { stackName: 'CallvaultSubsGraph', account: '123456789012', region: 'eu-west-1' },
    });
    const { stack } = buildApp(config, noBundling);
    const existing = stack.subscriptions;
    if (!existing || !stack.sharedState) throw new Error('expected the subscriptions function');
    // A second function in the same stack, asked for a daily schedule.
    const daily = new SubscriptionsFunction(stack, `Daily${graphSubscriptions}`, {
      environment: {},
      secrets: stack.secrets,
      sharedState: stack.sharedState,
      recordings: stack.recordings,
      webhookBaseUrl: 'https://example.com/',
      logRetention: RetentionDays.ONE_WEEK,
      executeAfter: [],
      intervalSeconds: 24 * 3600,
      maxIntervalSeconds: graphSubscriptions ? subscriptionsCheckWithinSeconds(['msteams']) : undefined,
    });
    const schedule =
      Template.fromStack(stack).toJSON().Resources[
        stack.getLogicalId(daily.schedule.schedule.node.defaultChild as CfnElement)
      ];
    return schedule.Properties.ScheduleExpression;
  };

  it('runs at most every 12 hours, so a 3-day Graph subscription gets several chances to be renewed', () => {
    expect(subscriptionsCheckWithinSeconds(['msteams'])).toBe(12 * 3600);
    expect(subscriptionsCheckWithinSeconds(['ringcentral', 'telphin'])).toBeUndefined();
    expect(scheduleOf(true)).toBe('rate(12 hours)');
    expect(scheduleOf(false)).toBe('rate(1 day)');
  });
});
