import { Duration, Validations } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { ENV } from '../../functions/config';
import type { FunctionEnvironments } from '../function-environment';
import type { Monitoring } from './monitoring';
import { NodeFunction } from './node-function';
import type { ProviderQueue } from './provider-queue';
import type { SharedStateTable } from './shared-state-table';
import type { SourceSecrets } from './source-secrets';

/**
 * The webhook's memory. Lambda gives CPU in proportion to memory, and a cold start (a ~1 MB bundle, the
 * source's secret, for the Graph bot the signing keys) must fit the shortest platform handshake (3 seconds).
 */
export const WEBHOOK_MEMORY_MIB = 512;

export interface WebhookFunctionProps {
  readonly environment: Record<string, string>;
  readonly logRetention: RetentionDays;
  /** Each source's webhook secret (and, for the Graph bot, nothing: it checks Microsoft's signatures). */
  readonly secrets: SourceSecrets;
  readonly sharedState?: SharedStateTable;
  /** It enqueues a hint or a job on the queue of the delivery's provider. */
  readonly queues: Iterable<ProviderQueue>;
  /** Its errors, and the authenticated events no adapter could interpret. */
  readonly monitoring: Monitoring;
}

/**
 * The webhook receiver (functions/webhook.ts) behind the WebhookApi: authenticates each delivery, parses
 * it and enqueues what it announces; nothing slow happens here.
 */
export class WebhookFunction extends NodeFunction {
  constructor(scope: Construct, id: string, props: WebhookFunctionProps) {
    super(scope, id, {
      entry: 'functions/webhook.ts',
      description: 'callvault webhook receiver: authenticates, parses and enqueues hints',
      serviceName: 'callvault-webhook',
      // Platforms expect an answer within seconds (the shortest handshake: 3); the function only verifies and
      // enqueues. Beyond 10 s no platform is still waiting.
      timeout: Duration.seconds(10),
      memorySize: WEBHOOK_MEMORY_MIB,
      logRetention: props.logRetention,
      environment: props.environment,
    });
    Validations.of(this).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason:
        'Invoked synchronously by API Gateway only; a Lambda dead-letter queue only applies to asynchronous invocations. A failed webhook gets an error status, and the sweep archives whatever a lost webhook announced.',
    });
    props.secrets.grantRead(this);
    props.sharedState?.grantReadWrite(this);
    for (const providerQueue of props.queues) providerQueue.grantSendJobs(this);
    props.monitoring.watchFunction(id, this);
    props.monitoring.watchWebhookEvents(this.logGroup);
  }

  /**
   * Teams lifecycle notifications (subscription removed, reauthorization required), and authenticated
   * events an adapter could not interpret (a sweep instead), are acted on at once: the webhook invokes
   * the subscriptions function asynchronously rather than waiting for its schedule.
   */
  invokesSubscriptions(subscriptions: IFunction, environments: FunctionEnvironments): void {
    // Refused at synth if the function's name would not fit in the environment any more.
    environments.extend({ [ENV.subscriptionsFunction]: subscriptions.functionName }, 1);
    this.addEnvironment(ENV.subscriptionsFunction, subscriptions.functionName);
    this.addToRolePolicy(
      new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [subscriptions.functionArn] }),
    );
  }
}
