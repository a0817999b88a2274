/**
 * Switchable faults for the RingCentral sandbox, modelled on what the platform does: 429 with
 * Retry-After in a rate group, 5xx, 401 for a token it no longer honours, and content bodies that
 * reset, end short, stall, trickle, or arrive as an error page with status 200. A fault targets routes
 * (and optionally one recording) for its next N hits.
 */
import { ArmedFaults } from './sandbox-faults';

export type RingCentralRoute = 'token' | 'call-log' | 'content' | 'delete' | 'directory' | 'subscription';

export type RingCentralFault =
  /** 429 with `Retry-After` (seconds) and the group's X-Rate-Limit-* headers. */
  | { kind: 'rate-limit'; retryAfterSeconds: number }
  /** A 5xx answer (default 503). */
  | { kind: 'server-error'; status?: number }
  /** 401 as for a session RingCentral ended (password change, session limit). */
  | { kind: 'unauthorized' }
  /**
   * 404 CMN-102 for content the call log still lists, whatever the recording's age: the answer RingCentral
   * gives while content is not downloadable yet (see `recordingReadyDelayMs`), for one recording on demand.
   */
  | { kind: 'not-found' }
  /** Status 200, `text/html`, an error page instead of audio. */
  | { kind: 'html-page' }
  /** Sends `afterBytes` (default half) of the body, then resets the connection. */
  | { kind: 'reset-mid-body'; afterBytes?: number }
  /** Announces the full Content-Length, sends `afterBytes` (default half), then closes cleanly. */
  | { kind: 'short-body'; afterBytes?: number }
  /** Sends `afterBytes` (default half), then nothing, keeping the connection open. */
  | { kind: 'stall'; afterBytes?: number }
  /** Throttles the whole body to `bytesPerSecond`. */
  | { kind: 'slow-body'; bytesPerSecond: number };

export interface RingCentralFaultTarget {
  routes?: RingCentralRoute | readonly RingCentralRoute[];
  /** Only requests about this recording id (content, delete). */
  recordingId?: string;
  /** How many matching requests it affects; default 1, `Infinity` until cleared. */
  times?: number;
}

export interface RingCentralFaultHandle {
  readonly remaining: number;
  readonly hits: number;
  cancel(): void;
}

const API_ROUTES: readonly RingCentralRoute[] = [
  'call-log',
  'content',
  'delete',
  'directory',
  'subscription',
];
const BODY_ROUTES: readonly RingCentralRoute[] = ['content'];

const DEFAULT_ROUTES: Record<RingCentralFault['kind'], readonly RingCentralRoute[]> = {
  'rate-limit': ['call-log', 'content', 'delete'],
  'server-error': API_ROUTES,
  unauthorized: API_ROUTES,
  'not-found': BODY_ROUTES,
  'html-page': BODY_ROUTES,
  'reset-mid-body': BODY_ROUTES,
  'short-body': BODY_ROUTES,
  stall: BODY_ROUTES,
  'slow-body': BODY_ROUTES,
};

/** The RingCentral sandbox's faults; a target's `recordingId` names the recording. */
export class RingCentralFaultRegistry {
  private readonly faults = new ArmedFaults<RingCentralFault, RingCentralRoute>(DEFAULT_ROUTES);

  inject(fault: RingCentralFault, target: RingCentralFaultTarget = {}): RingCentralFaultHandle {
    return this.faults.inject(fault, {
      routes: target.routes,
      subject: target.recordingId,
      times: target.times,
    });
  }

  take(route: RingCentralRoute, recordingId?: string): RingCentralFault | undefined {
    return this.faults.take(route, recordingId);
  }

  clear(): void {
    this.faults.clear();
  }
}
