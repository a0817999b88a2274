/**
 * The `events` block of the configuration (README "Events for downstream consumers"): off by default.
 * `functions/config/schema.ts` holds it as one field; the schema and what derives from it live here.
 */
import { join } from 'node:path';
import * as z from 'zod';
import { DEFAULT_EVENT_RETRY_POLICY, type EventRetryPolicy } from '../core/outcome-events';

/** An EventBridge bus name (not `default`, which has its own spelling) or a bus ARN. */
const busNameSchema = z
  .string()
  .regex(
    /^(arn:aws[\w-]*:events:[a-z0-9-]+:\d{12}:event-bus\/)?[A-Za-z0-9._-]{1,256}$/,
    'an EventBridge bus name or ARN',
  );

const httpTargetSchema = z
  .object({
    /** Each event is POSTed here as JSON (the envelope of the local file's lines). */
    url: z
      .url()
      .refine((text) => ['http:', 'https:'].includes(new URL(text).protocol), 'use an http(s) URL')
      .refine((text) => {
        const url = new URL(text);
        return url.username === '' && url.password === '';
      }, 'no credentials in the URL: put the Authorization value in the environment variable named by authorizationEnv'),
    /**
     * Name of an environment variable whose value is sent as the `Authorization` header, so the secret
     * never sits in the config file (and never reaches a CloudFormation template).
     */
    authorizationEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .optional(),
    timeoutSeconds: z.number().min(0.1).max(60).default(5),
  })
  .strict();

export const outcomeEventsConfigSchema = z
  .object({
    enabled: z.boolean().default(false),
    /**
     * AWS: `"stack"` (a bus the stack creates, `callvault-{stackName}`), `"default"` (the account's
     * default bus), or the name or ARN of an existing bus.
     */
    eventBus: z.union([z.literal('stack'), z.literal('default'), busNameSchema]).default('stack'),
    /** Local mode: the newline-delimited file; default `{stateDir}/events/outcome-events.ndjson`. */
    file: z.string().min(1).optional(),
    /** Local mode, optional: POST each event to this URL too. */
    http: httpTargetSchema.optional(),
    /** Attempts per event and destination before it is recorded as undelivered, and the backoff. */
    retry: z
      .object({
        attempts: z.number().int().min(1).max(10).default(DEFAULT_EVENT_RETRY_POLICY.attempts),
        baseDelayMs: z.number().int().min(0).max(10_000).default(DEFAULT_EVENT_RETRY_POLICY.baseDelayMs),
        maxDelayMs: z.number().int().min(0).max(60_000).default(DEFAULT_EVENT_RETRY_POLICY.maxDelayMs),
      })
      .strict()
      .default(DEFAULT_EVENT_RETRY_POLICY),
  })
  .strict()
  .default({ enabled: false, eventBus: 'stack', retry: DEFAULT_EVENT_RETRY_POLICY });

export type OutcomeEventsConfig = z.infer<typeof outcomeEventsConfigSchema>;

export function eventRetryPolicy(config: OutcomeEventsConfig): EventRetryPolicy {
  return config.retry;
}

/** The bus the stack creates when `eventBus` is `"stack"`: known at synth, so no variable carries it. */
export function stackEventBusName(stackName: string): string {
  return `callvault-${stackName}`;
}

/** The bus name or ARN the functions publish to (`PutEvents` `EventBusName`). */
export function eventBusOf(config: OutcomeEventsConfig, stackName: string): string {
  if (config.eventBus === 'stack') return stackEventBusName(stackName);
  return config.eventBus;
}

/** Where undelivered events wait for a redrive, beside the recordings on AWS. */
export const UNDELIVERED_EVENTS_PREFIX = 'events/undelivered/';

/** Local mode: the event file. */
export function localEventFile(config: OutcomeEventsConfig, stateDir: string): string {
  return config.file ?? join(stateDir, 'events', 'outcome-events.ndjson');
}

/** Local mode: the folder of undelivered events. */
export function localUndeliveredDir(stateDir: string): string {
  return join(stateDir, 'events', 'undelivered');
}

/** The HTTP target's Authorization value, read from the variable the config names (local mode only). */
export function httpAuthorization(
  config: OutcomeEventsConfig,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const name = config.http?.authorizationEnv;
  return name ? env[name] || undefined : undefined;
}

/** Published by the functions (EMF, namespace `Callvault`, `service` dimension): events recorded as undelivered. */
export const OUTCOME_EVENTS_UNDELIVERED_METRIC = 'OutcomeEventsUndelivered';
