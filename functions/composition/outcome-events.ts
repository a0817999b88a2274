/**
 * Outcome events wired for each host: which publishers, which undelivered store, how the undelivered are
 * counted. The catalogue writer given to the worker and retention is wrapped here, so every outcome that
 * gets a catalogue record also gets an event (README "Events for downstream consumers").
 */

import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  EventBridgePublisher,
  HttpPublisher,
  NdjsonFilePublisher,
} from '../adapters/outcome-event-publishers';
import { FsUndeliveredEvents, S3UndeliveredEvents } from '../adapters/undelivered-events';
import type { CallvaultConfig } from '../config';
import {
  eventBusOf,
  httpAuthorization,
  localEventFile,
  localUndeliveredDir,
  OUTCOME_EVENTS_UNDELIVERED_METRIC,
  UNDELIVERED_EVENTS_PREFIX,
} from '../config/outcome-events';
import type { CatalogueWriter } from '../core/catalogue';
import {
  type EventPublisher,
  type OutcomeEventDependencies,
  PublishingCatalogue,
} from '../core/outcome-events';
import type { Clock, Log } from '../core/ports';
import { METRICS_NAMESPACE } from '../observability/names';

export type OutcomeEvents = OutcomeEventDependencies & { bucket?: string };

/** Local mode: the NDJSON file, the optional HTTP POST, undelivered events under `{stateDir}/events/`. */
export function localOutcomeEvents(
  config: CallvaultConfig,
  options: { clock: Clock; log: Log; env?: NodeJS.ProcessEnv; fetch?: typeof fetch },
): OutcomeEvents | undefined {
  const events = config.events;
  if (!events.enabled) return undefined;
  const publishers: EventPublisher[] = [
    new NdjsonFilePublisher({ path: localEventFile(events, config.local.stateDir) }),
  ];
  if (events.http) {
    publishers.push(
      new HttpPublisher({
        url: events.http.url,
        timeoutMs: events.http.timeoutSeconds * 1000,
        authorization: httpAuthorization(events, options.env),
        fetch: options.fetch,
      }),
    );
  }
  return {
    publishers,
    undelivered: new FsUndeliveredEvents({ dir: localUndeliveredDir(config.local.stateDir) }),
    clock: options.clock,
    log: options.log,
    retry: events.retry,
    bucket: config.storage.s3?.bucket,
  };
}

/** AWS: EventBridge, undelivered events under `events/undelivered/` in the bucket, an EMF count for the alarm. */
export function awsOutcomeEvents(
  config: CallvaultConfig,
  options: {
    bucket: string;
    s3: S3Client;
    eventBridge?: EventBridgeClient;
    clock: Clock;
    log: Log;
    metrics?: Metrics;
  },
): OutcomeEvents | undefined {
  const events = config.events;
  if (!events.enabled) return undefined;
  // One attempt per SDK call: the use case retries with its own bounded backoff, so the SDK's own
  // retries would only multiply the time a job waits on an event.
  const client =
    options.eventBridge ??
    new EventBridgeClient({
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 2_000, requestTimeout: 5_000 },
    });
  const metrics = options.metrics ?? new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'callvault' });
  return {
    publishers: [
      new EventBridgePublisher({ client, eventBusName: eventBusOf(events, config.aws.stackName) }),
    ],
    undelivered: new S3UndeliveredEvents({
      client: options.s3,
      bucket: options.bucket,
      prefix: UNDELIVERED_EVENTS_PREFIX,
    }),
    clock: options.clock,
    log: options.log,
    retry: events.retry,
    bucket: options.bucket,
    countUndelivered: (_publisher, count) => {
      // Flushed at once: the handler's own metrics may be flushed before or after this job.
      metrics.singleMetric().addMetric(OUTCOME_EVENTS_UNDELIVERED_METRIC, MetricUnit.Count, count);
    },
  };
}

/** The catalogue writer the pipeline uses: the catalogue itself, publishing each outcome when events are on. */
export function withOutcomeEvents(
  catalogue: CatalogueWriter,
  events: OutcomeEvents | undefined,
): CatalogueWriter {
  return events ? new PublishingCatalogue(catalogue, events) : catalogue;
}
