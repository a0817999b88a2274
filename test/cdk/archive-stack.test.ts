/**
 * Intent of the deployed stack, synthesized once (with real esbuild bundling) from the shipped example config.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import type { CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp, loadDeploymentConfig } from '../../cdk/app';
import type { ArchiveStack } from '../../cdk/archive-stack';
import { powertoolsLog } from '../../functions/adapters/logger';
import { ENV } from '../../functions/config';
import { CredentialsNotSetError } from '../../functions/core/errors';
import { expiredBeforeFetchKey, goneAtSourceKey } from '../../functions/core/keys';
import { runLedgerKey, systemClock } from '../../functions/core/ports';
import { SourceRegistry } from '../../functions/core/source-registry';
import { WORKER_BATCH_SIZE } from '../../functions/providers/descriptor';
import { allowStatements, cdkJsonContext, policyOfRole, resourceText } from './support';

let stack: ArchiveStack;
let template: Template;
const { config } = loadDeploymentConfig('/nonexistent/callvault.config.json');
const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as CfnElement);

beforeAll(() => {
  // Prepare
  ({ stack } = buildApp(config, { nag: false, appProps: cdkJsonContext() }));
  // Act
  template = Template.fromStack(stack);
});

describe('recording bucket', () => {
  it('is private, TLS-only, versioned, S3-encrypted, owner-enforced, access-logged and retained', () => {
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        VersioningConfiguration: { Status: 'Enabled' },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        LoggingConfiguration: { DestinationBucketName: { Ref: logicalId(stack.recordings.accessLogBucket) } },
      }),
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logicalId(stack.recordings.bucket) },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('aborts stale multipart uploads after a day, bucket-wide, and has no staging rules (uploads go straight to their key)', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }),
        ]),
      },
    });
    const bucket = template.toJSON().Resources[logicalId(stack.recordings.bucket)];
    const rules = bucket.Properties.LifecycleConfiguration.Rules as {
      Id: string;
      Prefix?: string;
      AbortIncompleteMultipartUpload?: unknown;
    }[];
    expect(rules.find((rule) => rule.AbortIncompleteMultipartUpload !== undefined)?.Prefix).toBeUndefined();
    expect(rules.filter((rule) => rule.Prefix === 'staging/' || /staging/.test(rule.Id))).toEqual([]);
  });

  it('has a secure access-log bucket of its own', () => {
    // The recordings, their access logs, and the Athena results of the catalogue (cdk/constructs/catalogue.ts).
    template.resourceCountIs('AWS::S3::Bucket', 3);
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logicalId(stack.recordings.accessLogBucket) },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('provider queues', () => {
  it('creates one queue and DLQ per provider with enabled sources, KMS-encrypted with a rotating key', () => {
    expect([...stack.queues.keys()]).toEqual(['telphin']);
    template.resourceCountIs('AWS::SQS::Queue', 2);
    const telphin = stack.queues.get('telphin');
    if (!telphin) throw new Error('no telphin queue');
    const keyRef = { 'Fn::GetAtt': [logicalId(telphin.key), 'Arn'] };
    template.allResourcesProperties('AWS::SQS::Queue', { KmsMasterKeyId: keyRef });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('redrives to the DLQ after maxReceiveCount; the DLQ keeps 14 days and only accepts its job queue', () => {
    const telphin = stack.queues.get('telphin');
    if (!telphin) throw new Error('no telphin queue');
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(telphin.deadLetterQueue), 'Arn'] },
        maxReceiveCount: config.worker.maxReceiveCount,
      },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      MessageRetentionPeriod: 14 * 24 * 3600,
      RedriveAllowPolicy: { redrivePermission: 'byQueue', sourceQueueArns: Match.anyValue() },
    });
    const dlqArn = JSON.stringify(template.toJSON().Resources[logicalId(telphin.deadLetterQueue)]);
    const queueName = template.toJSON().Resources[logicalId(telphin.queue)].Properties.QueueName as string;
    expect(dlqArn).toContain(`:${queueName}`);
  });

  it('keeps jobs invisible for at least six worker timeouts', () => {
    const queues = template.findResources('AWS::SQS::Queue', {
      Properties: { RedrivePolicy: Match.anyValue() },
    });
    const timeouts = Object.values(queues).map((queue) => queue.Properties.VisibilityTimeout as number);
    expect(timeouts.length).toBe(1);
    for (const timeout of timeouts) expect(timeout).toBeGreaterThanOrEqual(6 * config.worker.timeoutSeconds);
  });

  it('denies plain-HTTP access to every queue', () => {
    template.resourceCountIs('AWS::SQS::QueuePolicy', 2);
    template.allResourcesProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('functions', () => {
  it('run Node.js 24 on ARM64 with X-Ray, their own log group and source maps', () => {
    // Worker, webhook, sweep, (the example configures retention) retention, and catalogue compaction.
    template.resourceCountIs('AWS::Lambda::Function', 5);
    template.allResourcesProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogGroup: Match.anyValue() },
      Environment: {
        Variables: Match.objectLike({
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_SERVICE_NAME: Match.stringLikeRegexp('^callvault-'),
        }),
      },
    });
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: config.aws.logRetentionDays });
  });

  it('all receive the five runtime variables, with no credentials in the shipped config', () => {
    // Catalogue compaction reads no config and no source: it gets the bucket alone
    // (test/cdk/catalogue-compaction.test.ts).
    const functions = Object.values(template.findResources('AWS::Lambda::Function')).filter(
      (fn) => !String(fn.Properties.Description).startsWith('callvault catalogue compaction'),
    );
    expect(functions).toHaveLength(4);
    for (const fn of functions) {
      const variables = fn.Properties.Environment.Variables as Record<string, unknown>;
      for (const name of [
        ENV.runtimeConfig,
        ENV.bucket,
        ENV.queueUrls,
        ENV.deadLetterQueueUrls,
        ENV.sourceSecrets,
      ]) {
        expect(variables[name], name).toBeDefined();
      }
      const runtimeConfig = JSON.parse(variables[ENV.runtimeConfig] as string);
      expect(runtimeConfig.sources[0]).not.toHaveProperty('clientSecret');
      // Local-mode blocks and the bucket's lifecycle are never read in Lambda; the 4 KB are for sources.
      for (const block of ['local', 'storage', 'lifecycle']) expect(runtimeConfig).not.toHaveProperty(block);
      expect(JSON.stringify(variables[ENV.sourceSecrets])).toContain('telphin-main');
    }
  });

  it('the worker takes its timeout and memory from the config', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Timeout: config.worker.timeoutSeconds,
      MemorySize: config.worker.memoryMiB,
      Role: { 'Fn::GetAtt': [logicalId(stack.worker.role as never), 'Arn'] },
    });
  });

  it('the worker consumes each provider queue in small batches with partial failures and a concurrency cap', () => {
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(stack.worker) },
      BatchSize: WORKER_BATCH_SIZE,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: config.worker.maxConcurrency },
    });
  });
});

describe('webhook API', () => {
  it('routes POST /webhooks/{provider}/{sourceId} per enabled provider to the webhook function', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Route', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: 'POST /webhooks/telphin/{sourceId}',
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: { 'Fn::GetAtt': [logicalId(stack.webhook), 'Arn'] },
    });
  });

  it('throttles the default stage and writes JSON access logs without the query string', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: Match.anyValue(), ThrottlingBurstLimit: Match.anyValue() },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('"routeKey"') },
    });
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0];
    const format = stage?.Properties.AccessLogSettings.Format as string;
    expect(() => JSON.parse(format)).not.toThrow();
    // The Telphin token travels in the query string.
    expect(format).not.toMatch(/requestUri|querystring|rawQueryString/i);
  });
});

describe('sweep schedule', () => {
  it('invokes the sweep at rate(ceil(intervalSeconds / 60) minutes)', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: `rate(${Math.ceil(config.sweep.intervalSeconds / 60)} minutes)`,
      State: 'ENABLED',
      Target: { Arn: { 'Fn::GetAtt': [logicalId(stack.sweep), 'Arn'] } },
    });
  });
});

describe('secrets', () => {
  it('creates callvault/{stackName}/{sourceId} with a random webhook secret and credential placeholders', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: `callvault/${config.aws.stackName}/telphin-main`,
      GenerateSecretString: {
        GenerateStringKey: 'webhookSecret',
        PasswordLength: Match.anyValue(),
        ExcludePunctuation: true,
        SecretStringTemplate: Match.serializedJson({
          clientId: Match.anyValue(),
          clientSecret: Match.anyValue(),
        }),
      },
    });
    const secret = Object.values(template.findResources('AWS::SecretsManager::Secret'))[0];
    expect(secret?.Properties.GenerateSecretString.PasswordLength).toBeGreaterThanOrEqual(32);
  });
});

describe('monitoring', () => {
  it('alarms on dead letters, stale jobs, worker errors and throttles, all to the alarm topic', () => {
    const topic = { Ref: logicalId(stack.monitoring.topic) };
    template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [topic], OKActions: [topic] });
    const telphin = stack.queues.get('telphin');
    if (!telphin) throw new Error('no telphin queue');
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(telphin.deadLetterQueue), 'QueueName'] } },
      ],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateAgeOfOldestMessage',
      Threshold: 3600,
    });
    for (const metric of ['Errors', 'Throttles']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metric,
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(stack.worker) } }],
      });
    }
  });

  it('encrypts the topic with a key CloudWatch may use, subscribes the configured e-mail and enforces TLS', () => {
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [logicalId(stack.monitoring.key), 'Arn'] },
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: config.aws.alarmEmail,
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it("lets this account's alarms publish to the topic, whose own policy replaces SNS's default one", () => {
    // enforceSSL attaches a topic policy, and any topic policy replaces the default that let CloudWatch in.
    const policies = Object.values(template.findResources('AWS::SNS::TopicPolicy'));
    expect(policies).toHaveLength(1);
    // biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
    const [policy] = policies as [Record<string, any>];
    expect(policy.Properties.Topics).toEqual([{ Ref: logicalId(stack.monitoring.topic) }]);
    // biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
    const statements: Record<string, any>[] = policy.Properties.PolicyDocument.Statement;
    const publishers = statements.filter(
      (statement) => statement.Effect === 'Allow' && [statement.Action].flat().includes('sns:Publish'),
    );
    expect(publishers).toHaveLength(1);
    const [allow] = publishers;
    expect(allow?.Principal).toEqual({ Service: 'cloudwatch.amazonaws.com' });
    expect(allow?.Resource).toEqual({ Ref: logicalId(stack.monitoring.topic) });
    const account = resourceText(stack.resolve(stack.account));
    const region = resourceText(stack.resolve(stack.region));
    expect(resourceText(allow?.Condition.StringEquals['aws:SourceAccount'])).toBe(account);
    expect(resourceText(allow?.Condition.ArnLike['aws:SourceArn'])).toBe(
      `arn:<AWS::Partition>:cloudwatch:${region}:${account}:alarm:*`,
    );
    // The TLS deny still applies to CloudWatch as to everyone.
    expect(statements.some((statement) => statement.Effect === 'Deny')).toBe(true);
  });
});

describe('credentials not set yet', () => {
  it("counts the functions' CREDENTIALS_NOT_SET log lines and alarms on the first one", async () => {
    // The line the registry writes, as Powertools prints it: errorCode is a top-level JSON key.
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
      const registry = new SourceRegistry({
        sources: [{ provider: 'telphin', id: 'hq' }],
        loadCredentials: async () => {
          throw new CredentialsNotSetError('credentials not set yet: put the real values in secret s');
        },
        createSource: () => {
          throw new Error('never built');
        },
        clock: systemClock,
        log: powertoolsLog(new Logger({ serviceName: 'callvault-test' })),
      });
      await expect(registry.get('telphin', 'hq')).rejects.toBeInstanceOf(CredentialsNotSetError);
    } finally {
      for (const write of writes) write.mockRestore();
    }
    const line = JSON.parse(printed.find((text) => text.includes('credentials not set yet')) ?? '{}');
    expect(line).toMatchObject({ level: 'ERROR', errorCode: 'CREDENTIALS_NOT_SET' });

    const functions = [stack.worker, stack.webhook, stack.sweep, stack.retention];
    // The webhook's log has a filter of its own too (events not understood: all-providers.test.ts).
    const filters = Object.values(template.findResources('AWS::Logs::MetricFilter')).filter(
      (filter) => filter.Properties.MetricTransformations[0].MetricName === 'CredentialsNotSet',
    );
    expect(filters.map((filter) => filter.Properties.LogGroupName).sort()).toEqual(
      functions
        .map((fn) => ({ Ref: stack.getLogicalId(fn?.logGroup.node.defaultChild as CfnElement) }))
        .sort(),
    );
    for (const filter of filters) {
      expect(filter.Properties).toMatchObject({
        FilterPattern: '{ $.errorCode = "CREDENTIALS_NOT_SET" }',
        MetricTransformations: [
          { MetricNamespace: 'Callvault', MetricName: 'CredentialsNotSet', MetricValue: '1' },
        ],
      });
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Callvault',
      MetricName: 'CredentialsNotSet',
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: logicalId(stack.monitoring.topic) }],
    });
  });
});

describe('IAM intent', () => {
  it('the webhook role has no S3 permission at all and only sends to the queues', () => {
    const statements = allowStatements(policyOfRole(template, logicalId(stack.webhook.role as never)));
    const actions = statements.flatMap((statement) => statement.actions);
    expect(actions.filter((action) => action.startsWith('s3:'))).toEqual([]);
    expect(actions.filter((action) => action.startsWith('sqs:'))).toEqual(['sqs:SendMessage']);
  });

  it('no role may delete anything in the archive bucket but catalogue records, by compaction', () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const deleters: string[] = [];
    for (const [id, policy] of Object.entries(policies)) {
      for (const statement of allowStatements(policy)) {
        const deletes = statement.actions.some((action) => /^(s3:\*|\*|s3:Delete.*)$/.test(action));
        if (deletes) deleters.push(`${id}: ${statement.actions.join(' ')} ${statement.resources.join(', ')}`);
      }
    }
    // Compaction removes a day's per-recording records once its compacted file is verified; never a
    // recording, a sidecar or an audit record.
    expect(deleters).toEqual([
      expect.stringMatching(
        /^CatalogueCompactionFunctionRoleDefaultPolicy\w+: s3:DeleteObject s3:GetObject s3:PutObject <RecordingsBucket\w+\.Arn>\/catalog\/recordings\/\*$/,
      ),
    ]);
  });

  it('grants the sweep read-only access to recordings/ and reads and writes its own run records only', () => {
    const statements = allowStatements(policyOfRole(template, logicalId(stack.sweep.role as never)));
    const s3 = statements.filter((statement) => statement.actions.some((action) => action.startsWith('s3:')));
    expect(s3.flatMap((statement) => statement.actions).sort()).toEqual([
      's3:GetObject',
      's3:GetObject',
      's3:GetObjectTagging',
      's3:ListBucket',
      's3:PutObject',
    ]);
    for (const statement of s3) {
      for (const resource of statement.resources) {
        if (statement.actions.includes('s3:PutObject')) expect(resource).toMatch(/\/state\/runs\/sweep\/\*$/);
        // The last sweep record says which users or extensions to list again, and since when.
        else expect(resource).toMatch(/(\/recordings\/\*|\.Arn>|\/state\/runs\/sweep\/\*)$/);
      }
    }
    expect(runLedgerKey('sweep', 'telphin-main')).toMatch(/^state\/runs\/sweep\//);
  });

  it('lets the worker write, and only write, its gone-at-source and expired-before-fetch records under audit/', () => {
    const statements = allowStatements(policyOfRole(template, logicalId(stack.worker.role as never)));
    const onAudit = statements.filter((statement) =>
      statement.resources.some((resource) => resource.includes('/audit/')),
    );
    expect(onAudit.flatMap((statement) => statement.actions)).toEqual(['s3:PutObject']);
    // The same statement also carries the catalogue records' prefix (cdk/constructs/catalogue.ts).
    expect(
      onAudit
        .flatMap((statement) => statement.resources)
        .filter((resource) => !resource.includes('/catalog/'))
        .sort(),
    ).toEqual([
      expect.stringMatching(/\/audit\/expired-before-fetch\/\*$/),
      expect.stringMatching(/\/audit\/gone-at-source\/\*$/),
    ]);
    expect(onAudit.flatMap((statement) => statement.actions)).toEqual(['s3:PutObject']);
    expect(goneAtSourceKey('recordings/telphin/hq/2026/01/02/r.mp3')).toMatch(/^audit\/gone-at-source\//);
    expect(expiredBeforeFetchKey('recordings/msgraph/bot/2026/01/02/op.wav')).toMatch(
      /^audit\/expired-before-fetch\//,
    );
  });

  it('uses "*" as a resource only for the X-Ray actions, and no managed policies', () => {
    for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
      for (const statement of allowStatements(policy)) {
        if (statement.resources.includes('*')) {
          expect(statement.actions.sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
        }
      }
    }
    for (const role of Object.values(template.findResources('AWS::IAM::Role'))) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  it("lets the worker consume and re-time its queue, send hints' jobs and dead letters, and decrypt", () => {
    const statements = allowStatements(policyOfRole(template, logicalId(stack.worker.role as never)));
    const actions = new Set(statements.flatMap((statement) => statement.actions));
    for (const action of [
      'sqs:ReceiveMessage',
      'sqs:DeleteMessage',
      'sqs:ChangeMessageVisibility',
      'sqs:SendMessage',
      'kms:Decrypt',
      'kms:GenerateDataKey',
      'secretsmanager:GetSecretValue',
    ]) {
      expect(actions, action).toContain(action);
    }
    const telphin = stack.queues.get('telphin');
    if (!telphin) throw new Error('no telphin queue');
    const dlq = `<${logicalId(telphin.deadLetterQueue)}.Arn>`;
    expect(statements.some((s) => s.actions.includes('sqs:SendMessage') && s.resources.includes(dlq))).toBe(
      true,
    );
  });
});

describe('outputs', () => {
  it('name the webhook base URL, bucket, queues and secrets', () => {
    const outputs = template.toJSON().Outputs as Record<string, unknown>;
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining([
        'WebhookBaseUrl',
        'BucketName',
        'TelphinQueueUrl',
        'TelphinDeadLetterQueueUrl',
        'SecretNameTelphinmain',
      ]),
    );
    expect(resourceText((outputs.WebhookBaseUrl as { Value: unknown }).Value)).toMatch(
      /execute-api.*\/webhooks\/$/,
    );
  });

  it('name both ARNs a redrive needs: the dead-letter queue (source) and the job queue (destination)', () => {
    // The worker dead-letters jobs itself, so SQS knows no source queue for them: the redrive must name it.
    const telphin = stack.queues.get('telphin');
    if (!telphin) throw new Error('no telphin queue');
    template.hasOutput('TelphinQueueArn', {
      Value: { 'Fn::GetAtt': [logicalId(telphin.queue), 'Arn'] },
    });
    template.hasOutput('TelphinDeadLetterQueueArn', {
      Value: { 'Fn::GetAtt': [logicalId(telphin.deadLetterQueue), 'Arn'] },
    });
    template.hasOutput('TelphinQueueUrl', { Value: { Ref: logicalId(telphin.queue) } });
    template.hasOutput('TelphinDeadLetterQueueUrl', { Value: { Ref: logicalId(telphin.deadLetterQueue) } });
  });
});
