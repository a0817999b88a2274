/**
 * The daily catalogue compaction in the stack: its function may only list, read, write and delete under
 * catalog/recordings/ (and take its own run lease), runs once a day, alarms on failure, and cdk-nag stays
 * clean.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp, loadDeploymentConfig } from '../../cdk/app';
import type { ArchiveStack } from '../../cdk/archive-stack';
import { allowStatements, cdkJsonContext, nagViolations, policyOfRole, resourceText } from './support';

const example = loadDeploymentConfig('/nonexistent/callvault.config.json').config;
const noBundling = { appProps: cdkJsonContext({ 'aws:cdk:bundling-stacks': [] }) };

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Json = any;

describe('the catalogue compaction function in the stack', () => {
  let stack: ArchiveStack;
  let template: Template;
  let functionId: string;
  beforeAll(() => {
    ({ stack } = buildApp(example, noBundling));
    template = Template.fromStack(stack);
    const functions = Object.entries(template.findResources('AWS::Lambda::Function')).filter(([, fn]) =>
      fn.Properties.Description?.startsWith('callvault catalogue compaction'),
    );
    expect(functions).toHaveLength(1);
    functionId = (functions[0] as [string, Json])[0];
  });

  it('may touch catalog/recordings/ and its own lease, nothing else', () => {
    const fn: Json = template.findResources('AWS::Lambda::Function')[functionId];
    const roleId = fn.Properties.Role['Fn::GetAtt'][0];
    const statements = allowStatements(policyOfRole(template, roleId));
    const bucket = Object.keys(template.findResources('AWS::S3::Bucket')).find((id) =>
      id.startsWith('RecordingsBucket'),
    );
    const s3 = statements.filter((statement) => statement.actions.some((action) => action.startsWith('s3:')));
    expect(s3).toEqual([
      {
        actions: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'],
        resources: [`<${bucket}.Arn>/catalog/recordings/*`],
      },
      { actions: ['s3:ListBucket'], resources: [`<${bucket}.Arn>`] },
      {
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [`<${bucket}.Arn>/state/leases/catalogue-compaction.json`],
      },
    ]);
    const policy = policyOfRole(template, roleId);
    const list = (policy.Properties.PolicyDocument.Statement as Json[]).find(
      (s) => s.Action === 's3:ListBucket',
    );
    expect(list.Condition).toEqual({ StringLike: { 's3:prefix': ['catalog/recordings/*'] } });
    const other = statements
      .flatMap((statement) => statement.actions)
      .filter((action) => !action.startsWith('s3:'));
    expect(other.every((action) => action.startsWith('logs:') || action.startsWith('xray:'))).toBe(true);
    expect(fn.Properties.Environment.Variables).toEqual(
      expect.objectContaining({ CALLVAULT_BUCKET: expect.anything() }),
    );
    expect(JSON.stringify(fn.Properties.Environment.Variables)).not.toContain('SECRET');
  });

  it('runs once a day and alarms when a run fails', () => {
    const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule')).filter((schedule) =>
      resourceText(schedule.Properties.Target.Arn).includes(functionId),
    );
    expect(schedules).toHaveLength(1);
    expect(schedules[0]?.Properties.ScheduleExpression).toBe('rate(1 day)');
    const alarms = Object.entries(template.findResources('AWS::CloudWatch::Alarm')).filter(([id]) =>
      id.includes('CatalogueCompactionErrors'),
    );
    expect(alarms).toHaveLength(1);
    const alarm = (alarms[0] as [string, Json])[1];
    expect(alarm.Properties.MetricName).toBe('Errors');
    expect(alarm.Properties.Dimensions[0].Value.Ref).toBe(functionId);
    expect(alarm.Properties.AlarmActions).toBeDefined();
  });

  it('passes cdk-nag', () => {
    expect(nagViolations(stack)).toEqual([]);
  });
});
