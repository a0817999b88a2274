/**
 * Retention deletes and the storage lifecycle: the retention function (only where retention is configured),
 * its schedule, least-privilege IAM and kill switch, its alarms, the bucket's lifecycle rules and Object Lock,
 * and the lifecycle configs that must not deploy. One synthesized stack per config, without bundling.
 */
import { type CfnElement, Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp, loadDeploymentConfig } from '../../cdk/app';
import type { ArchiveStack } from '../../cdk/archive-stack';
import { METRICS_NAMESPACE as CDK_METRICS_NAMESPACE } from '../../cdk/constructs/monitoring';
import { scheduleRateMinutes } from '../../cdk/constructs/schedules';
import { type CallvaultConfig, ENV, parseConfig } from '../../functions/config';
import { auditKey } from '../../functions/core/apply-retention-to-source';
import { runLedgerKey } from '../../functions/core/ports';
import { METRICS_NAMESPACE } from '../../functions/retention';
import { allowStatements, cdkJsonContext, nagViolations, policyOfRole } from './support';

/** Skips esbuild: these stacks are only inspected, never deployed. */
const noBundling = { nag: false, appProps: cdkJsonContext({ 'aws:cdk:bundling-stacks': [] }) };

const telphin = (id: string, extra: Record<string, unknown> = {}) => ({ provider: 'telphin', id, ...extra });

function synth(config: CallvaultConfig): { stack: ArchiveStack; template: Template } {
  const { stack } = buildApp(config, noBundling);
  return { stack, template: Template.fromStack(stack) };
}

const logicalIdIn = (stack: ArchiveStack, construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as CfnElement);

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Json = any;

function lifecycleRules(stack: ArchiveStack, template: Template): Json[] {
  const bucket = template.toJSON().Resources[logicalIdIn(stack, stack.recordings.bucket)];
  return bucket.Properties.LifecycleConfiguration.Rules;
}

const ruleById = (rules: Json[], id: string) => {
  const rule = rules.find((candidate) => candidate.Id === id);
  if (!rule) throw new Error(`no lifecycle rule ${id} in ${rules.map((r) => r.Id).join(', ')}`);
  return rule;
};

/** Rules that transition or expire current versions of recordings: the ones that must never overlap. */
const storageRules = (rules: Json[]) =>
  rules.filter((rule) => rule.Prefix === 'recordings/' && (rule.Transitions || rule.ExpirationInDays));

describe('the example config (retention in dry run, Glacier IR → Deep Archive → expiry after 7 years)', () => {
  const { config } = loadDeploymentConfig('/nonexistent/callvault.config.json');
  let stack: ArchiveStack;
  let template: Template;
  let retentionStatements: ReturnType<typeof allowStatements>;
  beforeAll(() => {
    // Prepare / Act
    ({ stack, template } = synth(config));
    if (!stack.retention) throw new Error('no retention function');
    retentionStatements = allowStatements(
      policyOfRole(template, logicalIdIn(stack, stack.retention.role as never)),
    );
  });

  it('shows retention as a dry run and a lifecycle with transitions and expiry', () => {
    expect(config.retention?.dryRun).toBe(true);
    expect(config.lifecycle.transitions.map((t) => t.storageClass)).toEqual(['GLACIER_IR', 'DEEP_ARCHIVE']);
    expect(config.lifecycle.expireAfterDays).toBe(2555);
  });

  it('has a retention function: 15 minutes, no reserved concurrency (its lease keeps runs apart), no Lambda retries of a failed run', () => {
    const retention = stack.retention;
    if (!retention) throw new Error('no retention function');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Timeout: 900,
      // A reserve fails the deploy on accounts with a concurrency quota below 101 (new accounts: 10 or 50).
      ReservedConcurrentExecutions: Match.absent(),
      Environment: {
        Variables: Match.objectLike({
          POWERTOOLS_SERVICE_NAME: 'callvault-retention',
          [ENV.runtimeConfig]: Match.anyValue(),
          [ENV.bucket]: Match.anyValue(),
          [ENV.queueUrls]: Match.anyValue(),
          [ENV.deadLetterQueueUrls]: Match.anyValue(),
          [ENV.sourceSecrets]: Match.anyValue(),
          [ENV.killSwitchParameter]: '/callvault/Callvault/retention/kill-switch',
        }),
      },
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalIdIn(stack, retention) },
      MaximumRetryAttempts: 0,
    });
    // Only the retention function gets the kill switch.
    const others = [stack.worker, stack.webhook, stack.sweep].map((fn) => logicalIdIn(stack, fn));
    const functions = template.findResources('AWS::Lambda::Function');
    for (const id of others) {
      expect(functions[id]?.Properties.Environment.Variables[ENV.killSwitchParameter], id).toBeUndefined();
    }
  });

  it('runs retention on the schedule derived from retention.intervalSeconds', () => {
    const retention = stack.retention;
    if (!retention || !config.retention) throw new Error('no retention');
    const minutes = scheduleRateMinutes(config.retention.intervalSeconds);
    expect(minutes).toBe(1440);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      // CDK writes whole days as `rate(1 day)`; it is the same rate.
      ScheduleExpression: ScheduleExpression.rate(Duration.minutes(minutes)).expressionString,
      State: 'ENABLED',
      Target: {
        Arn: { 'Fn::GetAtt': [logicalIdIn(stack, retention), 'Arn'] },
        RetryPolicy: { MaximumEventAgeInSeconds: 86_400, MaximumRetryAttempts: 2 },
      },
    });
    // Sweep, retention and the catalogue's daily compaction.
    template.resourceCountIs('AWS::Scheduler::Schedule', 3);
  });

  it('may delete nothing in S3, anywhere', () => {
    const s3 = retentionStatements
      .flatMap((statement) => statement.actions)
      .filter((a) => a.startsWith('s3:'));
    expect(
      s3.filter((action) => /^(s3:\*|s3:Delete.*|s3:Put.*(Retention|LegalHold|Lifecycle).*)$/.test(action)),
    ).toEqual([]);
    expect(retentionStatements.flatMap((statement) => statement.actions)).not.toContain('*');
  });

  it('reads recordings, tags and legal hold, lists the bucket, and writes only audit/retention/, its run records, its lease and catalogue records', () => {
    const s3 = retentionStatements.filter((statement) => statement.actions.some((a) => a.startsWith('s3:')));
    expect([...new Set(s3.flatMap((statement) => statement.actions))].sort()).toEqual([
      's3:GetObject',
      's3:GetObjectLegalHold',
      's3:GetObjectTagging',
      's3:ListBucket',
      's3:PutObject',
    ]);
    const bucket = `<${logicalIdIn(stack, stack.recordings.bucket)}.Arn>`;
    const resourcesOf = (action: string) =>
      s3
        .filter((statement) => statement.actions.includes(action))
        .flatMap((statement) => statement.resources);
    expect(resourcesOf('s3:PutObject').sort()).toEqual([
      `${bucket}/audit/retention/*`,
      // The catalogue's deleted-at-source records (cdk/constructs/catalogue.ts).
      `${bucket}/catalog/recordings/*`,
      `${bucket}/state/leases/retention.json`,
      `${bucket}/state/runs/retention/*`,
    ]);
    expect(resourcesOf('s3:GetObject').sort()).toEqual([
      // callvault's own hold records (npm run hold): a held recording is never deleted at the source.
      `${bucket}/holds/*`,
      `${bucket}/recordings/*`,
      `${bucket}/state/leases/retention.json`,
    ]);
    for (const action of ['s3:GetObjectTagging', 's3:GetObjectLegalHold']) {
      expect(resourcesOf(action), action).toEqual([`${bucket}/recordings/*`]);
    }
    expect(resourcesOf('s3:ListBucket')).toEqual([bucket]);
    // The grants follow the keys the functions actually write.
    expect(auditKey('run-1', new Date('2026-01-02T03:04:05Z'))).toMatch(/^audit\/retention\//);
    expect(runLedgerKey('retention', 'telphin-main')).toMatch(/^state\/runs\/retention\//);
  });

  it('enqueues archive jobs, reads source secrets, and nothing else beyond logs and traces', () => {
    const telphin = stack.queues.get('telphin');
    if (!telphin) throw new Error('no telphin queue');
    const actions = new Set(retentionStatements.flatMap((statement) => statement.actions));
    expect([...actions].filter((a) => a.startsWith('sqs:'))).toEqual(['sqs:SendMessage']);
    expect(
      retentionStatements.find((statement) => statement.actions.includes('sqs:SendMessage'))?.resources,
    ).toEqual([`<${logicalIdIn(stack, telphin.queue)}.Arn>`]);
    expect(actions).toContain('secretsmanager:GetSecretValue');
    expect([...actions].filter((a) => !/^(s3|sqs|kms|secretsmanager|ssm|logs|xray):/.test(a))).toEqual([]);
  });

  it('creates no kill-switch parameter, outputs its name, and lets retention read exactly that name', () => {
    const killSwitch = stack.killSwitch;
    if (!killSwitch) throw new Error('no kill switch');
    const name = '/callvault/Callvault/retention/kill-switch';
    // A parameter in the template would be CloudFormation's: a tag change rewrites its value (aws-cdk#25949).
    template.resourceCountIs('AWS::SSM::Parameter', 0);
    expect(JSON.stringify(template.toJSON().Resources)).not.toContain('AWS::SSM::');
    template.hasOutput('KillSwitchParameterName', { Value: name });
    const ssm = retentionStatements.filter((statement) =>
      statement.actions.some((a) => a.startsWith('ssm:')),
    );
    expect(ssm).toHaveLength(1);
    expect(ssm[0]?.actions).toEqual(['ssm:GetParameter']);
    // Granted by name, before the parameter exists: `parameter` is followed directly by the leading "/".
    expect(ssm[0]?.resources).toEqual([
      `arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter${name}`,
    ]);
    expect(killSwitch.parameterName).toBe(name);
    // No other role may read it, nor anyone write it through a grant.
    for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
      for (const statement of allowStatements(policy)) {
        const ssmActions = statement.actions.filter((a) => a.startsWith('ssm:'));
        if (ssmActions.length === 0) continue;
        expect(id).toBe(policyOfRole(template, logicalIdIn(stack, stack.retention?.role as never)).id);
        expect(ssmActions).toEqual(['ssm:GetParameter']);
      }
    }
  });

  it('alarms on due-but-not-archived recordings (Sum per day > 0) and on retention errors', () => {
    const retention = stack.retention;
    if (!retention) throw new Error('no retention function');
    const topic = { Ref: logicalIdIn(stack, stack.monitoring.topic) };
    expect(CDK_METRICS_NAMESPACE).toBe(METRICS_NAMESPACE);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: METRICS_NAMESPACE,
      MetricName: 'DueButNotArchivedTotal',
      Dimensions: [{ Name: 'service', Value: 'callvault' }],
      Statistic: 'Sum',
      Period: 86_400,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      TreatMissingData: 'notBreaching',
      AlarmActions: [topic],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalIdIn(stack, retention) } }],
      AlarmActions: [topic],
    });
  });

  it('applies the top-level policy to every recording of the standard class when there are no retention classes', () => {
    const rules = lifecycleRules(stack, template);
    expect(storageRules(rules)).toEqual([
      {
        Id: 'recordings-default-class',
        // By tag, so a recording on legal hold (retagged out of its class) never expires.
        Prefix: 'recordings/',
        TagFilters: [{ Key: 'retention-class', Value: 'standard' }],
        Status: 'Enabled',
        Transitions: [
          { StorageClass: 'GLACIER_IR', TransitionInDays: 30 },
          { StorageClass: 'DEEP_ARCHIVE', TransitionInDays: 180 },
        ],
        ExpirationInDays: 2555,
      },
    ]);
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: Match.objectLike({
        TransitionDefaultMinimumObjectSize: 'all_storage_classes_128K',
      }),
    });
  });

  it('expires noncurrent versions of recordings/ and state/ after the configured days, of audit/ after one', () => {
    const rules = lifecycleRules(stack, template);
    expect(ruleById(rules, 'recordings-noncurrent-versions')).toMatchObject({
      Prefix: 'recordings/',
      NoncurrentVersionExpiration: { NoncurrentDays: 30 },
      ExpiredObjectDeleteMarker: true,
    });
    expect(ruleById(rules, 'state-noncurrent-versions')).toMatchObject({
      Prefix: 'state/',
      NoncurrentVersionExpiration: { NoncurrentDays: 30 },
    });
    const audit = ruleById(rules, 'audit-noncurrent-versions');
    expect(audit).toEqual({
      Id: 'audit-noncurrent-versions',
      Prefix: 'audit/',
      Status: 'Enabled',
      NoncurrentVersionExpiration: { NoncurrentDays: 1 },
    });
    // Current audit objects never expire: no rule that expires current versions covers audit/.
    for (const rule of rules.filter((r) => r.ExpirationInDays !== undefined)) {
      expect(rule.Prefix, rule.Id).toBeDefined();
      expect('audit/retention/2026/01/01/x.jsonl'.startsWith(rule.Prefix), rule.Id).toBe(false);
    }
  });

  it('has no Object Lock unless configured', () => {
    const bucket = template.toJSON().Resources[logicalIdIn(stack, stack.recordings.bucket)];
    expect(bucket.Properties.ObjectLockEnabled).toBeUndefined();
    expect(bucket.Properties.ObjectLockConfiguration).toBeUndefined();
  });
});

describe('where retention exists', () => {
  it('is absent without any retention: no function, schedule, parameter or alarm', () => {
    const { stack, template } = synth(parseConfig({ sources: [telphin('a')] }));
    expect(stack.retention).toBeUndefined();
    expect(stack.killSwitch).toBeUndefined();
    // Worker, webhook, sweep and catalogue compaction; the sweep's schedule and the compaction's.
    template.resourceCountIs('AWS::Lambda::Function', 4);
    template.resourceCountIs('AWS::Scheduler::Schedule', 2);
    template.resourceCountIs('AWS::SSM::Parameter', 0);
    template.resourceCountIs('AWS::Lambda::EventInvokeConfig', 0);
    expect(Object.keys(template.toJSON().Outputs)).not.toContain('KillSwitchParameterName');
    expect(JSON.stringify(template.findResources('AWS::CloudWatch::Alarm'))).not.toContain(
      'DueButNotArchived',
    );
  });

  it('is absent when the global retention is switched off for every enabled source', () => {
    const { stack } = synth(
      parseConfig({
        sources: [telphin('a', { retention: false }), telphin('b', { enabled: false })],
        retention: { deleteFromSourceAfterDays: 30 },
      }),
    );
    expect(stack.retention).toBeUndefined();
  });

  it('exists for a per-source retention alone, on that source interval rounded up to minutes', () => {
    const { stack, template } = synth(
      parseConfig({ sources: [telphin('a'), telphin('b', { retention: { intervalSeconds: 3_601 } })] }),
    );
    expect(stack.retention).toBeDefined();
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(61 minutes)',
      Target: { Arn: { 'Fn::GetAtt': [logicalIdIn(stack, stack.retention as never), 'Arn'] } },
    });
  });
});

describe('retention classes, Object Lock in GOVERNANCE mode (days)', () => {
  const config = parseConfig({
    sources: [telphin('hq'), telphin('legal', { retentionClass: 'legal-hold' })],
    retention: { dryRun: true },
    lifecycle: {
      abortIncompleteMultipartUploadsAfterDays: 3,
      transitions: [{ storageClass: 'STANDARD_IA', afterDays: 30 }],
      expireAfterDays: 400,
      noncurrentVersionExpirationDays: 14,
      retentionClasses: {
        'legal-hold': { transitions: [{ storageClass: 'GLACIER', afterDays: 60 }], expireAfterDays: 3650 },
        'short-term': { expireAfterDays: 365 },
      },
      objectLock: { mode: 'GOVERNANCE', days: 365 },
      objectLockBucket: 'new',
    },
  });
  let stack: ArchiveStack;
  let template: Template;
  let rules: Json[];
  beforeAll(() => {
    ({ stack, template } = synth(config));
    rules = lifecycleRules(stack, template);
  });

  it('applies the top-level policy by tag retention-class=standard and each class by its own tag', () => {
    expect(storageRules(rules)).toEqual([
      {
        Id: 'recordings-class-standard',
        Prefix: 'recordings/',
        TagFilters: [{ Key: 'retention-class', Value: 'standard' }],
        Status: 'Enabled',
        Transitions: [{ StorageClass: 'STANDARD_IA', TransitionInDays: 30 }],
        ExpirationInDays: 400,
      },
      {
        Id: 'recordings-class-legal-hold',
        Prefix: 'recordings/',
        TagFilters: [{ Key: 'retention-class', Value: 'legal-hold' }],
        Status: 'Enabled',
        Transitions: [{ StorageClass: 'GLACIER', TransitionInDays: 60 }],
        ExpirationInDays: 3650,
      },
      {
        Id: 'recordings-class-short-term',
        Prefix: 'recordings/',
        TagFilters: [{ Key: 'retention-class', Value: 'short-term' }],
        Status: 'Enabled',
        ExpirationInDays: 365,
      },
    ]);
  });

  it('never lets two storage rules match the same object (S3 would let the earlier expiry win)', () => {
    const tagValues = storageRules(rules).map((rule) => rule.TagFilters?.[0]?.Value);
    expect(tagValues.every((value) => typeof value === 'string')).toBe(true);
    expect(new Set(tagValues).size).toBe(tagValues.length);
  });

  it('takes the abort-upload and noncurrent-version days from the config', () => {
    expect(ruleById(rules, 'abort-incomplete-multipart-uploads')).toMatchObject({
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 3 },
    });
    expect(ruleById(rules, 'abort-incomplete-multipart-uploads').Prefix).toBeUndefined();
    expect(ruleById(rules, 'recordings-noncurrent-versions').NoncurrentVersionExpiration).toEqual({
      NoncurrentDays: 14,
    });
    expect(ruleById(rules, 'state-noncurrent-versions').NoncurrentVersionExpiration).toEqual({
      NoncurrentDays: 14,
    });
    expect(ruleById(rules, 'audit-noncurrent-versions').NoncurrentVersionExpiration).toEqual({
      NoncurrentDays: 1,
    });
    expect(rules.map((rule) => rule.Id).filter((id) => /staging/.test(id))).toEqual([]);
  });

  it('turns Object Lock on without a bucket default on a versioned, retained bucket: the worker locks each recording', () => {
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        VersioningConfiguration: { Status: 'Enabled' },
        ObjectLockEnabled: true,
        ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' },
      }),
    });
    const bucket = Object.values(template.findResources('AWS::S3::Bucket')).find(
      (candidate) => candidate.Properties.ObjectLockConfiguration,
    );
    expect(bucket?.Properties.ObjectLockConfiguration.Rule).toBeUndefined();
  });

  it('lets only the worker set retention, and only on recordings', () => {
    const grants = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([, policy]) =>
      JSON.stringify(policy.Properties.PolicyDocument).includes('s3:PutObjectRetention'),
    );
    expect(grants.map(([id]) => id)).toEqual([expect.stringMatching(/^ArchiveWorker/)]);
    expect(JSON.stringify(grants[0]?.[1])).toMatch(/recordings\/\*/);
  });

  it('still passes cdk-nag', () => {
    expect(nagViolations(stack)).toEqual([]);
  });
});

describe('Object Lock in COMPLIANCE mode (years)', () => {
  it('ships the lock settings to the worker, which locks each recording for calendar years', () => {
    const { template } = synth(
      parseConfig({
        sources: [telphin('a')],
        lifecycle: {
          expireAfterDays: 2555,
          objectLock: { mode: 'COMPLIANCE', years: 7 },
          objectLockBucket: 'new',
        },
      }),
    );
    template.hasResourceProperties('AWS::S3::Bucket', { ObjectLockEnabled: true });
    const [, worker] =
      Object.entries(template.findResources('AWS::Lambda::Function')).find(([id]) =>
        id.startsWith('ArchiveWorker'),
      ) ?? [];
    const shipped = JSON.parse(worker?.Properties.Environment.Variables.CALLVAULT_RUNTIME_CONFIG);
    expect(shipped.lifecycle).toEqual({ objectLock: { mode: 'COMPLIANCE', years: 7 } });
  });
});

describe('lifecycle configs that must not deploy', () => {
  const build =
    (lifecycle: unknown, sources: unknown[] = [telphin('a')]) =>
    () =>
      buildApp(parseConfig({ sources, lifecycle }), noBundling);

  it('STANDARD_IA before 30 days', () => {
    expect(build({ transitions: [{ storageClass: 'STANDARD_IA', afterDays: 10 }] })).toThrow(
      /\n {2}- lifecycle\.transitions\[0\]\.afterDays: .*30 days/,
    );
  });

  it("Deep Archive before Glacier IR's 90 days are over", () => {
    expect(
      build({
        transitions: [
          { storageClass: 'GLACIER_IR', afterDays: 30 },
          { storageClass: 'DEEP_ARCHIVE', afterDays: 60 },
        ],
      }),
    ).toThrow(/\n {2}- lifecycle\.transitions\[1\]\.afterDays: must be at least 120/);
  });

  it('expiry before the Object Lock period ends, at top level and in a class', () => {
    expect(build({ expireAfterDays: 100, objectLock: { mode: 'COMPLIANCE', years: 1 } })).toThrow(
      /\n {2}- lifecycle\.expireAfterDays: .*Object Lock/,
    );
    expect(
      build(
        {
          retentionClasses: { short: { expireAfterDays: 30 } },
          objectLock: { mode: 'GOVERNANCE', days: 90 },
        },
        [telphin('a', { retentionClass: 'short' })],
      ),
    ).toThrow(/\n {2}- lifecycle\.retentionClasses\.short\.expireAfterDays: .*Object Lock/);
  });

  it('a source tagging a class that no rule governs, and a class named standard', () => {
    expect(
      build({ retentionClasses: { legal: { expireAfterDays: 3650 } } }, [
        telphin('a'),
        telphin('b', { retentionClass: 'legl' }),
      ]),
    ).toThrow(/\n {2}- sources\[1\]\.retentionClass: "legl" is not in lifecycle\.retentionClasses/);
    expect(build({ retentionClasses: { standard: { expireAfterDays: 30 } } })).toThrow(
      /\n {2}- lifecycle\.retentionClasses\.standard: /,
    );
  });

  it('Object Lock with both days and years', () => {
    expect(build({ objectLock: { mode: 'GOVERNANCE', days: 1, years: 1 } })).toThrow(
      /\n {2}- lifecycle\.objectLock: set exactly one of days or years/,
    );
  });
});
