/**
 * Switchable faults for the Telphin sandbox, modelled on what the real platform does: hourly quota and
 * concurrent-stats 429s, 5xx bursts, 404s for records it still lists, bodies that reset, end short,
 * stall or trickle, and error pages served with status 200. A fault targets routes (and optionally one recording) for its next N hits.
 */
export type SandboxRoute =
  | 'token'
  | 'user'
  | 'list'
  | 'stats'
  | 'storage-url'
  | 'storage'
  | 'file'
  | 'delete'
  | 'range-delete'
  | 'event';

export type SandboxFault =
  /** 429 `rate_limit_exceeded` with X-RateLimit-Limit/-Remaining/-Reset (seconds until the hour turns). */
  | { kind: 'hourly-quota'; resetSeconds?: number; limit?: number }
  /** 429 "Stats request already exists, concurrent request not allowed". */
  | { kind: 'concurrent-stats' }
  /** A 5xx answer (default 503). */
  | { kind: 'server-error'; status?: number }
  /** 404 `Record not found` for a record the lists still show (its file not written yet). */
  | { kind: 'not-found' }
  /** Status 200, `text/html`, an error page instead of audio. */
  | { kind: 'html-page' }
  /** Sends `afterBytes` (default half) of the body, then resets the TCP connection. */
  | { kind: 'reset-mid-body'; afterBytes?: number }
  /** Announces the full Content-Length, sends `afterBytes` (default half), then closes cleanly. */
  | { kind: 'short-body'; afterBytes?: number }
  /** Sends `afterBytes` (default half), then nothing, keeping the connection open. */
  | { kind: 'stall'; afterBytes?: number }
  /** Throttles the whole body to `bytesPerSecond`. */
  | { kind: 'slow-body'; bytesPerSecond: number };

export interface FaultTarget {
  /** Routes the fault applies to; defaults depend on the kind (see DEFAULT_ROUTES). */
  routes?: SandboxRoute | readonly SandboxRoute[];
  /** Only requests about this record_uuid (file, storage, storage-url, delete). */
  recordUuid?: string;
  /** How many matching requests it affects; default 1, `Infinity` until cleared. */
  times?: number;
}

export interface FaultHandle {
  /** Matching requests still to be affected. */
  readonly remaining: number;
  /** How many requests it has affected so far. */
  readonly hits: number;
  cancel(): void;
}

const API_ROUTES: readonly SandboxRoute[] = [
  'user',
  'list',
  'stats',
  'storage-url',
  'file',
  'delete',
  'range-delete',
];
const BODY_ROUTES: readonly SandboxRoute[] = ['storage', 'file'];

export const DEFAULT_ROUTES: Record<SandboxFault['kind'], readonly SandboxRoute[]> = {
  'hourly-quota': API_ROUTES,
  'concurrent-stats': ['list', 'stats'],
  'server-error': [...API_ROUTES, 'storage'],
  'not-found': ['storage-url', 'storage', 'file'],
  'html-page': BODY_ROUTES,
  'reset-mid-body': BODY_ROUTES,
  'short-body': BODY_ROUTES,
  stall: BODY_ROUTES,
  'slow-body': BODY_ROUTES,
};

interface ArmedFault<Fault, Route> {
  fault: Fault;
  routes: ReadonlySet<Route>;
  subject?: string;
  remaining: number;
  hits: number;
}

/**
 * Faults armed on a sandbox, matched by route and optionally by the recording a request is about, each
 * consumed by the requests it affects. Every sandbox keeps one, with its own fault kinds and routes.
 */
export class ArmedFaults<Fault extends { kind: string }, Route extends string> {
  private armed: ArmedFault<Fault, Route>[] = [];

  constructor(private readonly defaultRoutes: Readonly<Record<Fault['kind'], readonly Route[]>>) {}

  inject(
    fault: Fault,
    target: { routes?: Route | readonly Route[]; subject?: string; times?: number },
  ): FaultHandle {
    const routes =
      target.routes === undefined
        ? this.defaultRoutes[fault.kind as Fault['kind']]
        : ([target.routes].flat() as Route[]);
    const entry: ArmedFault<Fault, Route> = {
      fault,
      routes: new Set(routes),
      subject: target.subject,
      remaining: target.times ?? 1,
      hits: 0,
    };
    this.armed.push(entry);
    return {
      get remaining() {
        return entry.remaining;
      },
      get hits() {
        return entry.hits;
      },
      cancel: () => {
        this.armed = this.armed.filter((candidate) => candidate !== entry);
      },
    };
  }

  /** The first armed fault matching this request, consumed by one; undefined when none applies. */
  take(route: Route, subject?: string): Fault | undefined {
    const entry = this.armed.find(
      (candidate) =>
        candidate.remaining > 0 &&
        candidate.routes.has(route) &&
        (candidate.subject === undefined || candidate.subject === subject),
    );
    if (!entry) return undefined;
    entry.remaining -= 1;
    entry.hits += 1;
    if (entry.remaining <= 0) this.armed = this.armed.filter((candidate) => candidate !== entry);
    return entry.fault;
  }

  clear(): void {
    this.armed = [];
  }
}

/** The Telphin sandbox's faults; a target's `recordUuid` names the recording. */
export class FaultRegistry {
  private readonly faults = new ArmedFaults<SandboxFault, SandboxRoute>(DEFAULT_ROUTES);

  inject(fault: SandboxFault, target: FaultTarget = {}): FaultHandle {
    return this.faults.inject(fault, {
      routes: target.routes,
      subject: target.recordUuid,
      times: target.times,
    });
  }

  take(route: SandboxRoute, recordUuid?: string): SandboxFault | undefined {
    return this.faults.take(route, recordUuid);
  }

  clear(): void {
    this.faults.clear();
  }
}
