/**
 * Issue 16 item 6, the budget forecast (functions/core/budget-forecast.ts) against what the rate gate
 * (functions/providers/ringcentral/ringcentral-api.ts) actually lets through, in simulated time.
 *
 * Per scenario, recordings arrive evenly at a daily rate around RingCentral's default Heavy budget
 * (10 a minute, 14,400 a day), the call log holding a lookback's worth of them (archived) at the start.
 * For two simulated days before "now", and two after it, every Heavy request
 * goes through the real HeavyGate (its InProcessRateGateStore schedule, pacing margin and the rate headers
 * RingCentral sends with each answer), on a simulated clock:
 * - each archived recording spends the descriptor's requestsPerRecording (its content download and its
 *   webhook hint's call-log lookup);
 * - in the `with listing` model the sweep also lists the call log every `sweep.intervalSeconds` over
 *   `sweep.lookbackHours` (config defaults), one Heavy request per page of 1,000 records (RingCentral's
 *   maximum page, the adapter's default), as RingCentral's reference puts the call log in the Heavy group;
 * - the worker takes every slot the gate grants while anything waits (a busy queue), pages first.
 * At "now" the forecast is asked what `npm run status` asks it (the arrivals of the last 24 h, the
 * recordings not archived, the descriptor's budget), and the simulation goes on for 48 h to see whether
 * the backlog grows, clears (and when) or stays empty.
 */

import { rateBudgetOf } from '../functions/composition/rate-budgets';
import { parseConfig } from '../functions/config';
import { type BudgetForecast, describeForecast, forecastBudget } from '../functions/core/budget-forecast';
import { RateLimitedError } from '../functions/core/errors';
import { silentLog } from '../functions/core/ports';
import {
  type GateReservation,
  InProcessRateGateStore,
  type RateGateStore,
} from '../functions/core/shared-state';
import { type SweepCadence, scheduledLookbackHours } from '../functions/core/sweep-cadence';
import { HeavyGate } from '../functions/providers/ringcentral/ringcentral-api';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** RingCentral's largest call-log page (perPage), which the adapter asks for. */
const CALL_LOG_PAGE = 1000;
/** The recent window of the third model: sweeps list 6 hours, one a day lists the whole lookback. */
export const RECENT_LOOKBACK_HOURS = 6;

export type ForecastModel = 'downloads only' | 'with listing' | 'with recent sweeps';

export interface ForecastScenario {
  name: string;
  arrivalsPerDay: number;
  /** Recordings already waiting two days before "now" (an outage, a paused source). */
  initialBacklog: number;
}

export interface ForecastBenchOptions {
  scenarios: readonly ForecastScenario[];
}

export interface SimulatedOutcome {
  /** Heavy requests the gate granted over the 24 h before now: downloads, call-log pages. */
  downloadsLast24h: number;
  listingPagesLast24h: number;
  backlogAtNow: number;
  backlogAfter24h: number;
  backlogAfter48h: number;
  /**
   * Hours after now at which nothing waited any more (beyond 48 h: extrapolated from the shrinking seen
   * over the 48 h); null when the backlog did not shrink.
   */
  clearedAfterHours: number | null;
  direction: 'keeps-up' | 'clears' | 'grows';
}

export interface ForecastScenarioResult {
  scenario: ForecastScenario;
  model: ForecastModel;
  forecast: BudgetForecast;
  forecastLine: string;
  simulated: SimulatedOutcome;
  /** The forecast's verdict and, for `clears`, its hours within 10 % (or 1 h) of the simulation. */
  agrees: boolean;
}

export interface ForecastBenchSummary {
  heavyPerMinute: number;
  /** Heavy requests each recording spends in the simulation and the forecast alike. */
  requestsPerRecording: number;
  gateRequestsPerDay: number;
  intervalSeconds: number;
  lookbackHours: number;
  results: ForecastScenarioResult[];
}

/** The real in-process schedule; remembers the slot a refused reservation named, so time can jump to it. */
class ObservedGateStore implements RateGateStore {
  private readonly inner = new InProcessRateGateStore();
  nextSlotAtMs = 0;
  async reserve(key: string, request: { nowMs: number; intervalMs: number; maxWaitMs: number }) {
    const reservation: GateReservation = await this.inner.reserve(key, request);
    if (!reservation.granted) this.nextSlotAtMs = reservation.atMs;
    return reservation;
  }
  close(key: string, untilMs: number) {
    return this.inner.close(key, untilMs);
  }
  closedUntil(key: string) {
    return this.inner.closedUntil(key);
  }
  learnInterval(key: string, intervalMs: number) {
    return this.inner.learnInterval(key, intervalMs);
  }
}

export async function measureForecast(
  options: ForecastBenchOptions,
  log: (line: string) => void,
): Promise<ForecastBenchSummary> {
  const configFor = (sweep: Record<string, number>) =>
    parseConfig({
      sweep,
      sources: [
        {
          provider: 'ringcentral',
          id: 'bench-rc',
          clientId: 'bench',
          clientSecret: 'bench',
          jwt: 'bench',
          webhookSecret: 'bench-ringcentral-verification-token',
        },
      ],
    });
  const config = configFor({});
  const recentConfig = configFor({ recentLookbackHours: RECENT_LOOKBACK_HOURS });
  const source = config.sources[0];
  if (source?.provider !== 'ringcentral') throw new Error('forecast bench: expected one RingCentral source');
  const budget = rateBudgetOf(config, source);
  const recentBudget = rateBudgetOf(recentConfig, source);
  if (!budget || !recentBudget)
    throw new Error('forecast bench: the RingCentral descriptor names no rate budget');
  const { intervalSeconds, lookbackHours } = config.sweep;
  const results: ForecastScenarioResult[] = [];
  let gateRequestsPerDay = 0;
  for (const scenario of options.scenarios) {
    for (const model of ['downloads only', 'with listing', 'with recent sweeps'] as const) {
      const run = await simulate(scenario, {
        // The plan's figure: the gate itself spaces its slots (the budget's requestsPerMinute is that pace).
        heavyPerMinute: source.rateLimits.heavyPerMinute,
        requestsPerRecording: budget.requestsPerRecording,
        sweep:
          model === 'downloads only' ? undefined : (model === 'with listing' ? config : recentConfig).sweep,
        lookbackHours,
      });
      gateRequestsPerDay = Math.max(gateRequestsPerDay, run.grantedPerDay);
      const { listing, ...spend } = model === 'with recent sweeps' ? recentBudget : budget;
      const forecast = forecastBudget({
        ...spend,
        ...(model !== 'downloads only' && listing ? { listing } : {}),
        arrivedLast24h: run.arrivedLast24h,
        backlog: run.outcome.backlogAtNow,
        now: new Date(run.nowMs),
      });
      const agrees = agreement(forecast, run.outcome);
      results.push({
        scenario,
        model,
        forecast,
        forecastLine: describeForecast(forecast),
        simulated: run.outcome,
        agrees,
      });
      const sim = run.outcome;
      log(
        `forecast: ${scenario.name}, ${model}: forecast ${forecast.verdict}${forecast.verdict === 'clears' ? ` in ${forecast.hoursToClear} h` : ''} (capacity ${forecast.capacityPerDay}/day, arrived ${forecast.arrivedLast24h}, waiting ${forecast.backlog}); simulated ${sim.direction}${sim.clearedAfterHours !== null ? ` after ${sim.clearedAfterHours} h` : ''} (downloads ${sim.downloadsLast24h}/day, call-log pages ${sim.listingPagesLast24h}/day; waiting ${sim.backlogAtNow} → ${sim.backlogAfter24h} → ${sim.backlogAfter48h}): ${agrees ? 'agrees' : 'DISAGREES'}`,
      );
    }
  }
  return {
    heavyPerMinute: source.rateLimits.heavyPerMinute,
    requestsPerRecording: budget.requestsPerRecording,
    gateRequestsPerDay,
    intervalSeconds,
    lookbackHours,
    results,
  };
}

function agreement(forecast: BudgetForecast, simulated: SimulatedOutcome): boolean {
  switch (forecast.verdict) {
    case 'grows':
      return simulated.direction === 'grows';
    // Keeping up and clearing within the hour are the same observation: nothing waits for long.
    case 'keeps-up':
      return simulated.clearedAfterHours !== null && simulated.clearedAfterHours <= 1;
    case 'clears':
      return (
        simulated.clearedAfterHours !== null &&
        Math.abs(simulated.clearedAfterHours - forecast.hoursToClear) <=
          Math.max(1, forecast.hoursToClear * 0.1)
      );
  }
}

async function simulate(
  scenario: ForecastScenario,
  settings: {
    heavyPerMinute: number;
    requestsPerRecording: number;
    /** The sweep's cadence; absent: no listing is simulated (the forecast's own model). */
    sweep?: SweepCadence;
    /** What the call log holds before the start. */
    lookbackHours: number;
  },
): Promise<{ nowMs: number; arrivedLast24h: number; grantedPerDay: number; outcome: SimulatedOutcome }> {
  // A fixed instant: the figures never depend on the day the bench runs.
  const startMs = Date.UTC(2026, 0, 5, 0, 0, 0);
  const nowMs = startMs + 2 * DAY;
  const endMs = nowMs + 2 * DAY;
  let clockMs = startMs;
  const store = new ObservedGateStore();
  const gate = new HeavyGate({
    key: 'ringcentral/bench-rc',
    perMinute: settings.heavyPerMinute,
    store,
    clock: { now: () => new Date(clockMs) },
    log: silentLog,
    // Never wait inside the gate: a refused slot makes simulated time jump to the slot it names.
    maxWaitMs: 0,
  });
  // What RingCentral sends with every Heavy answer (X-Rate-Limit-* headers, API reference "Rate Limits").
  const answer = {
    status: 200,
    headers: {
      'x-rate-limit-group': 'Heavy',
      'x-rate-limit-limit': String(settings.heavyPerMinute),
      'x-rate-limit-window': '60',
    },
  };
  const spacing = DAY / scenario.arrivalsPerDay;
  let nextArrivalMs = startMs;
  // The call log already holds a lookback's worth of recordings, archived before the start.
  const arrivals: number[] = [];
  for (let at = startMs - settings.lookbackHours * HOUR; at < startMs; at += spacing) arrivals.push(at);
  let backlog = scenario.initialBacklog;
  let requestsOwed = 0;
  let pagesOwed = 0;
  const { sweep } = settings;
  let nextSweepMs = sweep === undefined ? Number.POSITIVE_INFINITY : startMs;
  const granted: { atMs: number; kind: 'download' | 'page' }[] = [];
  let backlogAtNow = -1;
  let backlogAfter24h = -1;
  let clearedAfterHours: number | null = null;
  const arrivedBetween = (from: number, to: number) => {
    let count = 0;
    for (let i = arrivals.length - 1; i >= 0 && (arrivals[i] as number) >= from; i--) {
      if ((arrivals[i] as number) < to) count += 1;
    }
    return count;
  };
  const checkpoints = () => {
    if (backlogAtNow < 0 && clockMs >= nowMs) backlogAtNow = backlog;
    if (backlogAfter24h < 0 && clockMs >= nowMs + DAY) backlogAfter24h = backlog;
  };
  while (clockMs < endMs) {
    while (nextArrivalMs <= clockMs) {
      arrivals.push(nextArrivalMs);
      backlog += 1;
      nextArrivalMs += spacing;
    }
    while (sweep && nextSweepMs <= clockMs) {
      // The window the real scheduled sweep would list at this instant (recent or deep).
      const hours = scheduledLookbackHours(new Date(nextSweepMs), sweep, false);
      const listed = arrivedBetween(nextSweepMs - hours * HOUR, nextSweepMs);
      pagesOwed += Math.max(1, Math.ceil(listed / CALL_LOG_PAGE));
      nextSweepMs += sweep.intervalSeconds * 1000;
    }
    checkpoints();
    if (clockMs >= nowMs && clearedAfterHours === null && backlog === 0) {
      clearedAfterHours = Math.round(((clockMs - nowMs) / HOUR) * 10) / 10;
    }
    const wanted = pagesOwed > 0 || backlog > 0 || requestsOwed > 0;
    let wakeAt = Math.min(nextArrivalMs, nextSweepMs, endMs);
    if (wanted) {
      try {
        await gate.waitForSlot();
        await gate.observe(answer);
        if (pagesOwed > 0) {
          pagesOwed -= 1;
          granted.push({ atMs: clockMs, kind: 'page' });
        } else {
          // A recording may need several budgeted requests; it is archived with the last of them.
          if (requestsOwed === 0) requestsOwed = settings.requestsPerRecording;
          requestsOwed -= 1;
          granted.push({ atMs: clockMs, kind: 'download' });
          if (requestsOwed === 0) backlog -= 1;
        }
        continue;
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        wakeAt = Math.min(wakeAt, store.nextSlotAtMs);
      }
    }
    clockMs = Math.max(clockMs + 1, Math.ceil(wakeAt));
  }
  const lastDay = granted.filter((entry) => entry.atMs >= nowMs - DAY && entry.atMs < nowMs);
  const grantedAfter = granted.filter((entry) => entry.atMs >= nowMs && entry.atMs < nowMs + DAY).length;
  const backlogAfter48h = backlog;
  // Shrinking but not empty within the 48 h simulated: when it would be, at the rate seen.
  const shrinkPerHour = (backlogAtNow - backlogAfter48h) / 48;
  const clearsAfter =
    clearedAfterHours ?? (shrinkPerHour > 0 ? Math.round((backlogAtNow / shrinkPerHour) * 10) / 10 : null);
  const direction: SimulatedOutcome['direction'] =
    clearsAfter === null ? 'grows' : clearsAfter <= 1 ? 'keeps-up' : 'clears';
  return {
    nowMs,
    arrivedLast24h: arrivedBetween(nowMs - DAY, nowMs),
    grantedPerDay: grantedAfter,
    outcome: {
      downloadsLast24h: lastDay.filter((entry) => entry.kind === 'download').length,
      listingPagesLast24h: lastDay.filter((entry) => entry.kind === 'page').length,
      backlogAtNow,
      backlogAfter24h,
      backlogAfter48h,
      clearedAfterHours: clearsAfter,
      direction,
    },
  };
}
