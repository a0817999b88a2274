/**
 * Outcome events in the stack: a bus the stack creates (or the default bus, or an existing one), no rule
 * (consumers bring theirs), PutEvents on that bus only for the functions that record outcomes, the
 * undelivered prefix writable by them, and an alarm on undelivered events. Off by default.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp, loadDeploymentConfig } from '../../cdk/app';
import type { ArchiveStack } from '../../cdk/archive-stack';
import { ENV, parseConfig } from '../../functions/config';
import { eventBusOf, outcomeEventsConfigSchema } from '../../functions/config/outcome-events';
import { allowStatements, cdkJsonContext, nagViolations, policyOfRole } from './support';

const example = loadDeploymentConfig('/nonexistent/callvault.config.json').config;
const noBundling = { appProps: cdkJsonContext({ 'aws:cdk:bundling-stacks': [] }) };

function synth(events: Record<string, unknown>): { stack: ArchiveStack; template: Template } {
  const config = { ...example, events: outcomeEventsConfigSchema.parse(events) };
  const { stack } = buildApp(config, noBundling);
  return { stack, template: Template.fromStack(stack) };
}

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Json = any;

function roleOf(template: Template, functionLogicalId: string): string {
  const fn: Json = template.findResources('AWS::Lambda::Function')[functionLogicalId];
  return fn.Properties.Role['Fn::GetAtt'][0];
}

function functionId(template: Template, entryHint: string): string {
  const [id] = Object.entries(template.findResources('AWS::Lambda::Function')).find(([key]) =>
    key.startsWith(entryHint),
  ) as [string, Json];
  return id;
}

function putEventsStatements(template: Template): Json[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy: Json) =>
    (policy.Properties.PolicyDocument.Statement as Json[]).filter((statement) =>
      [statement.Action].flat().some((action: string) => action.startsWith('events:')),
    ),
  );
}

describe('outcome events in the stack', { timeout: 240_000 }, () => {
  it('is off by default: no bus, no PutEvents, no alarm', () => {
    const { template } = synth({});
    template.resourceCountIs('AWS::Events::EventBus', 0);
    expect(putEventsStatements(template)).toEqual([]);
    expect(JSON.stringify(template.toJSON())).not.toContain('OutcomeEventsUndelivered');
  });

  describe('with a bus the stack creates', () => {
    const { stack, template } = synth({ enabled: true });

    it('creates the bus the functions derive from the shipped config, and no rule', () => {
      const buses: Json[] = Object.values(template.findResources('AWS::Events::EventBus'));
      expect(buses).toHaveLength(1);
      expect(buses[0].Properties.Name).toBe(`callvault-${example.aws.stackName}`);
      template.resourceCountIs('AWS::Events::Rule', 0);
      const worker: Json =
        template.findResources('AWS::Lambda::Function')[functionId(template, 'ArchiveWorker')];
      const shipped = parseConfig(JSON.parse(worker.Properties.Environment.Variables[ENV.runtimeConfig]));
      expect(shipped.events.enabled).toBe(true);
      expect(eventBusOf(shipped.events, shipped.aws.stackName)).toBe(buses[0].Properties.Name);
    });

    it('lets the worker and retention put events with source callvault on that bus only, and nothing else may', () => {
      const statements = putEventsStatements(template);
      const busId = Object.keys(template.findResources('AWS::Events::EventBus'))[0];
      for (const statement of statements) {
        expect(statement.Action).toBe('events:PutEvents');
        expect(statement.Resource).toEqual({ 'Fn::GetAtt': [busId, 'Arn'] });
        expect(statement.Condition).toEqual({ StringEquals: { 'events:source': 'callvault' } });
      }
      const withPutEvents = Object.values(template.findResources('AWS::IAM::Policy'))
        .filter((policy: Json) =>
          (policy.Properties.PolicyDocument.Statement as Json[]).some((s) => s.Action === 'events:PutEvents'),
        )
        .flatMap((policy: Json) => policy.Properties.Roles.map((role: Json) => role.Ref));
      const expected = ['ArchiveWorker', 'Retention']
        .filter((hint) =>
          Object.keys(template.findResources('AWS::Lambda::Function')).some((k) => k.startsWith(hint)),
        )
        .map((hint) => roleOf(template, functionId(template, hint)));
      expect(withPutEvents.sort()).toEqual(expected.sort());
      const worker = allowStatements(
        policyOfRole(template, roleOf(template, functionId(template, 'ArchiveWorker'))),
      );
      const undelivered = worker.filter((statement) =>
        statement.resources.some((resource) =>
          /^<Recordings\w+\.Arn>\/events\/undelivered\/\*$/.test(resource),
        ),
      );
      expect(undelivered).toHaveLength(1);
      expect(undelivered[0]?.actions).toEqual(['s3:PutObject']);
      const webhook = allowStatements(
        policyOfRole(template, roleOf(template, functionId(template, 'Webhook'))),
      );
      expect(webhook.flatMap((statement) => statement.actions)).not.toContain('events:PutEvents');
    });

    it('alarms on any undelivered event, to the alarm topic', () => {
      const alarms: Json[] = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
        (alarm: Json) => alarm.Properties.MetricName === 'OutcomeEventsUndelivered',
      );
      expect(alarms).toHaveLength(1);
      expect(alarms[0].Properties).toMatchObject({
        Namespace: 'Callvault',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        Dimensions: [{ Name: 'service', Value: 'callvault' }],
        TreatMissingData: 'notBreaching',
      });
      const topicId = Object.keys(template.findResources('AWS::SNS::Topic'))[0];
      expect(alarms[0].Properties.AlarmActions).toEqual([{ Ref: topicId }]);
    });

    it('outputs the bus, and stays cdk-nag clean', () => {
      template.hasOutput('OutcomeEventBusName', {});
      expect(nagViolations(stack)).toEqual([]);
    });
  });

  it('uses the account default bus when asked, creating none', () => {
    const { template } = synth({ enabled: true, eventBus: 'default' });
    template.resourceCountIs('AWS::Events::EventBus', 0);
    const statements = putEventsStatements(template);
    expect(statements.length).toBeGreaterThan(0);
    for (const statement of statements) {
      expect(JSON.stringify(statement.Resource)).toMatch(/:event-bus\/default"/);
    }
  });
});
