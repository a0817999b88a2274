import { CfnOutput, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { CfnBucket, IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import {
  eventBusOf,
  OUTCOME_EVENTS_UNDELIVERED_METRIC,
  type OutcomeEventsConfig,
  UNDELIVERED_EVENTS_PREFIX,
} from '../../functions/config/outcome-events';
import { OUTCOME_EVENT_SOURCE } from '../../functions/core/outcome-events';
import { METRICS_NAMESPACE, METRICS_SERVICE_DIMENSION } from './monitoring';

export interface OutcomeEventBusProps {
  readonly config: OutcomeEventsConfig;
  /** `aws.stackName`: the functions derive the created bus's name from it too (`eventBusOf`). */
  readonly stackName: string;
  /** The recordings bucket: undelivered events wait under `events/undelivered/` in it. */
  readonly bucket: IBucket;
  /** The functions that record outcomes (workers, retention): each may put events on this bus only. */
  readonly publishers: readonly IFunction[];
  readonly alarmTopic: ITopic;
}

/**
 * Where outcome events go on AWS (README "Events for downstream consumers"): a bus this stack creates
 * (`eventBus: "stack"`, named `callvault-{stackName}`), the account's default bus, or an existing one. No
 * rule is created: consumers add their own (`source` `callvault`, a `detail-type` per outcome). Each
 * publisher gets `events:PutEvents` on that bus only, for source `callvault` only, and may write
 * undelivered events under `events/undelivered/`; any undelivered event alarms.
 */
export class OutcomeEventBus extends Construct {
  /** Present when the stack creates the bus. */
  public readonly bus?: EventBus;
  public readonly eventBusArn: string;
  public readonly eventBusName: string;
  public readonly undeliveredAlarm: Alarm;

  constructor(scope: Construct, id: string, props: OutcomeEventBusProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const target = eventBusOf(props.config, props.stackName);
    if (props.config.eventBus === 'stack') {
      this.bus = new EventBus(this, 'Bus', {
        eventBusName: target,
        description: 'callvault outcome events: one per archived, gone, expired or deleted recording',
      });
      this.eventBusArn = this.bus.eventBusArn;
      this.eventBusName = this.bus.eventBusName;
    } else if (target.startsWith('arn:')) {
      this.eventBusArn = target;
      this.eventBusName = target.slice(target.lastIndexOf('/') + 1);
    } else {
      this.eventBusArn = stack.formatArn({ service: 'events', resource: 'event-bus', resourceName: target });
      this.eventBusName = target;
    }

    const bucketId = stack.getLogicalId(props.bucket.node.defaultChild as CfnBucket);
    for (const fn of props.publishers) {
      fn.addToRolePolicy(
        new PolicyStatement({
          actions: ['events:PutEvents'],
          resources: [this.eventBusArn],
          conditions: { StringEquals: { 'events:source': OUTCOME_EVENT_SOURCE } },
        }),
      );
      fn.addToRolePolicy(
        new PolicyStatement({
          actions: ['s3:PutObject'],
          resources: [props.bucket.arnForObjects(`${UNDELIVERED_EVENTS_PREFIX}*`)],
        }),
      );
      // Acknowledged on the role, whose policy holds the statement (as recording-bucket.ts does).
      if (fn.role)
        Validations.of(fn.role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${UNDELIVERED_EVENTS_PREFIX}*]`,
          reason: `Undelivered events are written as ${UNDELIVERED_EVENTS_PREFIX}{publisher}/{eventId}.json, keys not known before the failure; the grant is PutObject on that prefix only.`,
        });
    }

    this.undeliveredAlarm = new Alarm(this, 'UndeliveredAlarm', {
      metric: new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: OUTCOME_EVENTS_UNDELIVERED_METRIC,
        dimensionsMap: { ...METRICS_SERVICE_DIMENSION },
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription:
        'Outcome events could not be delivered to EventBridge after their retries (metric OutcomeEventsUndelivered). The recordings are archived; the events wait under events/undelivered/ in the bucket: fix the cause, then `npm run events-redrive -- --aws`.',
    });
    const action = new SnsAction(props.alarmTopic);
    this.undeliveredAlarm.addAlarmAction(action);
    this.undeliveredAlarm.addOkAction(action);

    new CfnOutput(stack, 'OutcomeEventBusName', {
      description: 'EventBridge bus of callvault outcome events (source "callvault"); add your rules to it',
      value: this.eventBusName,
    });
    new CfnOutput(stack, 'OutcomeEventBusArn', { value: this.eventBusArn });
  }
}
