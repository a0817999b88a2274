import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { CfnFunction, Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Schedule, ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';

/** EventBridge Scheduler drops an event older than this at most (its limit for `maximumEventAge`). */
const MAX_EVENT_AGE_MINUTES = 24 * 60;

export interface RateScheduleProps {
  /** The function invoked on every tick. */
  readonly target: LambdaFunction;
  /** The config's `intervalSeconds`; EventBridge Scheduler rates are whole minutes, rounded up. */
  readonly intervalSeconds: number;
  /** What a run does, e.g. `callvault sweep: enqueue recent recordings that the archive lacks`. */
  readonly description: string;
}

/** Whole minutes between runs: `ceil(intervalSeconds / 60)`, at least 1. */
export function scheduleRateMinutes(intervalSeconds: number): number {
  return Math.max(1, Math.ceil(intervalSeconds / 60));
}

/**
 * Runs a scheduled function (sweep, retention) at a fixed rate with EventBridge Scheduler. A missed run is
 * not retried for longer than one interval: the next run covers the same ground, so a late run would only
 * duplicate work.
 */
export class RateSchedule extends Construct {
  public readonly schedule: Schedule;
  public readonly role: Role;

  constructor(scope: Construct, id: string, props: RateScheduleProps) {
    super(scope, id);
    const minutes = scheduleRateMinutes(props.intervalSeconds);

    const stack = Stack.of(this);
    this.role = new Role(this, 'InvokeRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: `Lets EventBridge Scheduler invoke the ${props.description.split(':')[0]}`,
    });
    const functionId = stack.getLogicalId(props.target.node.defaultChild as CfnFunction);
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${functionId}.Arn>:*]`,
      reason:
        'Added by LambdaInvoke (Function.grantInvoke): the wildcard covers only versions and aliases of the one scheduled function.',
    });

    this.schedule = new Schedule(this, 'Schedule', {
      description: props.description,
      schedule: ScheduleExpression.rate(Duration.minutes(minutes)),
      target: new LambdaInvoke(props.target, {
        role: this.role,
        retryAttempts: 2,
        maxEventAge: Duration.minutes(Math.min(minutes, MAX_EVENT_AGE_MINUTES)),
      }),
    });
  }
}
