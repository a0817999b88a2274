/**
 * cdk-nag (AWS Solutions + Serverless) over the example stack and a config variant, the audit trail of every
 * acknowledgement, and how the config shapes or refuses the stack.
 *
 * cdk-nag 3 is a policy-validation plugin, not an Aspect: its findings never become annotations, so
 * `Annotations.fromStack(...).findError(...)` would be empty whatever the stack holds. The packs are run
 * with `validateScope` here, and `app.synth()` runs them as plugins the way `cdk synth` does.
 */
import { App, type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp, loadDeploymentConfig } from '../../cdk/app';
import { ArchiveStack } from '../../cdk/archive-stack';
import { scheduleRateMinutes } from '../../cdk/constructs/schedules';
import { type CallvaultConfig, parseConfig } from '../../functions/config';
import { cdkJsonContext, nagViolations, policyOfRole } from './support';

const example = loadDeploymentConfig('/nonexistent/callvault.config.json').config;

const SECRET_KEY_ARN = 'arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

/** Imported secret under its own KMS key, second source, odd interval, no e-mail: paths the example does not take. */
const variant: CallvaultConfig = parseConfig({
  sources: [
    {
      provider: 'telphin',
      id: 'hq',
      credentialsSecretName: 'prod/telphin/hq',
      credentialsKmsKeyArn: SECRET_KEY_ARN,
    },
    { provider: 'telphin', id: 'branch_2', scope: { extensions: ['1001', '1002'] } },
    { provider: 'telphin', id: 'old', enabled: false },
  ],
  sweep: { intervalSeconds: 61 },
  worker: { timeoutSeconds: 600, maxConcurrency: 3, maxReceiveCount: 4 },
  aws: { stackName: 'CallvaultTest', logRetentionDays: 100 },
});

/** Skips esbuild: these stacks are only inspected, never deployed. */
const noBundling = { appProps: cdkJsonContext({ 'aws:cdk:bundling-stacks': [] }) };

class ArchiveStackLessScope extends Stack {
  constructor(app: App) {
    super(app, 'Bare');
  }
}

function acknowledgements(scope: IConstruct): { path: string; id: string; reason: string }[] {
  return scope.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

describe('cdk-nag on the example stack (bundled, as deployed)', () => {
  it('is not vacuous: the packs do report a bare queue', () => {
    const app = new App();
    const bare = new ArchiveStackLessScope(app);
    new Queue(bare, 'Bare');
    expect(nagViolations(bare).map((violation) => violation.rule)).toEqual(
      expect.arrayContaining(['AwsSolutions-SQS3', 'AwsSolutions-SQS4', 'Serverless-SQSRedrivePolicy']),
    );
  });

  let app: App;
  let stack: ArchiveStack;
  beforeAll(() => {
    ({ app, stack } = buildApp(example, { appProps: cdkJsonContext() }));
  });

  it('has no AwsSolutions or Serverless errors or warnings left', () => {
    expect(nagViolations(stack)).toEqual([]);
  });

  it('synthesizes with both packs registered as validation plugins', () => {
    expect(() => app.synth()).not.toThrow();
  });

  it('acknowledges each finding narrowly, next to its resource, with a specific reason', () => {
    const acks = acknowledgements(stack);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.reason.length, `${ack.path} ${ack.id}`).toBeGreaterThanOrEqual(60);
      // Never on the stack as a whole.
      expect(ack.path, ack.id).not.toBe(stack.node.path);
      // Wildcard acknowledgements name the exact finding, never the whole rule.
      if (ack.id.startsWith('AwsSolutions-IAM5'))
        expect(ack.id).toMatch(/^AwsSolutions-IAM5\[Resource::.+\]$/);
    }
    expect(new Set(acks.map((ack) => ack.id.replace(/\[.*$/, '')))).toEqual(
      new Set([
        'AwsSolutions-IAM5',
        'AwsSolutions-S1',
        'AwsSolutions-SMG4',
        'AwsSolutions-APIG4',
        'Serverless-SQSRedrivePolicy',
        'Serverless-LambdaDLQ',
        'Serverless-LambdaAsyncFailureDestination',
        'Serverless-LambdaEventSourceMappingDestination',
        'Serverless-SNSRedrivePolicy',
      ]),
    );
  });
});

describe('a config with an imported secret, several sources and no alarm e-mail', () => {
  let stack: ArchiveStack;
  let template: Template;
  beforeAll(() => {
    ({ stack } = buildApp(variant, noBundling));
    template = Template.fromStack(stack);
  });

  it('passes cdk-nag too', () => {
    expect(nagViolations(stack)).toEqual([]);
  });

  it('creates secrets only for enabled sources without one, and reads the imported one by name', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'callvault/CallvaultTest/branch_2',
    });
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0];
    const secrets = JSON.stringify(fn?.Properties.Environment.Variables.CALLVAULT_SOURCE_SECRETS);
    expect(secrets).toContain('\\"hq\\":\\"prod/telphin/hq\\"');
    expect(secrets).toContain('branch_2');
    expect(secrets).not.toContain('old');
  });

  it("lets every function that reads secrets decrypt the imported secret's key, through Secrets Manager only", () => {
    const readers = [stack.worker, stack.webhook, stack.sweep];
    for (const fn of readers) {
      const policy = policyOfRole(template, stack.getLogicalId(fn.role?.node.defaultChild as CfnElement));
      const statements = (policy.Properties.PolicyDocument.Statement as Record<string, unknown>[]).filter(
        (statement) => [statement.Resource].flat().includes(SECRET_KEY_ARN),
      );
      expect(statements, fn.node.id).toEqual([
        {
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Resource: SECRET_KEY_ARN,
          Condition: {
            StringEquals: {
              'kms:ViaService': {
                'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']],
              },
            },
          },
        },
      ]);
    }
  });

  it('rounds the sweep interval up to whole minutes', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(2 minutes)' });
    expect(scheduleRateMinutes(1)).toBe(1);
    expect(scheduleRateMinutes(60)).toBe(1);
    expect(scheduleRateMinutes(300)).toBe(5);
  });

  it('follows the worker settings and rounds log retention up to a CloudWatch period', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 3600,
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 4 }),
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      ScalingConfig: { MaximumConcurrency: 3 },
    });
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 120 });
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('config that must not deploy', () => {
  it('fails synthesis when a source carries inline credentials, naming the field', () => {
    const config = parseConfig({
      sources: [{ provider: 'telphin', id: 'main', clientId: 'abc', clientSecret: 'not-in-a-template' }],
    });
    expect(() => buildApp(config, noBundling)).toThrow(
      /sources\[0\]\.clientId.*\n.*sources\[0\]\.clientSecret/,
    );
  });

  it('fails synthesis when a KMS key is named for a secret the stack creates', () => {
    const config = parseConfig({
      sources: [{ provider: 'telphin', id: 'main', credentialsKmsKeyArn: SECRET_KEY_ARN }],
    });
    expect(() => buildApp(config, noBundling)).toThrow(/credentialsKmsKeyArn: .*set credentialsSecretName/);
  });

  it('refuses a KMS alias or anything else that is not a key ARN, naming the field', () => {
    for (const wrong of [
      'arn:aws:kms:eu-central-1:111122223333:alias/callvault',
      '1234abcd-12ab-34cd-56ef-1234567890ab',
      'arn:aws:secretsmanager:eu-central-1:111122223333:secret:x',
    ]) {
      const config = {
        sources: [{ provider: 'telphin', id: 'hq', credentialsSecretName: 'x', credentialsKmsKeyArn: wrong }],
      };
      expect(() => parseConfig(config), wrong).toThrow(
        /sources\[0\]\.credentialsKmsKeyArn: expected a KMS key ARN/,
      );
    }
  });

  it("fails when the shipped config cannot fit Lambda's 4 KB environment", () => {
    const sources = Array.from({ length: 40 }, (_, i) => ({ provider: 'telphin', id: `source-${i}` }));
    expect(() => buildApp(parseConfig({ sources }), noBundling)).toThrow(/sources: .*4 KB/);
  });

  it('skips sweep schedule, queues and routes when nothing is enabled or the sweep is off', () => {
    const { stack } = buildApp(parseConfig({ sweep: { enabled: false } }), noBundling);
    const template = Template.fromStack(stack);
    // The only schedule left is the catalogue's daily compaction: the catalogue outlives disabled sources.
    const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule'));
    expect(schedules.map((schedule) => schedule.Properties.Description)).toEqual([
      'callvault catalogue compaction: merge closed days of the catalogue',
    ]);
    template.resourceCountIs('AWS::SQS::Queue', 0);
    template.resourceCountIs('AWS::ApiGatewayV2::Route', 0);
    expect(stack.getLogicalId(stack.sweep.node.defaultChild as CfnElement)).toBeTruthy();
  });

  it('ArchiveStack can be built in any app', () => {
    // No cdk.json context at all: the constructs must not depend on its feature flags.
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    expect(() => new ArchiveStack(app, 'Other', { config: example })).not.toThrow();
  });
});
