/** Helpers for the CDK tests: the CLI's context, and IAM intent read out of a synthesized template. */
import { readFileSync } from 'node:fs';
import type { AppProps } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/** The context `cdk synth` passes from cdk.json, so that tests synthesize what the CLI does. */
export function cdkJsonContext(extra: Record<string, unknown> = {}): AppProps {
  const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'));
  return { context: { ...cdkJson.context, ...extra } };
}

export interface AllowStatement {
  actions: string[];
  /** Resources flattened the way cdk-nag prints them: `<LogicalId.Arn>/recordings/*`. */
  resources: string[];
}

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Json = any;

/** Flattens a CloudFormation value (Ref, GetAtt, Join) into one readable string. */
export function resourceText(value: Json): string {
  if (typeof value === 'string') return value;
  if (value?.Ref) return `<${value.Ref}>`;
  if (value?.['Fn::GetAtt']) return `<${value['Fn::GetAtt'][0]}.${value['Fn::GetAtt'][1]}>`;
  if (value?.['Fn::Join']) {
    const [delimiter, parts] = value['Fn::Join'] as [string, Json[]];
    return parts.map(resourceText).join(delimiter);
  }
  return JSON.stringify(value);
}

const list = (value: Json): Json[] => (Array.isArray(value) ? value : [value]);

export function allowStatements(policy: Json): AllowStatement[] {
  const statements: Json[] = policy.Properties.PolicyDocument.Statement;
  return statements
    .filter((statement) => statement.Effect === 'Allow')
    .map((statement) => ({
      actions: list(statement.Action) as string[],
      resources: list(statement.Resource).map(resourceText),
    }));
}

/** The inline policy attached to a role, with its logical id. */
export function policyOfRole(template: Template, roleLogicalId: string): Json & { id: string } {
  const policies = template.findResources('AWS::IAM::Policy');
  const found = Object.entries(policies).filter(([, policy]) =>
    (policy.Properties.Roles as Json[]).some((role) => role.Ref === roleLogicalId),
  );
  if (found.length !== 1)
    throw new Error(`expected one policy for role ${roleLogicalId}, found ${found.length}`);
  const [id, policy] = found[0] as [string, Json];
  return { ...policy, id };
}

/**
 * cdk-nag's AWS Solutions and Serverless findings for a scope. cdk-nag 3 is a validation plugin, not an
 * Aspect, so its findings never become annotations; `validateScope` runs the packs directly.
 */
export function nagViolations(scope: IConstruct) {
  return [new AwsSolutionsChecks(), new ServerlessChecks()].flatMap((pack) =>
    pack.validateScope(scope).violations.map((violation) => ({
      rule: violation.ruleName,
      severity: violation.severity,
      resources: violation.violatingResources.map((resource) => resource.constructPath),
    })),
  );
}
