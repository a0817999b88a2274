import { CfnOutput, Duration, Stack, type StackProps, Token, Validations } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { rateBudgetOf } from '../functions/composition/rate-budgets';
import {
  type CallvaultConfig,
  ConfigError,
  ENV,
  isWebhookOnly,
  retentionFor,
  runtimeConfigForDeployment,
} from '../functions/config';
import type { ProviderName } from '../functions/core/recording';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../functions/core/retry-policy';
import {
  deadLetterQueueArnOutput,
  deadLetterQueueUrlOutput,
  queueArnOutput,
  queueUrlOutput,
} from '../functions/ops/stack-outputs';
import type { RingCentralSourceConfig } from '../functions/providers/ringcentral/ringcentral-config';
import { ArchiveDashboard } from './constructs/archive-dashboard';
import { Catalogue } from './constructs/catalogue';
import { CatalogueCompaction } from './constructs/catalogue-compaction';
import { RetentionKillSwitch } from './constructs/kill-switch';
import { Monitoring } from './constructs/monitoring';
import { NodeFunction } from './constructs/node-function';
import { ProviderQueue } from './constructs/provider-queue';
import { DEFAULT_RETENTION_CLASS, RecordingBucket } from './constructs/recording-bucket';
import { RateSchedule } from './constructs/schedules';
import { needsSharedState, SharedStateTable } from './constructs/shared-state-table';
import { SourceSecrets } from './constructs/source-secrets';
import { SubscriptionsFunction } from './constructs/subscriptions-function';
import { WebhookApi } from './constructs/webhook-api';
import { withoutRestorableDefaults } from './shipped-config';

/**
 * Records per worker invocation. Each record is a whole recording streamed to S3 (minutes for long calls),
 * so a big batch only delays the last records towards the deadline and makes a crash redeliver more; a
 * small batch keeps per-message deadlines honest while still amortising a cold start.
 */
export const WORKER_BATCH_SIZE = 2;

/** The least `maxConcurrency` an SQS event source accepts. */
const SQS_MIN_MAX_CONCURRENCY = 2;

/**
 * Heavy-group requests one busy RingCentral worker spends a minute: each job is one call-log lookup or
 * one content download (both Heavy), and a short recording streams in seconds, so a worker that never
 * waits would spend several a minute. Five is the planning figure: the shared rate gate is what enforces
 * the budget, and workers beyond `budget / 5` would only hold their messages while they wait at it.
 */
export const RINGCENTRAL_HEAVY_REQUESTS_PER_WORKER_MINUTE = 5;

/** How the worker consumes one provider's queue. */
export interface WorkerEventSourceSettings {
  readonly batchSize: number;
  readonly maxConcurrency: number;
}

/**
 * Per provider, because their budgets and deadlines differ:
 * - RingCentral: concurrency follows the Heavy budget of its sources (summed: they share the queue),
 *   `floor(heavyPerMinute / 5)`, at least SQS's minimum of 2 and at most `worker.maxConcurrency`. The
 *   default 10 a minute gives 2 workers; more only wait at the rate gate or draw 429s.
 * - Graph bot: one job per invocation and no batching window, so a job starts at once and never waits
 *   behind another recording in the same batch: its download token expires minutes after the call. It
 *   has a worker function of its own, so the other queues' backlogs cannot hold its jobs back.
 * - Telphin: the configured concurrency and the common batch.
 */
export function workerEventSourceSettings(
  provider: ProviderName,
  config: CallvaultConfig,
  sources: readonly CallvaultConfig['sources'][number][],
): WorkerEventSourceSettings {
  const configured = config.worker.maxConcurrency;
  switch (provider) {
    case 'ringcentral': {
      const heavyPerMinute = sources
        .filter(
          (source): source is Extract<typeof source, { provider: 'ringcentral' }> =>
            source.provider === 'ringcentral',
        )
        .reduce((sum, source: RingCentralSourceConfig) => sum + source.rateLimits.heavyPerMinute, 0);
      const fromBudget = Math.floor(heavyPerMinute / RINGCENTRAL_HEAVY_REQUESTS_PER_WORKER_MINUTE);
      return {
        batchSize: WORKER_BATCH_SIZE,
        maxConcurrency: Math.min(configured, Math.max(SQS_MIN_MAX_CONCURRENCY, fromBudget)),
      };
    }
    case 'msgraph':
    // One multi-GB recording per invocation: a second in the batch would start with the deadline half spent.
    case 'msteams':
      return { batchSize: 1, maxConcurrency: configured };
    case 'telphin':
      return { batchSize: WORKER_BATCH_SIZE, maxConcurrency: configured };
  }
}

/**
 * Teams worker sizing, from the bench (BENCHMARKS.md on 2 shared cores, moto: the streaming section's
 * archive path at 1 GiB, 35.4 MiB/s for the whole job and 22.0 MiB/s at its slowest size, 100 MiB; the
 * msteams section's Teams path, 2 GiB through the adapter and the sandbox, 60.1 MiB/s) and S3's limits:
 * - a 4 GiB recording is 4,096 MiB; at 35.4 MiB/s it streams in about 116 s, at 22.0 MiB/s in 186 s.
 *   Lambda's maximum of 900 s needs only 4.6 MiB/s, so a 4 GiB stream fits one invocation with about 5×
 *   to 8× margin (TLS on both legs in Lambda, absent on the bench's loopback, spends part of it);
 * - 64 MiB parts: 4 GiB is 64 parts of S3's 10,000 (objects up to 625 GiB fit), and 64 round trips
 *   instead of 512 at the default 8 MiB. The buffers are about partSizeMiB × (partsInFlight + 1) =
 *   64 × 3 = 192 MiB at the default 2 in flight, above the idle ~80 MiB the bench measures;
 * - 1,769 MiB of memory is where Lambda gives one full vCPU: hashing (the verifier's SHA-256) and two TLS
 *   streams are CPU-bound, and the bench's figures are for one busy core.
 * A config asking for more (part size or memory) keeps its figure.
 */
export const TEAMS_WORKER_TIMEOUT = Duration.seconds(900);
export const TEAMS_WORKER_MEMORY_MIB = 1769;
export const TEAMS_PART_SIZE_MIB = 64;

/**
 * Receives a Teams recording job spends while Graph still answers 404 for its content (Teams processes a
 * recording for up to `contentWaitHours`): not-ready retries double from `notReadyBaseSeconds` to an hour,
 * and the receive at which the wait is over is the one where the worker dead-letters the job itself, with
 * the reason. 48 hours: 6 receives in the first hour (delays 1, 2, 4… 32 minutes), then one an hour, and
 * the give-up: 54.
 */
export function receivesWhileNotReady(
  contentWaitHours: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
): number {
  const waitSeconds = contentWaitHours * 3600;
  let elapsed = 0;
  let receives = 1;
  while (elapsed < waitSeconds) {
    elapsed += Math.min(policy.notReadyBaseSeconds * 2 ** (receives - 1), policy.notReadyMaxSeconds);
    receives += 1;
  }
  return receives;
}

/**
 * The msteams queue's `maxReceiveCount`: the receives a recording may spend waiting for Teams to finish
 * processing it (the longest `contentWaitHours` of the Teams sources), plus the configured
 * `worker.maxReceiveCount` for transient faults (Graph 5xx, throttling, a timed-out stream) on the way.
 * Without that margin a few of them during the wait would have SQS dead-letter a recording that is only
 * still processing, with no reason attached; the worker's own give-up comes first and says why.
 */
export function teamsMaxReceiveCount(config: CallvaultConfig, sources: readonly SourceOf[]): number {
  const longestWait = Math.max(
    0,
    ...sources.flatMap((source) => (source.provider === 'msteams' ? [source.contentWaitHours] : [])),
  );
  return receivesWhileNotReady(longestWait) + config.worker.maxReceiveCount;
}

type SourceOf = CallvaultConfig['sources'][number];

/**
 * The webhook's memory. Lambda gives CPU in proportion to memory, and a cold start (a ~1 MB bundle, the
 * source's secret, for the Graph bot the signing keys) must fit RingCentral's 3-second handshake.
 */
export const WEBHOOK_MEMORY_MIB = 512;

/** One retention run may take Lambda's maximum: deletes are one at a time, each audited before and after. */
export const RETENTION_TIMEOUT = Duration.minutes(15);

export interface ArchiveStackProps extends StackProps {
  readonly config: CallvaultConfig;
}

/** Wires the constructs; every decision about a resource lives in its construct. */
export class ArchiveStack extends Stack {
  public readonly recordings: RecordingBucket;
  public readonly queues: ReadonlyMap<ProviderName, ProviderQueue>;
  public readonly secrets: SourceSecrets;
  /** Consumes every provider queue but the Graph bot's and Teams'. */
  public readonly worker: NodeFunction;
  /** Consumes the Graph bot's queue; present when an msgraph source is enabled. */
  public readonly graphWorker?: NodeFunction;
  /** Consumes the Teams recordings queue, sized for multi-GB streams; present when an msteams source is enabled. */
  public readonly teamsWorker?: NodeFunction;
  public readonly webhook: NodeFunction;
  public readonly sweep: NodeFunction;
  public readonly webhookApi: WebhookApi;
  public readonly sweepSchedule?: RateSchedule;
  /** Present when some enabled source has retention (the global `retention` block or its own). */
  public readonly retention?: NodeFunction;
  public readonly retentionSchedule?: RateSchedule;
  public readonly killSwitch?: RetentionKillSwitch;
  public readonly monitoring: Monitoring;
  /** Present when some enabled source shares sessions or rate gates across containers (RingCentral, Teams). */
  public readonly sharedState?: SharedStateTable;
  /** Present when some enabled source has webhook subscriptions callvault manages. */
  public readonly subscriptions?: SubscriptionsFunction;
  /** The catalogue in Glue and Athena, with its workgroup and reader role. */
  public readonly catalogue: Catalogue;

  constructor(scope: Construct, id: string, props: ArchiveStackProps) {
    super(scope, id, props);
    const { config } = props;
    // Refuses inline secrets before anything is built: they must never reach a template.
    const runtimeConfig = runtimeConfigForDeployment(config);
    assertRetentionClassesGoverned(config);
    assertObjectLockDeclared(config);

    const sources = config.sources.filter((source) => source.enabled);
    // The Graph bot keeps nothing at the source to delete: a global `retention` block does not make it a
    // retention source (its adapter refuses deletes).
    const retentionSources = sources.filter(
      (source) => source.provider !== 'msgraph' && retentionFor(config, source) !== undefined,
    );
    const providers = [...new Set(sources.map((source) => source.provider))];
    const logRetention = logRetentionDays(config.aws.logRetentionDays);
    const workerTimeout = Duration.seconds(config.worker.timeoutSeconds);

    this.recordings = new RecordingBucket(this, 'Recordings', {
      bucketName: config.aws.bucketName,
      lifecycle: config.lifecycle,
    });
    this.secrets = new SourceSecrets(this, 'SourceSecrets', { stackName: this.stackName, sources });

    const queues = new Map<ProviderName, ProviderQueue>();
    const maxReceiveCounts: Partial<Record<ProviderName, number>> = {};
    for (const provider of providers) {
      const maxReceiveCount =
        provider === 'msteams' ? teamsMaxReceiveCount(config, sources) : config.worker.maxReceiveCount;
      maxReceiveCounts[provider] = maxReceiveCount;
      queues.set(
        provider,
        new ProviderQueue(this, `${capitalise(provider)}Queue`, {
          provider,
          consumerTimeout: provider === 'msteams' ? TEAMS_WORKER_TIMEOUT : workerTimeout,
          maxReceiveCount,
        }),
      );
    }
    this.queues = queues;

    // Sessions and rate gates (RingCentral), and the record of the subscriptions we created.
    if (needsSharedState(sources) || sources.some(managesSubscriptions)) {
      this.sharedState = new SharedStateTable(this, 'SharedState');
    }
    const sharedState = this.sharedState;

    const environment: Record<string, string> = {
      [ENV.runtimeConfig]: JSON.stringify(withoutRestorableDefaults(runtimeConfig)),
      [ENV.bucket]: this.recordings.bucket.bucketName,
      [ENV.queueUrls]: this.toJsonString(mapValues(queues, (q) => q.queue.queueUrl)),
      [ENV.deadLetterQueueUrls]: this.toJsonString(mapValues(queues, (q) => q.deadLetterQueue.queueUrl)),
      [ENV.sourceSecrets]: this.toJsonString(this.secrets.references),
      ...(sharedState ? { [ENV.sharedStateTable]: sharedState.table.tableName } : {}),
    };
    // The workers give up at each queue's own redrive count, never before SQS would (the Teams queue's is
    // days of not-ready receives, far above worker.maxReceiveCount).
    const workerEnvironment = { ...environment, [ENV.maxReceiveCounts]: JSON.stringify(maxReceiveCounts) };
    const deployTimeValues = this.secrets.secrets.size + 2 * providers.length + 1 + (sharedState ? 1 : 0);

    assertEnvironmentFits(workerEnvironment, deployTimeValues);

    const archiveWorker = (
      id: string,
      props: {
        description: string;
        serviceName: string;
        environment: Record<string, string>;
        timeout?: Duration;
        memorySize?: number;
      },
    ): NodeFunction => {
      const fn = new NodeFunction(this, id, {
        entry: 'functions/archive-worker.ts',
        timeout: workerTimeout,
        memorySize: config.worker.memoryMiB,
        ...props,
        logRetention,
      });
      Validations.of(fn).acknowledge(
        {
          id: 'Serverless-LambdaDLQ',
          reason:
            'Invoked only by SQS event source mappings, never asynchronously; failed jobs are dead-lettered by the queue redrive policy (and by the worker itself for permanent failures).',
        },
        {
          id: 'Serverless-LambdaEventSourceMappingDestination',
          reason:
            "Lambda does not support on-failure destinations for SQS event sources; the provider queue's redrive policy to its dead-letter queue plays that role.",
        },
      );
      this.recordings.grantArchive(fn);
      return fn;
    };
    const consume = (fn: NodeFunction, providerQueue: ProviderQueue): void => {
      // Consume (incl. ChangeMessageVisibility for its own backoff) and kms:Decrypt are granted by the source.
      fn.addEventSource(
        new SqsEventSource(providerQueue.queue, {
          ...workerEventSourceSettings(providerQueue.provider, config, sources),
          reportBatchItemFailures: true,
        }),
      );
      // Resolving a webhook hint enqueues one job per recording found; permanent failures are dead-lettered
      // by the worker itself, with the reason.
      providerQueue.grantSendJobs(fn);
      providerQueue.grantSendDeadLetters(fn);
    };

    this.worker = archiveWorker('ArchiveWorker', {
      description: 'callvault archive worker: streams recordings from the source into S3',
      serviceName: 'callvault-archive-worker',
      environment: workerEnvironment,
    });
    this.secrets.grantRead(this.worker);
    sharedState?.grantReadWrite(this.worker);
    for (const providerQueue of queues.values()) {
      if (!OWN_WORKER_PROVIDERS.has(providerQueue.provider)) consume(this.worker, providerQueue);
    }

    // The Graph bot's jobs get a worker of their own: it reads no secret and no shared state (the job
    // carries its download grant), and its concurrency and throttles are its own, so a Telphin or
    // RingCentral backlog never delays a recording whose token expires minutes after the call.
    const graphQueue = queues.get('msgraph');
    if (graphQueue) {
      this.graphWorker = archiveWorker('GraphWorker', {
        description:
          'callvault Graph bot worker: fetches each recording at once, before its download token expires',
        serviceName: 'callvault-graph-worker',
        // No secret references: a job of another provider reaching it would fail loudly, not quietly.
        environment: Object.fromEntries(
          Object.entries({ ...workerEnvironment, [ENV.sourceSecrets]: '{}' }).filter(
            ([name]) => name !== ENV.sharedStateTable,
          ),
        ),
      });
      consume(this.graphWorker, graphQueue);
    }

    // Teams recordings get a worker sized for multi-GB streams (see TEAMS_WORKER_TIMEOUT): one recording per
    // invocation, a full vCPU, bigger parts. The part size reaches the worker through its runtime config.
    const teamsQueue = queues.get('msteams');
    if (teamsQueue) {
      const teamsRuntimeConfig = {
        ...runtimeConfig,
        worker: {
          ...runtimeConfig.worker,
          partSizeMiB: Math.max(runtimeConfig.worker.partSizeMiB, TEAMS_PART_SIZE_MIB),
        },
      };
      const teamsEnvironment = {
        ...workerEnvironment,
        [ENV.runtimeConfig]: JSON.stringify(withoutRestorableDefaults(teamsRuntimeConfig)),
      };
      assertEnvironmentFits(teamsEnvironment, deployTimeValues);
      this.teamsWorker = archiveWorker('TeamsWorker', {
        description: 'callvault Teams worker: streams multi-GB Teams recordings from Graph into S3',
        serviceName: 'callvault-teams-worker',
        environment: teamsEnvironment,
        timeout: TEAMS_WORKER_TIMEOUT,
        memorySize: Math.max(config.worker.memoryMiB, TEAMS_WORKER_MEMORY_MIB),
      });
      // The app's client secret, and the shared app token (TokenStore) in the shared-state table.
      this.secrets.grantRead(this.teamsWorker);
      sharedState?.grantReadWrite(this.teamsWorker);
      // A metered-API refusal keeps jobs waiting; the worker records it for status (core/admin-errors.ts).
      this.recordings.grantRecordRuns(this.teamsWorker, 'admin');
      consume(this.teamsWorker, teamsQueue);
    }

    this.webhook = new NodeFunction(this, 'Webhook', {
      entry: 'functions/webhook.ts',
      description: 'callvault webhook receiver: authenticates, parses and enqueues hints',
      serviceName: 'callvault-webhook',
      // Platforms expect an answer within seconds (RingCentral's handshake: 3); the function only verifies and
      // enqueues. Beyond 10 s no platform is still waiting.
      timeout: Duration.seconds(10),
      memorySize: WEBHOOK_MEMORY_MIB,
      logRetention,
      environment,
    });
    Validations.of(this.webhook).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason:
        'Invoked synchronously by API Gateway only; a Lambda dead-letter queue only applies to asynchronous invocations. A failed webhook gets an error status, and the sweep archives whatever a lost webhook announced.',
    });
    this.secrets.grantRead(this.webhook);
    sharedState?.grantReadWrite(this.webhook);
    for (const providerQueue of queues.values()) providerQueue.grantSendJobs(this.webhook);
    this.webhookApi = new WebhookApi(this, 'WebhookApi', { handler: this.webhook, providers, logRetention });

    this.sweep = new NodeFunction(this, 'Sweep', {
      entry: 'functions/sweep.ts',
      description: 'callvault sweep: enqueues recent recordings that the archive lacks',
      serviceName: 'callvault-sweep',
      timeout: sweepTimeout(config.sweep.intervalSeconds),
      memorySize: 512,
      logRetention,
      environment,
    });
    Validations.of(this.sweep).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason:
        'A scheduled sweep carries no payload worth keeping: a failed run alarms (SweepErrors) and the next run covers the same look-back window.',
    });
    this.recordings.grantInspect(this.sweep);
    this.recordings.grantRecordRuns(this.sweep, 'sweep');
    this.recordings.grantReadRuns(this.sweep, 'sweep');
    this.secrets.grantRead(this.sweep);
    sharedState?.grantReadWrite(this.sweep);
    for (const providerQueue of queues.values()) providerQueue.grantSendJobs(this.sweep);
    if (config.sweep.enabled) {
      this.sweepSchedule = new RateSchedule(this, 'SweepSchedule', {
        target: this.sweep,
        intervalSeconds: config.sweep.intervalSeconds,
        description: 'callvault sweep: enqueue recent recordings that the archive lacks',
      });
    }

    if (retentionSources.length > 0) {
      this.killSwitch = new RetentionKillSwitch(this, 'RetentionKillSwitch', { stackName: this.stackName });
      const retentionEnvironment = {
        ...environment,
        [ENV.killSwitchParameter]: this.killSwitch.parameterName,
      };
      assertEnvironmentFits(retentionEnvironment, deployTimeValues + 1);
      this.retention = new NodeFunction(this, 'Retention', {
        entry: 'functions/retention.ts',
        description:
          'callvault retention: deletes old recordings at the source once their S3 copy is verified',
        serviceName: 'callvault-retention',
        timeout: RETENTION_TIMEOUT,
        memorySize: 512,
        logRetention,
        environment: retentionEnvironment,
        // One run at a time is the handler's lease (state/leases/retention.json): two overlapping runs
        // would both delete the same due recordings at the source. A reserve of 1 would also do it, but
        // fails the deploy on accounts whose concurrency quota is below 101; it is opt-in.
        reservedConcurrentExecutions: config.aws.reserveConcurrency ? 1 : undefined,
      });
      // A failed run is not retried by Lambda: the handler fails the whole run when one source fails, and a
      // retry would run every healthy source again, spending its maxDeletesPerRun a second and third time.
      // The error alarms; the next scheduled run re-examines the same recordings.
      this.retention.configureAsyncInvoke({ retryAttempts: 0 });
      Validations.of(this.retention).acknowledge(
        {
          id: 'Serverless-LambdaDLQ',
          reason:
            'A scheduled retention run carries no payload worth keeping: a failed run alarms (RetentionErrors), its audit trail records how far it got, and the next run re-examines the same recordings.',
        },
        {
          id: 'Serverless-LambdaAsyncFailureDestination',
          reason:
            'The failed event is an empty Scheduler tick; the RetentionErrors alarm already notifies the alarm topic, and a destination would only duplicate that notification.',
        },
      );
      this.recordings.grantRetention(this.retention);
      this.recordings.grantRunLease(this.retention, 'retention');
      this.secrets.grantRead(this.retention);
      sharedState?.grantReadWrite(this.retention);
      this.killSwitch.grantCheck(this.retention);
      // Due recordings without a verified copy are enqueued for archiving instead of being deleted.
      for (const providerQueue of queues.values()) providerQueue.grantSendJobs(this.retention);
      this.retentionSchedule = new RateSchedule(this, 'RetentionSchedule', {
        target: this.retention,
        intervalSeconds: retentionIntervalSeconds(config, retentionSources),
        description: 'callvault retention: delete verified archived recordings at the source',
      });
    }

    if (sources.some(managesSubscriptions) && sharedState) {
      this.subscriptions = new SubscriptionsFunction(this, 'Subscriptions', {
        environment,
        secrets: this.secrets,
        sharedState,
        recordings: this.recordings,
        followUpSweepQueues: [...queues.values()].filter((q) => !isWebhookOnly({ provider: q.provider })),
        webhookBaseUrl: this.webhookApi.stage.url,
        logRetention,
        executeAfter: [this.webhookApi, this.webhook, this.secrets, sharedState],
        reserveConcurrency: config.aws.reserveConcurrency,
        graphSubscriptions: providers.includes('msteams'),
      });
      // Teams lifecycle notifications (subscription removed, reauthorization required), and authenticated
      // events an adapter could not interpret (a sweep instead), are acted on at once: the webhook invokes
      // the subscriptions function asynchronously rather than waiting for its schedule.
      {
        const subscriptionsFunction = this.subscriptions.handler;
        assertEnvironmentFits(
          { ...environment, [ENV.subscriptionsFunction]: subscriptionsFunction.functionName },
          deployTimeValues + 1,
        );
        this.webhook.addEnvironment(ENV.subscriptionsFunction, subscriptionsFunction.functionName);
        this.webhook.addToRolePolicy(
          new PolicyStatement({
            actions: ['lambda:InvokeFunction'],
            resources: [subscriptionsFunction.functionArn],
          }),
        );
      }
    }

    this.monitoring = new Monitoring(this, 'Monitoring', { alarmEmail: config.aws.alarmEmail });
    for (const providerQueue of queues.values()) this.monitoring.watchQueue(providerQueue);
    this.monitoring.watchFunction('ArchiveWorker', this.worker, { throttles: true });
    if (this.graphWorker) this.monitoring.watchFunction('GraphWorker', this.graphWorker, { throttles: true });
    if (this.teamsWorker) this.monitoring.watchFunction('TeamsWorker', this.teamsWorker, { throttles: true });
    this.monitoring.watchFunction('Webhook', this.webhook);
    this.monitoring.watchWebhookEvents(this.webhook.logGroup);
    this.monitoring.watchSweep(this.sweep);
    if (this.subscriptions) this.monitoring.watchFunction('Subscriptions', this.subscriptions.handler);
    if (this.retention) this.monitoring.watchRetention(this.retention);
    const logGroups = {
      ArchiveWorker: this.worker.logGroup,
      ...(this.teamsWorker ? { TeamsWorker: this.teamsWorker.logGroup } : {}),
      Webhook: this.webhook.logGroup,
      Sweep: this.sweep.logGroup,
      ...(this.retention ? { Retention: this.retention.logGroup } : {}),
      ...(this.subscriptions ? { Subscriptions: this.subscriptions.handler.logGroup } : {}),
    };
    this.monitoring.watchCredentials(logGroups);
    if (providers.includes('ringcentral')) {
      this.monitoring.watchRingCentral({ logGroups, workerLogGroup: this.worker.logGroup });
    }
    if (providers.includes('msgraph')) this.monitoring.watchGraphBot();
    this.monitoring.watchBudgets(sources.filter((source) => rateBudgetOf(source)).map((source) => source.id));
    if (this.subscriptions) this.monitoring.watchSubscriptions();
    if (providers.includes('msteams')) {
      this.monitoring.watchTeams({ logGroups, webhookLogGroup: this.webhook.logGroup });
    }

    this.catalogue = new Catalogue(this, 'Catalogue', {
      bucket: this.recordings.bucket,
      accessLogBucket: this.recordings.accessLogBucket,
      sourceIds: config.sources.map((source) => source.id),
      writers: [this.worker, this.graphWorker, this.teamsWorker, this.retention].filter(
        (fn) => fn !== undefined,
      ),
    });

    const compaction = new CatalogueCompaction(this, 'CatalogueCompaction', {
      bucket: this.recordings.bucket,
      logRetention,
    });
    this.monitoring.watchFunction('CatalogueCompaction', compaction.handler);

    new ArchiveDashboard(this, 'Dashboard', {
      queues,
      sources,
      subscriptionSourceIds: this.subscriptions ? sources.filter(managesSubscriptions).map((s) => s.id) : [],
      retentionSourceIds: this.retention ? retentionSources.map((source) => source.id) : [],
      athenaWorkgroup: this.catalogue.workgroupName,
      budgetSourceIds: sources.filter((source) => rateBudgetOf(source)).map((source) => source.id),
    });

    new CfnOutput(this, 'WebhookBaseUrl', {
      description:
        'Webhook URLs are {this}{provider}/{sourceId}; Telphin adds ?token={webhookSecret from the source secret}; RingCentral, the Graph bot and Teams use the URL as is',
      value: this.webhookApi.webhooksUrl,
    });
    new CfnOutput(this, 'BucketName', { value: this.recordings.bucket.bucketName });
    for (const [provider, providerQueue] of queues) {
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

/** Providers whose jobs a worker function of their own consumes, not the shared archive worker. */
const OWN_WORKER_PROVIDERS: ReadonlySet<ProviderName> = new Set(['msgraph', 'msteams']);

/** Sources whose webhook subscriptions the subscriptions function keeps. */
function managesSubscriptions(source: CallvaultConfig['sources'][number]): boolean {
  return (
    source.provider === 'ringcentral' ||
    source.provider === 'msteams' ||
    (source.provider === 'telphin' && source.manageWebhooks)
  );
}

/** Lambda refuses environments over 4 KB; say so at synth time, naming the cause, instead of at deploy. */
const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;
/** Room for what is not known before deploy (ARNs, URLs, the bucket name) and the few fixed variables. */
const DEPLOY_TIME_VALUE_BYTES = 128;
const FIXED_VARIABLES_BYTES = 128;

function assertEnvironmentFits(environment: Record<string, string>, deployTimeValues: number): void {
  const literal = Object.entries(environment)
    .map(([name, value]) => name.length + (Token.isUnresolved(value) ? 0 : Buffer.byteLength(value)))
    .reduce((sum, bytes) => sum + bytes, 0);
  const estimate = literal + deployTimeValues * DEPLOY_TIME_VALUE_BYTES + FIXED_VARIABLES_BYTES;
  if (estimate > LAMBDA_ENVIRONMENT_LIMIT_BYTES) {
    throw new ConfigError(
      `invalid configuration for deployment:\n  - sources: the configuration shipped to Lambda (about ${estimate} bytes with ${ENV.runtimeConfig}) exceeds Lambda's 4 KB environment limit; split the sources over several stacks`,
    );
  }
}

/**
 * With `lifecycle.retentionClasses`, lifecycle rules select recordings by their `retention-class` tag (see
 * `recordingLifecycleRules`): a source tagging an unlisted class would match no rule, and a class named
 * `standard` would collide with the top-level policy. Both are configuration mistakes; say so at synth.
 */
function assertRetentionClassesGoverned(config: CallvaultConfig): void {
  const classes = config.lifecycle.retentionClasses;
  const listed = Object.keys(classes);
  if (listed.length === 0) return;
  const problems: string[] = [];
  if (DEFAULT_RETENTION_CLASS in classes) {
    problems.push(
      `  - lifecycle.retentionClasses.${DEFAULT_RETENTION_CLASS}: "${DEFAULT_RETENTION_CLASS}" is the default class, governed by lifecycle.transitions and lifecycle.expireAfterDays; set those instead`,
    );
  }
  config.sources.forEach((source, index) => {
    if (source.retentionClass !== DEFAULT_RETENTION_CLASS && !(source.retentionClass in classes)) {
      problems.push(
        `  - sources[${index}].retentionClass: "${source.retentionClass}" is not in lifecycle.retentionClasses (${listed.join(', ')}) nor "${DEFAULT_RETENTION_CLASS}"; its recordings would never transition or expire`,
      );
    }
  });
  const lock = config.lifecycle.objectLock;
  const lockDays = lock ? (lock.days ?? (lock.years ?? 0) * 365) : 0;
  for (const [name, policy] of Object.entries(classes)) {
    if (policy.expireAfterDays !== undefined && policy.expireAfterDays < lockDays) {
      problems.push(
        `  - lifecycle.retentionClasses.${name}.expireAfterDays: expires recordings after ${policy.expireAfterDays} days, before the Object Lock retention of ${lockDays} days ends`,
      );
    }
  }
  if (problems.length > 0)
    throw new ConfigError(`invalid configuration for deployment:\n${problems.join('\n')}`);
}

/**
 * CloudFormation replaces an `AWS::S3::Bucket` whose `ObjectLockEnabled` changes (aws-cdk issue 29168,
 * cloudformation-coverage-roadmap issue 1929): a stack deployed without Object Lock that turns it on in
 * the template gets a new, empty bucket (generated name) or a failed update (fixed name), and the
 * recordings stay behind in the old one. Synth cannot see what was deployed, so the config must say how
 * the bucket got its lock.
 */
function assertObjectLockDeclared(config: CallvaultConfig): void {
  const { objectLock, objectLockBucket } = config.lifecycle;
  if (objectLock && objectLockBucket === undefined) {
    throw new ConfigError(
      'invalid configuration for deployment:\n  - lifecycle.objectLockBucket: say how the bucket gets Object Lock. "new": this deploy creates the bucket with it (a first deploy only). "existing": the stack is already deployed without it, and you have enabled it on its bucket with `aws s3api put-object-lock-configuration --bucket {BucketName} --object-lock-configuration ObjectLockEnabled=Enabled`. Turning it on through the template would make CloudFormation replace the bucket (README "Storage lifecycle")',
    );
  }
  if (!objectLock && objectLockBucket !== undefined) {
    throw new ConfigError(
      'invalid configuration for deployment:\n  - lifecycle.objectLockBucket: only meaningful with lifecycle.objectLock. A bucket that has Object Lock keeps it: removing objectLock from the config would make CloudFormation replace a bucket created with it',
    );
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

function mapValues<K extends string, V>(
  map: ReadonlyMap<K, V>,
  f: (value: V) => string,
): Record<string, string> {
  return Object.fromEntries([...map].map(([key, value]) => [key, f(value)]));
}

function capitalise(value: string): string {
  return value.charAt(0).toUpperCase() + value.slice(1);
}

function alphanumeric(value: string): string {
  return capitalise(value.replace(/[^A-Za-z0-9]/g, ''));
}

/** CloudWatch accepts only certain retention periods; the config's days are rounded up to the next one. */
export function logRetentionDays(days: number): RetentionDays {
  const allowed = Object.values(RetentionDays)
    .filter((value): value is RetentionDays => typeof value === 'number' && value !== RetentionDays.INFINITE)
    .sort((a, b) => a - b);
  const retention = allowed.find((value) => value >= days);
  if (retention === undefined) {
    throw new ConfigError(
      `invalid configuration for deployment:\n  - aws.logRetentionDays: CloudWatch Logs keeps logs for at most ${RetentionDays.TEN_YEARS} days`,
    );
  }
  return retention;
}

/** One sweep per interval: the timeout follows the interval, within Lambda's 1..15 minutes. */
function sweepTimeout(intervalSeconds: number): Duration {
  return Duration.seconds(Math.min(900, Math.max(60, intervalSeconds)));
}
