/** Shared set-up for the Microsoft Graph adapter tests: a Graph sandbox on loopback and a source pointed at it. */
import type { Clock, WebhookRequest } from '../../../../functions/core/ports';
import {
  type GraphCallingBotSourceConfig,
  msgraphSourceSchema,
} from '../../../../functions/providers/graph-calling-bot/graph-calling-bot-config';
import {
  GraphCallingBotSource,
  type GraphCallingBotTuning,
} from '../../../../functions/providers/graph-calling-bot/graph-calling-bot-source';
import {
  type GraphSandbox,
  type GraphSandboxOptions,
  graphBotSourceFields,
  startGraphSandbox,
} from '../../../../sandbox/providers/graph-calling-bot-sandbox';
import { type LogLine, recordingLog } from '../../../support/recording-log';

export const SOURCE_ID = 'teams-bot';
/** One minute before a month (and year-day) boundary, so dates in keys are checked where they can go wrong. */
export const PINNED = new Date('2026-03-31T23:59:00.000Z');

export { type LogLine, recordingLog };

/** A clock tests move by hand. */
export function manualClock(start: Date = PINNED): Clock & { advance(ms: number): void } {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    advance: (ms) => {
      now += ms;
    },
  };
}

export interface GraphHarness {
  sandbox: GraphSandbox;
  source: GraphCallingBotSource;
  config: GraphCallingBotSourceConfig;
  clock: ReturnType<typeof manualClock>;
  log: ReturnType<typeof recordingLog>;
}

export async function startGraphHarness(
  options: {
    sandbox?: GraphSandboxOptions;
    config?: Record<string, unknown>;
    /** Config fields that need the sandbox's addresses; applied after `config`. */
    configFromSandbox?: (sandbox: GraphSandbox) => Record<string, unknown>;
    tuning?: Partial<GraphCallingBotTuning>;
    clock?: ReturnType<typeof manualClock>;
  } = {},
): Promise<GraphHarness> {
  const clock = options.clock ?? manualClock();
  const sandbox = await startGraphSandbox({ clock, ...options.sandbox });
  const config = msgraphSourceSchema.parse({
    ...graphBotSourceFields(sandbox, SOURCE_ID),
    ...options.config,
    ...options.configFromSandbox?.(sandbox),
  });
  const log = recordingLog();
  const source = new GraphCallingBotSource({ config, clock, log, tuning: options.tuning });
  return { sandbox, source, config, clock, log };
}

export function notificationRequest(body: string, token?: string): WebhookRequest {
  const headers: Record<string, string | undefined> = { 'content-type': 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return { method: 'POST', query: {}, headers, body };
}
