/**
 * Redelivers outcome events recorded as undelivered (README "Events for downstream consumers"): each to
 * the destination that missed it, in batches, removing its record once delivered. Locally from
 * `{stateDir}/events/undelivered/`; with `aws`, from `events/undelivered/` in the deployed bucket to the
 * configured bus, with the operator's credentials. `npm run events-redrive` is its command line.
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { awsOutcomeEvents, localOutcomeEvents, type OutcomeEvents } from './composition/outcome-events';
import { type CallvaultConfig, ConfigError } from './config';
import { type RedriveReport, redriveUndeliveredEvents } from './core/outcome-events';
import { type Clock, type Log, systemClock } from './core/ports';

export interface EventsRedriveOptions {
  log: Log;
  clock?: Clock;
  dryRun?: boolean;
  /** AWS: the deployed bucket (stack output `BucketName`), and clients (tests point them at moto). */
  aws?: { bucket: string; s3?: S3Client; eventBridge?: EventBridgeClient };
  fetch?: typeof fetch;
}

export async function redriveOutcomeEvents(
  config: CallvaultConfig,
  options: EventsRedriveOptions,
): Promise<RedriveReport> {
  const clock = options.clock ?? systemClock;
  let events: OutcomeEvents | undefined;
  if (options.aws) {
    events = awsOutcomeEvents(config, {
      bucket: options.aws.bucket,
      s3: options.aws.s3 ?? new S3Client({ region: config.aws.region }),
      eventBridge:
        options.aws.eventBridge ?? new EventBridgeClient({ region: config.aws.region, maxAttempts: 3 }),
      clock,
      log: options.log,
    });
  } else {
    events = localOutcomeEvents(config, { clock, log: options.log, fetch: options.fetch });
  }
  if (!events)
    throw new ConfigError('events are off in this configuration (set "events": { "enabled": true })');
  return redriveUndeliveredEvents({ ...events, countUndelivered: undefined, dryRun: options.dryRun });
}
