import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { rateBudgetOf } from '../functions/composition/rate-budgets';
import { type CallvaultConfig, ENV, retentionFor, runtimeConfigForDeployment } from '../functions/config';
import type { ProviderName } from '../functions/core/recording';
import {
  deadLetterQueueArnOutput,
  deadLetterQueueUrlOutput,
  queueArnOutput,
  queueUrlOutput,
} from '../functions/ops/stack-outputs';
import { descriptorOf, PROVIDER_DESCRIPTORS } from '../functions/providers';
import { ArchiveDashboard } from './constructs/archive-dashboard';
import { Catalogue } from './constructs/catalogue';
import { CatalogueCompaction } from './constructs/catalogue-compaction';
import { RetentionKillSwitch } from './constructs/kill-switch';
import { Monitoring } from './constructs/monitoring';
import { OutcomeEventBus } from './constructs/outcome-event-bus';
import { ProviderQueue } from './constructs/provider-queue';
import { QueueWorker } from './constructs/queue-worker';
import { RecordingBucket } from './constructs/recording-bucket';
import { RetentionFunction } from './constructs/retention-function';
import { RateSchedule } from './constructs/schedules';
import { needsSharedState, SharedStateTable } from './constructs/shared-state-table';
import { SourceSecrets } from './constructs/source-secrets';
import {
  managesSubscriptions,
  SubscriptionsFunction,
  subscriptionsCheckWithinSeconds,
} from './constructs/subscriptions-function';
import { SweepFunction } from './constructs/sweep-function';
import { WebhookApi } from './constructs/webhook-api';
import { WebhookFunction } from './constructs/webhook-function';
import { assertDeployable, logRetentionDays } from './deployment-checks';
import { FunctionEnvironments } from './function-environment';
import {
  ARCHIVE_WORKER_ID,
  consumerTimeout,
  queueMaxReceiveCount,
  type WorkerPlan,
  workerEventSourceSettings,
  workerPlans,
} from './worker-sizing';

export interface ArchiveStackProps extends StackProps {
  readonly config: CallvaultConfig;
}

/**
 * Composes the constructs; every decision about a resource lives in its construct, every sizing decision
 * in worker-sizing.ts. Construct ids are part of the deployed stack: they make the logical ids, and a
 * changed logical id makes CloudFormation replace the resource (a new, empty bucket, table or queue).
 */
export class ArchiveStack extends Stack {
  public readonly recordings: RecordingBucket;
  public readonly queues: ReadonlyMap<ProviderName, ProviderQueue>;
  public readonly secrets: SourceSecrets;
  /** Consumes every provider queue but those whose providers have a worker of their own. */
  public readonly worker: QueueWorker;
  /** Every archive worker by construct id: the shared one and those of their own (worker-sizing.ts). */
  public readonly workers: ReadonlyMap<string, QueueWorker>;
  public readonly webhook: WebhookFunction;
  public readonly sweep: SweepFunction;
  public readonly webhookApi: WebhookApi;
  public readonly sweepSchedule?: RateSchedule;
  /** Present when some enabled source has retention (the global `retention` block or its own). */
  public readonly retention?: RetentionFunction;
  public readonly retentionSchedule?: RateSchedule;
  public readonly killSwitch?: RetentionKillSwitch;
  public readonly monitoring: Monitoring;
  /** Present when some enabled source shares sessions or rate gates across containers, or keeps subscriptions. */
  public readonly sharedState?: SharedStateTable;
  /** Present when some enabled source has webhook subscriptions callvault manages. */
  public readonly subscriptions?: SubscriptionsFunction;
  /** The catalogue in Glue and Athena, with its workgroup and reader role. */
  public readonly catalogue: Catalogue;
  /** Present when `events.enabled`: the bus outcome events go to, and the alarm on undelivered ones. */
  public outcomeEvents?: OutcomeEventBus;

  constructor(scope: Construct, id: string, props: ArchiveStackProps) {
    super(scope, id, props);
    const { config } = props;
    // Refuses inline secrets before anything is built: they must never reach a template.
    const runtimeConfig = runtimeConfigForDeployment(config);
    assertDeployable(config);

    const sources = config.sources.filter((source) => source.enabled);
    // A provider that keeps nothing at the source to delete is no retention source, whatever a global
    // `retention` block says (its adapter refuses deletes).
    const retentionSources = sources.filter(
      (source) =>
        descriptorOf(source.provider).capabilities.delete && retentionFor(config, source) !== undefined,
    );
    const providers = [...new Set(sources.map((source) => source.provider))];
    const logRetention = logRetentionDays(config.aws.logRetentionDays);
    const plans = workerPlans(config, providers);

    this.recordings = new RecordingBucket(this, 'Recordings', {
      bucketName: config.aws.bucketName,
      lifecycle: config.lifecycle,
    });
    this.secrets = new SourceSecrets(this, 'SourceSecrets', { stackName: this.stackName, sources });
    const maxReceiveCounts = Object.fromEntries(
      providers.map((provider) => [provider, queueMaxReceiveCount(provider, config, sources)]),
    );
    const queues = new Map(
      providers.map((provider) => [
        provider,
        new ProviderQueue(this, `${capitalise(provider)}Queue`, {
          provider,
          consumerTimeout: consumerTimeout(plans, provider),
          maxReceiveCount: maxReceiveCounts[provider] as number,
        }),
      ]),
    );
    this.queues = queues;
    // Sessions and rate gates shared across containers, and the record of the subscriptions we created.
    if (needsSharedState(sources) || sources.some(managesSubscriptions)) {
      this.sharedState = new SharedStateTable(this, 'SharedState');
    }
    const sharedState = this.sharedState;
    const environments = new FunctionEnvironments(this, {
      runtimeConfig,
      recordings: this.recordings,
      queues,
      secrets: this.secrets,
      sharedState,
      maxReceiveCounts,
    });
    this.monitoring = new Monitoring(this, 'Monitoring', { alarmEmail: config.aws.alarmEmail });

    const workers = new Map(
      plans.map((plan) => [
        plan.id,
        new QueueWorker(this, plan.id, {
          description: plan.description,
          serviceName: plan.serviceName,
          timeout: plan.timeout,
          memorySize: plan.memoryMiB,
          logRetention,
          environment: environments.worker(plan),
          recordings: this.recordings,
          queues: plan.providers.map((provider) => ({
            providerQueue: queues.get(provider) as ProviderQueue,
            ...workerEventSourceSettings(provider, config, sources),
            fetchWithinSeconds: descriptorOf(provider).worker.fetchWithinSeconds,
          })),
          monitoring: this.monitoring,
          // A job carrying its own download grant needs no secret and no shared session.
          secrets: plan.grantCarryingJobs ? undefined : this.secrets,
          sharedState: plan.grantCarryingJobs ? undefined : sharedState,
          recordsAdminErrors: plan.recordsAdminErrors,
        }),
      ]),
    );
    this.workers = workers;
    this.worker = workers.get(ARCHIVE_WORKER_ID) as QueueWorker;

    this.webhook = new WebhookFunction(this, 'Webhook', {
      environment: environments.common,
      logRetention,
      secrets: this.secrets,
      sharedState,
      queues: queues.values(),
      monitoring: this.monitoring,
    });
    this.webhookApi = new WebhookApi(this, 'WebhookApi', { handler: this.webhook, providers, logRetention });

    this.sweep = new SweepFunction(this, 'Sweep', {
      environment: environments.common,
      logRetention,
      intervalSeconds: config.sweep.intervalSeconds,
      recordings: this.recordings,
      secrets: this.secrets,
      sharedState,
      queues: queues.values(),
      monitoring: this.monitoring,
    });
    if (config.sweep.enabled) {
      this.sweepSchedule = new RateSchedule(this, 'SweepSchedule', {
        target: this.sweep,
        intervalSeconds: config.sweep.intervalSeconds,
        description: 'callvault sweep: enqueue recent recordings that the archive lacks',
      });
    }

    if (retentionSources.length > 0) {
      this.killSwitch = new RetentionKillSwitch(this, 'RetentionKillSwitch', { stackName: this.stackName });
      this.retention = new RetentionFunction(this, 'Retention', {
        environment: environments.extend({ [ENV.killSwitchParameter]: this.killSwitch.parameterName }, 1),
        logRetention,
        recordings: this.recordings,
        secrets: this.secrets,
        sharedState,
        killSwitch: this.killSwitch,
        queues: queues.values(),
        reserveConcurrency: config.aws.reserveConcurrency,
        monitoring: this.monitoring,
      });
      this.retentionSchedule = new RateSchedule(this, 'RetentionSchedule', {
        target: this.retention,
        intervalSeconds: retentionIntervalSeconds(config, retentionSources),
        description: 'callvault retention: delete verified archived recordings at the source',
      });
    }

    if (sources.some(managesSubscriptions) && sharedState) {
      this.subscriptions = new SubscriptionsFunction(this, 'Subscriptions', {
        environment: environments.common,
        secrets: this.secrets,
        sharedState,
        recordings: this.recordings,
        followUpSweepQueues: [...queues.values()].filter((q) => descriptorOf(q.provider).capabilities.list),
        webhookBaseUrl: this.webhookApi.stage.url,
        logRetention,
        executeAfter: [this.webhookApi, this.webhook, this.secrets, sharedState],
        reserveConcurrency: config.aws.reserveConcurrency,
        maxIntervalSeconds: subscriptionsCheckWithinSeconds(providers),
      });
      this.webhook.invokesSubscriptions(this.subscriptions.handler, environments);
      this.monitoring.watchFunction('Subscriptions', this.subscriptions.handler);
      this.monitoring.watchSubscriptions();
    }

    this.watchProviders(providers, plans, workers);

    this.catalogue = new Catalogue(this, 'Catalogue', {
      bucket: this.recordings.bucket,
      accessLogBucket: this.recordings.accessLogBucket,
      sourceIds: config.sources.map((source) => source.id),
      writers: [...workers.values(), this.retention].filter((fn) => fn !== undefined),
    });

    // Compacts each closed day of the catalogue into one file, daily (README "Finding recordings").
    const compaction = new CatalogueCompaction(this, 'CatalogueCompaction', {
      bucket: this.recordings.bucket,
      logRetention,
    });
    this.monitoring.watchFunction('CatalogueCompaction', compaction.handler);

    const budgetSourceIds = sources
      .filter((source) => rateBudgetOf(config, source))
      .map((source) => source.id);
    this.monitoring.watchBudgets(budgetSourceIds);
    new ArchiveDashboard(this, 'Dashboard', {
      queues,
      sources,
      subscriptionSourceIds: this.subscriptions ? sources.filter(managesSubscriptions).map((s) => s.id) : [],
      retentionSourceIds: this.retention ? retentionSources.map((source) => source.id) : [],
      athenaWorkgroup: this.catalogue.workgroupName,
      budgetSourceIds,
    });

    this.addOutcomeEvents(config);
    this.addOutputs();
  }

  /**
   * Alarms that read the logs of several functions: credentials still unset, and each provider's own
   * failure modes (its descriptor's `alarms`). The functions' own alarms are registered where each
   * function is built.
   */
  private watchProviders(
    providers: readonly ProviderName[],
    plans: readonly WorkerPlan[],
    workers: ReadonlyMap<WorkerPlan['id'], QueueWorker>,
  ): void {
    // Workers whose jobs carry their own grant read no credentials and log in nowhere.
    const credentialReaders = plans
      .filter((plan) => !plan.grantCarryingJobs)
      .map((plan) => [plan.id, (workers.get(plan.id) as QueueWorker).logGroup] as const);
    const logGroups = {
      ...Object.fromEntries(credentialReaders),
      Webhook: this.webhook.logGroup,
      Sweep: this.sweep.logGroup,
      ...(this.retention ? { Retention: this.retention.logGroup } : {}),
      ...(this.subscriptions ? { Subscriptions: this.subscriptions.handler.logGroup } : {}),
    };
    this.monitoring.watchCredentials(logGroups);
    for (const provider of providers) {
      const { alarms } = descriptorOf(provider);
      if (!alarms) continue;
      this.monitoring.watchProvider(alarms, {
        credentialReaders: logGroups,
        worker: (this.workerOf(provider) as QueueWorker).logGroup,
        webhook: this.webhook.logGroup,
      });
    }
  }

  /** The worker consuming a provider's queue; undefined when the stack has no such queue. */
  workerOf(provider: ProviderName): QueueWorker | undefined {
    return [...this.workers.values()].find((worker) =>
      worker.queues.some((providerQueue) => providerQueue.provider === provider),
    );
  }

  private addOutcomeEvents(config: CallvaultConfig): void {
    if (!config.events.enabled) return;
    this.outcomeEvents = new OutcomeEventBus(this, 'OutcomeEvents', {
      config: config.events,
      stackName: config.aws.stackName,
      bucket: this.recordings.bucket,
      publishers: [...this.workers.values(), this.retention].filter((fn) => !!fn),
      alarmTopic: this.monitoring.topic,
    });
  }

  private addOutputs(): void {
    const urlTokenProviders = PROVIDER_DESCRIPTORS.filter(
      (descriptor) => descriptor.webhook.auth === 'url-token',
    )
      .map((descriptor) => descriptor.name)
      .join(', ');
    new CfnOutput(this, 'WebhookBaseUrl', {
      description: `Webhook URLs are {this}{provider}/{sourceId}; ${urlTokenProviders} adds ?token={webhookSecret from the source secret}; the other providers use the URL as is`,
      value: this.webhookApi.webhooksUrl,
    });
    new CfnOutput(this, 'BucketName', { value: this.recordings.bucket.bucketName });
    for (const [provider, providerQueue] of this.queues) {
      new CfnOutput(this, queueUrlOutput(provider), { value: providerQueue.queue.queueUrl });
      new CfnOutput(this, deadLetterQueueUrlOutput(provider), {
        value: providerQueue.deadLetterQueue.queueUrl,
      });
      // The worker dead-letters most jobs itself (SendMessage), so SQS knows no source queue for them: a
      // redrive must name its destination. `npm run redrive` reads both ARNs from here.
      new CfnOutput(this, queueArnOutput(provider), {
        description: `Destination of a ${provider} redrive (start-message-move-task --destination-arn)`,
        value: providerQueue.queue.queueArn,
      });
      new CfnOutput(this, deadLetterQueueArnOutput(provider), {
        description: `Source of a ${provider} redrive (start-message-move-task --source-arn)`,
        value: providerQueue.deadLetterQueue.queueArn,
      });
    }
    for (const [sourceId, secret] of this.secrets.secrets) {
      new CfnOutput(this, `SecretName${alphanumeric(sourceId)}`, {
        description: `Credentials of source "${sourceId}"`,
        value: secret.secretName,
      });
    }
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.topic.topicArn });
    if (this.killSwitch) {
      new CfnOutput(this, 'KillSwitchParameterName', {
        description:
          'Retention kill switch: while this SSM parameter exists (any value) no recording is deleted at the source; delete the parameter to resume. The stack never creates it.',
        value: this.killSwitch.parameterName,
      });
    }
  }
}

/** Retention runs as often as the most frequent of its sources asks (the global interval by default). */
function retentionIntervalSeconds(
  config: CallvaultConfig,
  retentionSources: CallvaultConfig['sources'],
): number {
  return Math.min(
    ...retentionSources.map(
      (source) => retentionFor(config, source)?.intervalSeconds ?? Number.POSITIVE_INFINITY,
    ),
  );
}

function capitalise(value: string): string {
  return value.charAt(0).toUpperCase() + value.slice(1);
}

function alphanumeric(value: string): string {
  return capitalise(value.replace(/[^A-Za-z0-9]/g, ''));
}
