import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { CfnFunction, Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Schedule, ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';

export interface SweepScheduleProps {
  readonly sweep: LambdaFunction;
  /** `sweep.intervalSeconds` from the config; EventBridge Scheduler rates are whole minutes, rounded up. */
  readonly intervalSeconds: number;
}

/** Whole minutes between sweeps: `ceil(intervalSeconds / 60)`, at least 1. */
export function sweepRateMinutes(intervalSeconds: number): number {
  return Math.max(1, Math.ceil(intervalSeconds / 60));
}

/**
 * Runs the sweep at a fixed rate with EventBridge Scheduler. A missed run is not retried for long: the next
 * one covers the same look-back window, so a late sweep would only duplicate work.
 */
export class SweepSchedule extends Construct {
  public readonly schedule: Schedule;
  public readonly role: Role;

  constructor(scope: Construct, id: string, props: SweepScheduleProps) {
    super(scope, id);
    const minutes = sweepRateMinutes(props.intervalSeconds);

    const stack = Stack.of(this);
    this.role = new Role(this, 'InvokeRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: 'Lets EventBridge Scheduler invoke the callvault sweep',
    });
    const functionId = stack.getLogicalId(props.sweep.node.defaultChild as CfnFunction);
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${functionId}.Arn>:*]`,
      reason:
        'Added by LambdaInvoke (Function.grantInvoke): the wildcard covers only versions and aliases of the one sweep function.',
    });

    this.schedule = new Schedule(this, 'Schedule', {
      description: 'callvault sweep: enqueue recent recordings that the archive lacks',
      schedule: ScheduleExpression.rate(Duration.minutes(minutes)),
      target: new LambdaInvoke(props.sweep, {
        role: this.role,
        retryAttempts: 2,
        maxEventAge: Duration.minutes(minutes),
      }),
    });
  }
}
