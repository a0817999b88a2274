/**
 * RingCentral transport (Bearer token, one retry after a 401). Heavy requests (call log, content, delete)
 * take slots `window / limit` apart from a schedule every worker shares (`RateGateStore`, DynamoDB across
 * Lambda containers); a 429 closes it for Retry-After; X-Rate-Limit-Limit/-Window replace the configured
 * figures. Pacing is per `X-Rate-Limit-Group`: the reference puts these calls in Heavy, but the media host
 * may name another group, so each host follows the group its answers last named (Heavy until then).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { abortableSleep } from '../../core/abortable-sleep';
import { RateLimitedError } from '../../core/errors';
import type { Clock, Log } from '../../core/ports';
import type { RateGateStore } from '../../core/shared-state';
import { retryAfterSeconds } from '../http';
import {
  AuthorisedClient,
  type AuthorisedClientOptions,
  type AuthorisedRequest,
} from '../shared/authorised-client';
import { pacedIntervalMs } from './descriptor';

export interface HeavyGateOptions {
  key: string;
  /** Configured budget (`rateLimits.heavyPerMinute`). */
  perMinute: number;
  store: RateGateStore;
  clock: Clock;
  log: Log;
  /** Longest wait for a slot; beyond it RateLimitedError hands the job back instead of holding a worker. */
  maxWaitMs: number;
}

/** The group RingCentral's reference assigns to call log, content and delete. */
const HEAVY_GROUP = 'heavy';

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const raw = headers[name];
  return (Array.isArray(raw) ? raw[0] : raw)?.trim() || undefined;
}

function headerNumber(headers: IncomingHttpHeaders, name: string): number | undefined {
  const value = header(headers, name);
  return value && /^\d+$/.test(value) ? Number(value) : undefined;
}

export class HeavyGate {
  /** Per host (`kind` of request), the group its answers last named; learnt afresh by each process. */
  private readonly groupOfKind = new Map<string | undefined, string>();

  constructor(private readonly options: HeavyGateOptions) {}

  /** The store key of a group's schedule: the Heavy group keeps the source's key, others get their own. */
  private keyOf(group: string | undefined): string {
    return !group || group === HEAVY_GROUP ? this.options.key : `${this.options.key}#${group}`;
  }

  /** Waits for a slot, then re-checks: another worker's 429 meanwhile closes the gate (take a new slot). */
  async waitForSlot(signal?: AbortSignal, kind?: string): Promise<void> {
    const { store, clock } = this.options;
    const key = this.keyOf(this.groupOfKind.get(kind));
    for (;;) {
      const nowMs = clock.now().getTime();
      const reservation = await store.reserve(key, {
        nowMs,
        intervalMs: pacedIntervalMs(this.options.perMinute),
        maxWaitMs: this.options.maxWaitMs,
      });
      if (!reservation.granted) {
        const seconds = Math.max(1, Math.ceil((reservation.atMs - nowMs) / 1000));
        throw new RateLimitedError(
          `RingCentral rate group of source ${key} has no free slot for ${seconds} s`,
          seconds,
        );
      }
      await abortableSleep(reservation.atMs - nowMs, signal, 'waiting for a RingCentral Heavy slot');
      if ((await store.closedUntil(key)) <= clock.now().getTime()) return;
    }
  }

  /**
   * Adopts the answer's limit and window as the pacing; a 429 closes the gate for Retry-After (else the
   * window) and returns that wait. Remaining 0 is ignored: even pacing reaches it at every window's end.
   */
  async observe(
    answer: { status: number; headers: IncomingHttpHeaders },
    kind?: string,
  ): Promise<number | undefined> {
    const { store, clock, log } = this.options;
    const { headers } = answer;
    const reported = header(headers, 'x-rate-limit-group')?.toLowerCase();
    if (kind !== undefined && reported) this.groupOfKind.set(kind, reported);
    const key = this.keyOf(reported ?? this.groupOfKind.get(kind));
    const limit = headerNumber(headers, 'x-rate-limit-limit');
    const windowSeconds = headerNumber(headers, 'x-rate-limit-window');
    if (limit && windowSeconds) await store.learnInterval(key, pacedIntervalMs(limit, windowSeconds * 1000));
    if (answer.status !== 429) return undefined;
    const seconds = retryAfterSeconds(headers, clock.now()) ?? windowSeconds ?? 60;
    await store.close(key, clock.now().getTime() + seconds * 1000);
    log.warn('ringcentral heavy group throttled; gate closed', {
      source: this.options.key,
      group: reported ?? HEAVY_GROUP,
      retryAfterSeconds: seconds,
      event: 'RINGCENTRAL_HEAVY_429',
    });
    return seconds;
  }
}

/** Heavy: call log, recording content, recording delete. Other: the directory (Medium) and the like. */
export type RateGroup = 'heavy' | 'other';

export interface RingCentralRequest extends AuthorisedRequest {
  group: RateGroup;
}

type ClientOptions = AuthorisedClientOptions<RingCentralRequest>;

/** The authorised client (send, json, open) with RingCentral's rate hooks. */
export class RingCentralApi extends AuthorisedClient<RingCentralRequest> {
  /** API calls go to the configured server host only (paging links included). */
  readonly apiHosts: readonly string[];
  private readonly serverUrl: string;

  constructor(
    options: Pick<ClientOptions, 'token' | 'log' | 'idleTimeoutMs' | 'connectTimeoutMs'> & {
      serverUrl: string;
      gate: HeavyGate;
      sourceId: string;
    },
  ) {
    const { gate, sourceId } = options;
    super({
      ...options,
      retryMessage: 'ringcentral answered 401; logging in again once',
      // Requests to one host count against one rate group (the media host may report its own).
      beforeSend: async (request) => {
        if (request.group === 'heavy') await gate.waitForSlot(request.signal, new URL(request.url).host);
      },
      throttle: async (answer, request) => {
        const heavy = request.group === 'heavy';
        const wait = heavy
          ? await gate.observe(answer, new URL(request.url).host)
          : answer.status === 429
            ? (retryAfterSeconds(answer.headers) ?? 60)
            : undefined;
        if (wait === undefined) return false;
        answer.body.destroy();
        const group = heavy ? ' (Heavy group)' : '';
        throw new RateLimitedError(`RingCentral throttled source ${sourceId}${group}`, wait);
      },
    });
    this.serverUrl = options.serverUrl;
    this.apiHosts = [new URL(options.serverUrl).host];
  }

  /** `{serverUrl}/restapi/v1.0{path}` with a query. */
  url(path: string, query?: Record<string, string | undefined>): string {
    const url = new URL(`/restapi/v1.0${path}`, this.serverUrl);
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, value);
    }
    return url.href;
  }
}
