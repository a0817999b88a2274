/**
 * The stack for a config with all three providers (examples/callvault.config.aws-all-providers.json):
 * the shared-state table only where a source shares sessions, per-provider worker event sources, the
 * RingCentral secret's fields, no secret for the Graph bot, the routes, the provider alarms, least
 * privilege, cdk-nag, and the 4 KB environment.
 */
import { fileURLToPath } from 'node:url';
import type { CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp, loadDeploymentConfig } from '../../cdk/app';
import type { ArchiveStack } from '../../cdk/archive-stack';
import { needsSharedState } from '../../cdk/constructs/shared-state-table';
import { WEBHOOK_MEMORY_MIB } from '../../cdk/constructs/webhook-function';
import { withoutRestorableDefaults } from '../../cdk/shipped-config';
import { queueMaxReceiveCount, workerEventSourceSettings } from '../../cdk/worker-sizing';
import { apiGatewayResult, webhookRequestFromApiGateway } from '../../functions/adapters/api-gateway';
import { type CallvaultConfig, ENV, parseConfig, runtimeConfigForDeployment } from '../../functions/config';
import { WORKER_BATCH_SIZE } from '../../functions/providers/descriptor';
import { GRAPH_BURST_WORKERS } from '../../functions/providers/graph-calling-bot/descriptor';
import { RINGCENTRAL_HEAVY_REQUESTS_PER_WORKER_MINUTE } from '../../functions/providers/ringcentral/descriptor';
import { handleRingCentralWebhook } from '../../functions/providers/ringcentral/ringcentral-webhook';
import {
  receivesWhileNotReady,
  teamsRecordingsProvider,
} from '../../functions/providers/teams-recordings/descriptor';
import { allowStatements, cdkJsonContext, nagViolations, policyOfRole, resourceText } from './support';

const ALL_PROVIDERS_EXAMPLE = fileURLToPath(
  new URL('../../examples/callvault.config.aws-all-providers.json', import.meta.url),
);
const allProviders = loadDeploymentConfig(ALL_PROVIDERS_EXAMPLE).config;
const telphinOnly = loadDeploymentConfig('/nonexistent/callvault.config.json').config;

/** Skips esbuild: these stacks are only inspected, never deployed (`npm run synth` bundles the example). */
const noBundling = { appProps: cdkJsonContext({ 'aws:cdk:bundling-stacks': [] }) };

const GRAPH_SOURCE = {
  provider: 'msgraph',
  botAppId: '00000000-0000-4000-8000-000000000001',
  tenantId: '00000000-0000-4000-8000-000000000002',
  allowedDownloadHosts: ['recordings.example.com'],
  mediaPersistenceApproved: true,
} as const;

const TEAMS_SOURCE = {
  provider: 'msteams',
  id: 'teams',
  tenantId: '00000000-0000-4000-8000-000000000002',
  users: 'all',
  mediaPersistenceApproved: true,
} as const;

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Json = any;

/** The Teams worker's sizing, from its descriptor. */
const TEAMS_WORKER_MEMORY_MIB = teamsRecordingsProvider.worker.ownWorker?.memoryMiB as number;
const TEAMS_PART_SIZE_MIB = teamsRecordingsProvider.worker.ownWorker?.partSizeMiB as number;
const teamsMaxReceiveCount = (config: CallvaultConfig, sources: CallvaultConfig['sources']) =>
  queueMaxReceiveCount('msteams', config, sources);

function build(config: CallvaultConfig) {
  const { stack } = buildApp(config, noBundling);
  const template = Template.fromStack(stack);
  const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(construct.node.defaultChild as CfnElement);
  return { stack, template, logicalId };
}

function functionsOf(stack: ArchiveStack) {
  return {
    worker: stack.worker,
    teamsWorker: stack.workerOf('msteams'),
    webhook: stack.webhook,
    sweep: stack.sweep,
    retention: stack.retention,
    subscriptions: stack.subscriptions?.handler,
  };
}

describe('the all-providers example', () => {
  let stack: ArchiveStack;
  let template: Template;
  let logicalId: (construct: { node: { defaultChild?: unknown } }) => string;
  beforeAll(() => {
    ({ stack, template, logicalId } = build(allProviders));
  });

  it('has a source of every provider, and passes cdk-nag (AwsSolutions + Serverless)', () => {
    expect(allProviders.sources.map((source) => source.provider).sort()).toEqual([
      'msgraph',
      'msteams',
      'ringcentral',
      'telphin',
    ]);
    expect(nagViolations(stack)).toEqual([]);
  });

  it('creates one KMS-encrypted queue and DLQ per provider', () => {
    expect([...stack.queues.keys()].sort()).toEqual(['msgraph', 'msteams', 'ringcentral', 'telphin']);
    template.resourceCountIs('AWS::SQS::Queue', 8);
    for (const providerQueue of stack.queues.values()) {
      for (const queue of [providerQueue.queue, providerQueue.deadLetterQueue]) {
        expect(template.toJSON().Resources[logicalId(queue)].Properties.KmsMasterKeyId).toEqual({
          'Fn::GetAtt': [logicalId(providerQueue.key), 'Arn'],
        });
      }
    }
  });

  it('consumes each queue with its own settings: RingCentral from its Heavy budget, the Graph bot one job at once', () => {
    const mappingOf = (provider: 'telphin' | 'ringcentral' | 'msgraph') => {
      const queueArn = { 'Fn::GetAtt': [logicalId(stack.queues.get(provider)!.queue), 'Arn'] };
      const found = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')).filter(
        (mapping: Json) => JSON.stringify(mapping.Properties.EventSourceArn) === JSON.stringify(queueArn),
      );
      expect(found, provider).toHaveLength(1);
      return (found[0] as Json).Properties;
    };
    expect(mappingOf('telphin')).toMatchObject({
      BatchSize: WORKER_BATCH_SIZE,
      ScalingConfig: { MaximumConcurrency: allProviders.worker.maxConcurrency },
    });
    // 10 Heavy requests a minute: the SQS minimum of 2, not the configured 5.
    expect(mappingOf('ringcentral')).toMatchObject({
      BatchSize: WORKER_BATCH_SIZE,
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const graph = mappingOf('msgraph');
    expect(graph.FunctionName).toEqual({ Ref: logicalId(stack.workerOf('msgraph')!) });
    for (const provider of ['telphin', 'ringcentral'] as const) {
      expect(mappingOf(provider).FunctionName).toEqual({ Ref: logicalId(stack.worker) });
    }
    // Enough workers to fetch a burst of 200 recordings before their tokens expire (graph-calling-bot/descriptor.ts).
    expect(graph).toMatchObject({
      BatchSize: 1,
      ScalingConfig: {
        MaximumConcurrency: Math.max(allProviders.worker.maxConcurrency, GRAPH_BURST_WORKERS),
      },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    expect(graph.MaximumBatchingWindowInSeconds).toBeUndefined();
  });

  it('adds the shared-state table and names it to the worker, webhook, sweep and retention functions', () => {
    expect(stack.sharedState).toBeDefined();
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    const tableRef = { Ref: logicalId(stack.sharedState!.table) };
    for (const [name, fn] of Object.entries(functionsOf(stack))) {
      expect(fn, name).toBeDefined();
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ [ENV.sharedStateTable]: tableRef }) },
        Role: { 'Fn::GetAtt': [logicalId(fn!.role as never), 'Arn'] },
      });
    }
  });

  it('grants the table (item operations only) and its key (through DynamoDB only) to exactly the functions that use it (worker, webhook, sweep, retention, subscriptions)', () => {
    const tableArn = `<${logicalId(stack.sharedState!.table)}.Arn>`;
    const keyArn = `<${logicalId(stack.sharedState!.key)}.Arn>`;
    const holders: string[] = [];
    for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
      const statements = allowStatements(policy);
      const dynamo = statements.filter((statement) =>
        statement.actions.some((action) => action.startsWith('dynamodb:')),
      );
      if (dynamo.length === 0) {
        expect(JSON.stringify(statements), id).not.toContain(keyArn);
        continue;
      }
      holders.push(resourceText((policy as Json).Properties.Roles[0]));
      expect(dynamo, id).toEqual([
        {
          actions: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
          resources: [tableArn],
        },
      ]);
      const keyStatements = (policy as Json).Properties.PolicyDocument.Statement.filter(
        (statement: Json) => resourceText(statement.Resource) === keyArn,
      );
      expect(keyStatements, id).toEqual([
        {
          Effect: 'Allow',
          Action: ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
          Resource: { 'Fn::GetAtt': [logicalId(stack.sharedState!.key), 'Arn'] },
          Condition: {
            StringEquals: {
              'kms:ViaService': { 'Fn::Join': ['', ['dynamodb.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
            },
          },
        },
      ]);
    }
    expect(holders.sort()).toEqual(
      Object.values(functionsOf(stack))
        .map((fn) => `<${logicalId(fn!.role as never)}>`)
        .sort(),
    );
  });

  it("creates RingCentral's secret with clientId, clientSecret and jwt placeholders, and none for the Graph bot", () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 3);
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'callvault/Callvault/ringcentral-main',
      GenerateSecretString: Match.objectLike({
        SecretStringTemplate: JSON.stringify({
          clientId: 'REPLACE_ME',
          clientSecret: 'REPLACE_ME',
          jwt: 'REPLACE_ME',
        }),
        GenerateStringKey: 'webhookSecret',
      }),
    });
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'callvault/Callvault/telphin-main',
      GenerateSecretString: Match.objectLike({
        SecretStringTemplate: JSON.stringify({ clientId: 'REPLACE_ME', clientSecret: 'REPLACE_ME' }),
      }),
    });
    expect([...stack.secrets.secrets.keys()].sort()).toEqual([
      'ringcentral-main',
      'teams-recordings',
      'telphin-main',
    ]);
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'callvault/Callvault/teams-recordings',
      GenerateSecretString: Match.objectLike({
        SecretStringTemplate: JSON.stringify({ clientId: 'REPLACE_ME', clientSecret: 'REPLACE_ME' }),
        GenerateStringKey: 'webhookSecret',
      }),
    });
    const worker = template.toJSON().Resources[logicalId(stack.worker)];
    const secrets = JSON.stringify(worker.Properties.Environment.Variables[ENV.sourceSecrets]);
    expect(secrets).toContain('ringcentral-main');
    expect(secrets).not.toContain('teams-bot');
  });

  it('lets the Teams worker record an admin error (a metered-API refusal) for status, and no other run', () => {
    const roleId = logicalId(stack.workerOf('msteams')!.role as never);
    const puts = allowStatements(policyOfRole(template, roleId))
      .filter((statement) => statement.actions.includes('s3:PutObject'))
      .flatMap((statement) => statement.resources)
      .filter((resource) => resource.includes('state/runs/'));
    expect(puts).toHaveLength(1);
    expect(puts[0]).toMatch(/\/state\/runs\/admin\/\*$/);
  });

  it('gives the Graph worker its own role: archive writes and its own queues, no secret, no shared state', () => {
    const roleId = logicalId(stack.workerOf('msgraph')!.role as never);
    const statements = allowStatements(policyOfRole(template, roleId));
    const actions = statements.flatMap((statement) => statement.actions);
    expect(actions.filter((action) => /^(secretsmanager|dynamodb|ssm):/.test(action))).toEqual([]);
    const graphQueue = stack.queues.get('msgraph')!;
    const sqsResources = statements
      .filter((statement) => statement.actions.some((action) => action.startsWith('sqs:')))
      .flatMap((statement) => statement.resources);
    expect(new Set(sqsResources)).toEqual(
      new Set([`<${logicalId(graphQueue.queue)}.Arn>`, `<${logicalId(graphQueue.deadLetterQueue)}.Arn>`]),
    );
    const worker = template.toJSON().Resources[logicalId(stack.workerOf('msgraph')!)];
    expect(worker.Properties.Environment.Variables[ENV.sourceSecrets]).toBe('{}');
    expect(worker.Properties.Environment.Variables[ENV.sharedStateTable]).toBeUndefined();
    expect(worker.Properties).toMatchObject({
      Timeout: allProviders.worker.timeoutSeconds,
      MemorySize: allProviders.worker.memoryMiB,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Throttles',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(stack.workerOf('msgraph')!) } }],
    });
  });

  it('gives Teams a worker sized for a 4 GiB stream, one recording per invocation, 64 MiB parts', () => {
    const teamsQueue = stack.queues.get('msteams')!;
    const queueArn = { 'Fn::GetAtt': [logicalId(teamsQueue.queue), 'Arn'] };
    const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'))
      .map((mapping: Json) => mapping.Properties)
      .filter((mapping) => JSON.stringify(mapping.EventSourceArn) === JSON.stringify(queueArn));
    expect(mappings).toHaveLength(1);
    expect(mappings[0]).toMatchObject({
      FunctionName: { Ref: logicalId(stack.workerOf('msteams')!) },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const worker = template.toJSON().Resources[logicalId(stack.workerOf('msteams')!)].Properties;
    expect(worker).toMatchObject({ Timeout: 900, MemorySize: TEAMS_WORKER_MEMORY_MIB });
    expect(TEAMS_WORKER_MEMORY_MIB).toBeGreaterThanOrEqual(1769);
    // What the worker parses back from its environment, as Lambda would.
    const shipped = parseConfig(JSON.parse(worker.Environment.Variables[ENV.runtimeConfig]));
    expect(shipped.worker.partSizeMiB).toBe(TEAMS_PART_SIZE_MIB);
    expect(Math.ceil((4 * 1024) / TEAMS_PART_SIZE_MIB)).toBeLessThanOrEqual(1000);
    // The other workers keep the configured part size.
    const common = template.toJSON().Resources[logicalId(stack.worker)].Properties;
    expect(parseConfig(JSON.parse(common.Environment.Variables[ENV.runtimeConfig])).worker.partSizeMiB).toBe(
      allProviders.worker.partSizeMiB,
    );
    expect(worker.Environment.Variables[ENV.sharedStateTable]).toEqual({
      Ref: logicalId(stack.sharedState!.table),
    });
    // Visibility follows the Teams worker's timeout; the receives cover 48 h of processing plus retries.
    const queue = template.toJSON().Resources[logicalId(teamsQueue.queue)].Properties;
    expect(queue.VisibilityTimeout).toBe(900 * 6);
    expect(queue.RedrivePolicy.maxReceiveCount).toBe(54 + allProviders.worker.maxReceiveCount);
    // The Teams queue is not also consumed by the common worker.
    const commonMappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')).filter(
      (mapping: Json) =>
        JSON.stringify(mapping.Properties.FunctionName) === JSON.stringify({ Ref: logicalId(stack.worker) }),
    );
    expect(commonMappings).toHaveLength(2);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Throttles',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(stack.workerOf('msteams')!) } }],
    });
  });

  it('keeps Teams subscriptions at most 12 h apart, and lets the webhook invoke exactly the subscriptions function', () => {
    expect(stack.subscriptions).toBeDefined();
    const schedule = template.toJSON().Resources[logicalId(stack.subscriptions!.schedule.schedule as never)];
    const [, count, unit] = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(
      schedule.Properties.ScheduleExpression,
    )!;
    const minutes = Number(count) * { minute: 1, hour: 60, day: 1440 }[unit as 'minute' | 'hour' | 'day'];
    expect(minutes).toBeLessThanOrEqual(12 * 60);
    const webhook = template.toJSON().Resources[logicalId(stack.webhook)].Properties;
    expect(webhook.Environment.Variables[ENV.subscriptionsFunction]).toEqual({
      Ref: logicalId(stack.subscriptions!.handler),
    });
    const lambdaStatements = (fn: { role?: unknown }) =>
      allowStatements(policyOfRole(template, logicalId(fn.role as never))).filter((statement) =>
        statement.actions.some((action) => action.startsWith('lambda:')),
      );
    // Exactly the function: no `:*` for its versions, no other function.
    expect(lambdaStatements(stack.webhook)).toEqual([
      {
        actions: ['lambda:InvokeFunction'],
        resources: [`<${logicalId(stack.subscriptions!.handler)}.Arn>`],
      },
    ]);
    for (const [name, fn] of Object.entries(functionsOf(stack))) {
      if (fn && fn !== stack.webhook) expect(lambdaStatements(fn), name).toEqual([]);
    }
  });

  it('lets no role read any secret but the two sources that have one', () => {
    const secretArns = [...stack.secrets.secrets.values()].map(
      (secret) => `<${stack.getLogicalId(secret.node.defaultChild as CfnElement)}>`,
    );
    for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
      for (const statement of allowStatements(policy)) {
        if (!statement.actions.some((action) => action.startsWith('secretsmanager:'))) continue;
        for (const resource of statement.resources) expect(secretArns, id).toContain(resource);
      }
    }
  });

  it('routes POST /webhooks/{provider}/{sourceId} for every provider, headers in and out untouched (payload 2.0)', () => {
    for (const provider of ['telphin', 'ringcentral', 'msgraph']) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: `POST /webhooks/${provider}/{sourceId}`,
      });
    }
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: 'POST /webhooks/msteams/{sourceId}',
    });
    const integrations = Object.values(template.findResources('AWS::ApiGatewayV2::Integration'));
    expect(integrations).toHaveLength(1);
    expect((integrations[0] as Json).Properties).toMatchObject({
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
    });
    // Parameter mappings could drop Validation-Token / Verification-Token on the way in or out.
    expect((integrations[0] as Json).Properties.RequestParameters).toBeUndefined();
    expect((integrations[0] as Json).Properties.ResponseParameters).toBeUndefined();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [logicalId(stack.webhook.role as never), 'Arn'] },
      MemorySize: WEBHOOK_MEMORY_MIB,
      Timeout: 10,
    });
  });

  it('counts RingCentral login refusals in every function log, and 429s in the worker log', () => {
    const filters = Object.values(template.findResources('AWS::Logs::MetricFilter')).map(
      (filter: Json) => filter.Properties,
    );
    const login = filters.filter(
      (filter) => filter.MetricTransformations[0].MetricName === 'RingCentralLoginRefused',
    );
    expect(login.map((filter) => filter.LogGroupName).sort((a, b) => a.Ref.localeCompare(b.Ref))).toEqual(
      Object.values(functionsOf(stack))
        .map((fn) => ({ Ref: logicalId(fn!.logGroup as never) }))
        .sort((a, b) => a.Ref.localeCompare(b.Ref)),
    );
    for (const filter of login) {
      expect(filter.FilterPattern).toBe(
        '{ ($.message = "ringcentral refused the JWT login") || (($.code = "UNAUTHENTICATED") && (($.job = "hint ringcentral/*") || ($.job = "recording ringcentral/*"))) }',
      );
      expect(filter.MetricTransformations).toEqual([
        { MetricNamespace: 'Callvault', MetricName: 'RingCentralLoginRefused', MetricValue: '1' },
      ]);
    }
    const rateLimited = filters.filter(
      (filter) => filter.MetricTransformations[0].MetricName === 'RingCentralRateLimited',
    );
    expect(rateLimited).toEqual([
      {
        LogGroupName: { Ref: logicalId(stack.worker.logGroup as never) },
        FilterPattern:
          '{ ($.code = "RATE_LIMITED") && (($.job = "hint ringcentral/*") || ($.job = "recording ringcentral/*")) }',
        MetricTransformations: [
          { MetricNamespace: 'Callvault', MetricName: 'RingCentralRateLimited', MetricValue: '1' },
        ],
      },
    ]);
  });

  it('alarms on RingCentral login refusals, 429s and inactive subscriptions, and on lost Graph recordings', () => {
    const topic = [{ Ref: logicalId(stack.monitoring.topic) }];
    const expected = [
      ['RingCentralLoginRefused', 'Sum', 900, 1, 'GreaterThanOrEqualToThreshold', 'notBreaching'],
      ['RingCentralRateLimited', 'Sum', 900, 10, 'GreaterThanOrEqualToThreshold', 'notBreaching'],
      ['RingCentralPermissionMissing', 'Sum', 3600, 1, 'GreaterThanOrEqualToThreshold', 'notBreaching'],
      ['SubscriptionsNotActive', 'Maximum', 300, 0, 'GreaterThanThreshold', 'ignore'],
      ['ExpiredBeforeFetch', 'Sum', 300, 0, 'GreaterThanThreshold', 'notBreaching'],
      ['GraphFailedRecordOperations', 'Sum', 300, 0, 'GreaterThanThreshold', 'notBreaching'],
      ['TeamsAccessPolicyMissing', 'Sum', 900, 1, 'GreaterThanOrEqualToThreshold', 'notBreaching'],
      ['TeamsCredentialsRefused', 'Sum', 900, 1, 'GreaterThanOrEqualToThreshold', 'notBreaching'],
      ['TeamsMissedNotifications', 'Sum', 3600, 1, 'GreaterThanOrEqualToThreshold', 'notBreaching'],
      ['WebhookEventsNotUnderstood', 'Sum', 3600, 1, 'GreaterThanOrEqualToThreshold', 'notBreaching'],
      ['TeamsMeteredApiBilling', 'Sum', 3600, 1, 'GreaterThanOrEqualToThreshold', 'notBreaching'],
      ['SweepScopesNotCovered', 'Maximum', 300, 0, 'GreaterThanThreshold', 'ignore'],
    ] as const;
    const POWERTOOLS_PUBLISHED = new Set([
      'SweepScopesNotCovered',
      'SubscriptionsNotActive',
      'ExpiredBeforeFetch',
      'GraphFailedRecordOperations',
    ]);
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
      (alarm: Json) => alarm.Properties,
    );
    for (const [metric, statistic, period, threshold, comparison, missing] of expected) {
      const found = alarms.filter((alarm) => alarm.MetricName === metric);
      expect(found, metric).toHaveLength(1);
      expect(found[0], metric).toMatchObject({
        Namespace: 'Callvault',
        Statistic: statistic,
        Period: period,
        Threshold: threshold,
        ComparisonOperator: comparison,
        TreatMissingData: missing,
        AlarmActions: topic,
        OKActions: topic,
      });
      // Metric filters publish without dimensions; Powertools adds `service`. An alarm whose dimensions
      // differ from the publisher's never sees a datapoint.
      const published = POWERTOOLS_PUBLISHED.has(metric)
        ? [{ Name: 'service', Value: 'callvault' }]
        : undefined;
      expect(found[0].Dimensions, metric).toEqual(published);
    }
  });
});

describe('the webhook events-not-understood filter', () => {
  const { stack, template, logicalId } = build(allProviders);

  it("sums the events of the webhook's WEBHOOK_NOT_UNDERSTOOD lines", () => {
    const filters = Object.values(template.findResources('AWS::Logs::MetricFilter'))
      .map((filter: Json) => filter.Properties)
      .filter((filter) => filter.MetricTransformations[0].MetricName === 'WebhookEventsNotUnderstood');
    expect(filters).toEqual([
      {
        LogGroupName: { Ref: logicalId(stack.webhook.logGroup as never) },
        FilterPattern: '{ $.errorCode = "WEBHOOK_NOT_UNDERSTOOD" }',
        MetricTransformations: [
          { MetricNamespace: 'Callvault', MetricName: 'WebhookEventsNotUnderstood', MetricValue: '$.events' },
        ],
      },
    ]);
  });
});

describe('Teams metric filters', () => {
  const { stack, template, logicalId } = build(allProviders);
  const filters = Object.values(template.findResources('AWS::Logs::MetricFilter')).map(
    (filter: Json) => filter.Properties,
  );
  const named = (metric: string) =>
    filters.filter((filter) => filter.MetricTransformations[0].MetricName === metric);
  const teamsFunctions = [
    stack.workerOf('msteams'),
    stack.webhook,
    stack.sweep,
    stack.subscriptions?.handler,
  ];

  it('count the access-policy refusal and the refused app credentials in every log of a function calling Graph', () => {
    for (const [metric, message] of [
      ['TeamsAccessPolicyMissing', 'teams application access policy missing'],
      ['TeamsCredentialsRefused', 'entra refused the app credentials of a Teams source'],
      ['TeamsMeteredApiBilling', 'teams metered api refused: link billing to the app'],
    ] as const) {
      const found = named(metric);
      const groups = found.map((filter) => resourceText(filter.LogGroupName));
      for (const fn of teamsFunctions)
        expect(groups, metric).toContain(`<${logicalId(fn!.logGroup as never)}>`);
      for (const filter of found) expect(filter.FilterPattern).toBe(`{ $.message = "${message}" }`);
    }
  });

  it("count Graph's missed lifecycle events in the webhook log", () => {
    expect(named('TeamsMissedNotifications')).toEqual([
      {
        LogGroupName: { Ref: logicalId(stack.webhook.logGroup as never) },
        FilterPattern: '{ ($.message = "teams subscription lifecycle event") && ($.event = "missed") }',
        MetricTransformations: [
          { MetricNamespace: 'Callvault', MetricName: 'TeamsMissedNotifications', MetricValue: '1' },
        ],
      },
    ]);
  });
});

describe('the msteams queue receives', () => {
  it('cover the processing wait: 7 in the first hour, then one an hour, and the give-up receive', () => {
    expect(receivesWhileNotReady(1)).toBe(7);
    expect(receivesWhileNotReady(48)).toBe(54);
    const config = parseConfig({
      sources: [{ ...TEAMS_SOURCE, contentWaitHours: 72 }],
      worker: { maxReceiveCount: 5 },
    });
    expect(teamsMaxReceiveCount(config, config.sources)).toBe(receivesWhileNotReady(72) + 5);
  });

  it('a Teams-only stack gets the shared-state table, subscriptions and their alarm, and passes cdk-nag', () => {
    const config = parseConfig({ sources: [TEAMS_SOURCE] });
    expect(needsSharedState(config.sources)).toBe(true);
    const { stack, template } = build(config);
    expect(nagViolations(stack)).toEqual([]);
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    expect(stack.subscriptions).toBeDefined();
    expect(stack.retention).toBeUndefined();
    const alarmMetrics = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
      (alarm: Json) => alarm.Properties.MetricName,
    );
    expect(alarmMetrics).toEqual(
      expect.arrayContaining([
        'SubscriptionsNotActive',
        'TeamsAccessPolicyMissing',
        'TeamsMissedNotifications',
      ]),
    );
    expect(alarmMetrics).not.toContain('RingCentralLoginRefused');
  });
});

describe("RingCentral's handshake through the API Gateway payload 2.0 adapter", () => {
  it('reads Validation-Token whatever its case, and answers it in a response header', () => {
    const event = {
      version: '2.0',
      rawPath: '/webhooks/ringcentral/ringcentral-main',
      rawQueryString: '',
      headers: { 'validation-token': 'a1b2c3-handshake', 'content-type': 'application/json' },
      requestContext: { http: { method: 'POST' } },
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2;
    const outcome = handleRingCentralWebhook(webhookRequestFromApiGateway(event), {
      sourceId: 'ringcentral-main',
      webhookSecret: 'a-verification-token-0123456789',
    });
    const result = apiGatewayResult(outcome.response);
    expect(result.statusCode).toBe(200);
    expect(result.headers).toMatchObject({ 'Validation-Token': 'a1b2c3-handshake' });
    expect(outcome.jobs).toEqual([]);
  });
});

describe('which stacks get the shared-state table', () => {
  it('a Telphin-only stack has no table, no table variable and no DynamoDB permission', () => {
    const { stack, template } = build(telphinOnly);
    expect(needsSharedState(telphinOnly.sources)).toBe(false);
    expect(stack.sharedState).toBeUndefined();
    template.resourceCountIs('AWS::DynamoDB::Table', 0);
    expect(JSON.stringify(template.toJSON())).not.toContain(ENV.sharedStateTable);
    expect(JSON.stringify(template.toJSON())).not.toContain('dynamodb:');
  });

  it('a disabled RingCentral source does not bring it', () => {
    const config = parseConfig({
      sources: [
        { provider: 'telphin', id: 'hq' },
        { provider: 'ringcentral', id: 'rc', enabled: false },
      ],
    });
    expect(build(config).stack.sharedState).toBeUndefined();
  });

  it('a Graph-bot-only stack has no table, no secret, no secret permission and no provider alarms but its own', () => {
    const config = parseConfig({
      sources: [{ ...GRAPH_SOURCE, id: 'bot' }],
      // A global retention block: the bot keeps nothing at the source, so no retention function either.
      retention: { deleteFromSourceAfterDays: 30 },
    });
    const { stack, template } = build(config);
    expect(nagViolations(stack)).toEqual([]);
    template.resourceCountIs('AWS::DynamoDB::Table', 0);
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect(stack.retention).toBeUndefined();
    for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
      const actions = allowStatements(policy).flatMap((statement) => statement.actions);
      expect(
        actions.filter((action) => /^(secretsmanager|dynamodb):/.test(action)),
        id,
      ).toEqual([]);
    }
    const alarmMetrics = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
      (alarm: Json) => alarm.Properties.MetricName,
    );
    expect(alarmMetrics).toEqual(
      expect.arrayContaining(['ExpiredBeforeFetch', 'GraphFailedRecordOperations']),
    );
    expect(alarmMetrics).not.toContain('RingCentralLoginRefused');
    expect(alarmMetrics).not.toContain('SubscriptionsNotActive');
  });
});

describe('RingCentral worker concurrency follows the Heavy budget', () => {
  const ringCentral = (heavyPerMinute: number, id = 'rc') => ({
    provider: 'ringcentral',
    id,
    rateLimits: { heavyPerMinute },
  });
  const settings = (sources: object[], maxConcurrency = 20) => {
    const config = parseConfig({ sources, worker: { maxConcurrency } });
    return workerEventSourceSettings('ringcentral', config, config.sources);
  };

  it(`allows one worker per ${RINGCENTRAL_HEAVY_REQUESTS_PER_WORKER_MINUTE} Heavy requests a minute`, () => {
    expect(settings([ringCentral(30)]).maxConcurrency).toBe(6);
    expect(settings([ringCentral(60)]).maxConcurrency).toBe(12);
  });

  it("never goes below SQS's minimum of 2, nor above worker.maxConcurrency", () => {
    expect(settings([ringCentral(1)]).maxConcurrency).toBe(2);
    expect(settings([ringCentral(10)]).maxConcurrency).toBe(2);
    expect(settings([ringCentral(600)], 5).maxConcurrency).toBe(5);
    expect(settings([ringCentral(600)], 2).maxConcurrency).toBe(2);
  });

  it('adds up the budgets of the sources that share the queue, enabled ones only', () => {
    const config = parseConfig({
      sources: [ringCentral(20, 'a'), ringCentral(20, 'b'), { ...ringCentral(600, 'c'), enabled: false }],
      worker: { maxConcurrency: 20 },
    });
    const enabled = config.sources.filter((source) => source.enabled);
    expect(workerEventSourceSettings('ringcentral', config, enabled).maxConcurrency).toBe(8);
  });
});

describe("Lambda's 4 KB environment with a mixed config", () => {
  const mixed = (copies: number) =>
    parseConfig({
      sources: Array.from({ length: copies }, (_, i) => [
        { provider: 'telphin', id: `telphin-${i}`, scope: { extensions: ['1001', '1002'] } },
        {
          provider: 'ringcentral',
          id: `ringcentral-${i}`,
          scope: { account: '~', extensions: ['101', '102'] },
          rateLimits: { heavyPerMinute: 40 },
        },
        {
          ...GRAPH_SOURCE,
          id: `teams-bot-${i}`,
          allowedDownloadHosts: ['recordings.example.com', '*.media.example.net'],
          retention: false,
        },
        { ...TEAMS_SOURCE, id: `teams-${i}`, users: ['someone@contoso.com'], contentWaitHours: 72 },
      ]).flat(),
      retention: { deleteFromSourceAfterDays: 90 },
      lifecycle: { objectLock: { mode: 'GOVERNANCE', days: 30 }, objectLockBucket: 'new' },
    });

  it('ships two sources of each provider, as what Lambda parses back to the same config, with room to spare', () => {
    const config = mixed(2);
    const full = runtimeConfigForDeployment(config);
    const { stack, template } = build(config);
    for (const [name, fn] of Object.entries(functionsOf(stack))) {
      const variables =
        template.toJSON().Resources[stack.getLogicalId(fn!.node.defaultChild as CfnElement)].Properties
          .Environment.Variables;
      const shipped = variables[ENV.runtimeConfig] as string;
      // What Lambda reads means exactly what the deployment config means (the Teams worker: with its parts)...
      const meant =
        name === 'teamsWorker'
          ? { ...full, worker: { ...full.worker, partSizeMiB: TEAMS_PART_SIZE_MIB } }
          : full;
      expect(parseConfig(JSON.parse(shipped)), name).toEqual(parseConfig(meant));
      // ...without the defaults parsing restores: measured 2,959 bytes in full, 1,419 shipped (the Teams
      // worker's, with its part size).
      expect(Buffer.byteLength(JSON.stringify(full))).toBeGreaterThan(2900);
      expect(Buffer.byteLength(shipped)).toBeLessThan(1500);
      // Lambda counts names and values; the references (Ref, GetAtt) resolve to ARNs and URLs at deploy,
      // at most 17 of them here (6 secrets, 4 queues, 4 DLQs, bucket, table, for the webhook the
      // subscriptions function), each well under 128 bytes.
      const literal = Object.entries(variables)
        .filter(([, value]) => typeof value === 'string')
        .reduce((sum, [variable, value]) => sum + variable.length + Buffer.byteLength(value as string), 0);
      expect(literal + 17 * 128).toBeLessThan(4096);
    }
  });

  it('keeps what parsing would not restore: an explicit retention: false, Object Lock, non-default values', () => {
    const config = mixed(1);
    const shipped = withoutRestorableDefaults(runtimeConfigForDeployment(config));
    expect(shipped.sources[2]).toMatchObject({ provider: 'msgraph', retention: false });
    expect(shipped.sources[1]).toMatchObject({ rateLimits: { heavyPerMinute: 40 } });
    expect(shipped.lifecycle).toEqual({ objectLock: { mode: 'GOVERNANCE', days: 30 } });
    expect(shipped.sources[1]).not.toHaveProperty('serverUrl');
    expect(shipped.sources[2]).not.toHaveProperty('allowedIssuers');
  });

  it('refuses at synth, naming the cause, a mixed config that cannot fit', () => {
    expect(() => build(mixed(6))).toThrow(/sources: .*exceeds Lambda's 4 KB environment limit/);
  });
});
