import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { SharedStateTable } from '../../cdk/constructs/shared-state-table';
import { allowStatements, nagViolations, policyOfRole } from './support';

function build() {
  const app = new App();
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const state = new SharedStateTable(stack, 'SharedState');
  const role = new Role(stack, 'WorkerRole', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  state.grantReadWrite(role);
  return {
    stack,
    template: Template.fromStack(stack),
    roleId: stack.getLogicalId(role.node.defaultChild as never),
  };
}

describe('SharedStateTable', () => {
  it('is on-demand, encrypted with its own rotating key, recoverable, and expires items by TTL', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('grants item reads and conditional writes only: no scan, query or table management', () => {
    const { template, roleId } = build();
    const actions = allowStatements(policyOfRole(template, roleId)).flatMap((statement) => statement.actions);
    expect(actions.filter((action) => action.startsWith('dynamodb:')).sort()).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]);
  });

  it('is cdk-nag clean', () => {
    const { stack } = build();
    expect(
      nagViolations(stack).filter((violation) =>
        violation.resources.some((path) => path?.includes('SharedState')),
      ),
    ).toEqual([]);
  });
});
