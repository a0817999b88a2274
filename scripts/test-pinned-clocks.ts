/**
 * Runs the date-sensitive test files again under libfaketime, with the system clock moved to instants
 * where calendars turn (the 30th of a 30-day month, the last second of a year, a leap day, the first
 * minute of a month) and under time zones on both sides of UTC. A test that puts data relative to "now"
 * and silently relies on where "now" falls fails here on any day, not only on the day it happens.
 *
 * The clock is moved by a relative offset (computed from the real clock just before each run), so every
 * process of a run, vitest workers, moto_server and CLI children alike, sees one clock that keeps ticking.
 * Monotonic clocks stay real: child Node processes hang when they are faked too. With them real,
 * libfaketime's fix-up of monotonic timed waits has nothing to correct, and left on it makes every
 * moto_server request several times slower.
 *
 * Without `faketime` the runs are skipped with a warning; under CI=true that fails instead, so CI can
 * never go green without them. `tsx scripts/test-pinned-clocks.ts [test files…]` runs other files.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const VITEST = join(REPO, 'node_modules', 'vitest', 'vitest.mjs');

const FAKETIME_INSTALL_HINT =
  'faketime not found: install it with `apt-get install -y faketime` (or `brew install libfaketime`) to run the date-sensitive tests at pinned instants';

interface PinnedRun {
  at: string;
  timeZone: string;
  why: string;
}

/** Each instant under a different zone: east and west of UTC, where the local date is not the UTC one. */
const RUNS: readonly PinnedRun[] = [
  {
    at: '2026-11-30T12:00:00Z',
    timeZone: 'Pacific/Kiritimati',
    why: 'the 30th of a 30-day month; at UTC+14 the local date is already 1 December',
  },
  {
    at: '2026-12-31T23:59:59Z',
    timeZone: 'UTC',
    why: 'the last second of a year in UTC; the year turns during the run',
  },
  {
    at: '2028-02-29T18:00:00Z',
    timeZone: 'Asia/Vladivostok',
    why: 'a leap day; at UTC+10 the local date is already 1 March',
  },
  {
    at: '2027-03-01T00:00:30Z',
    timeZone: 'America/Los_Angeles',
    why: 'the first minute of a month after a 28-day February; at UTC-8 the local date is still 28 February',
  },
];

/**
 * Suites whose data or expectations hang on calendar days, months or hours (see each file): retention
 * windows and audit days, Telphin month chunks and hint listings, the sweep's lookback, backfill's UTC
 * days, status per day, and object keys by UTC date.
 */
const DATE_SENSITIVE_FILES = [
  'test/integration/retention.test.ts',
  'test/faults/retention-faults.test.ts',
  'test/unit/providers/telphin/telphin-records.test.ts',
  'test/unit/providers/telphin/telphin-list.test.ts',
  'test/unit/providers/telphin/telphin-webhook.test.ts',
  'test/unit/sandbox/telphin-sandbox.test.ts',
  'test/integration/local-host.test.ts',
  'test/integration/end-to-end.test.ts',
  'test/integration/backfill.test.ts',
  'test/unit/ops/backfill-helpers.test.ts',
  'test/integration/status.test.ts',
  'test/unit/core/keys.test.ts',
  // Graph bot keys are dated by the notification's arrival; status sums received per UTC day.
  'test/integration/msgraph-local.test.ts',
  'test/integration/msgraph-end-to-end.test.ts',
];

const FAKETIME_ENV = { FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_FORCE_MONOTONIC_FIX: '0' };

/** True when faketime moves a Node process's clock; throws under CI when it cannot. */
function faketimeAvailable(): boolean {
  const yearMs = 365 * 86_400_000;
  const probe = spawnSync(
    'faketime',
    ['-f', '+365d', process.execPath, '-e', 'process.stdout.write(String(Date.now()))'],
    { env: { ...process.env, ...FAKETIME_ENV }, encoding: 'utf8', timeout: 30_000 },
  );
  const skew = Number(probe.stdout) - Date.now();
  if (probe.status === 0 && Math.abs(skew - yearMs) < 60_000) return true;
  const problem = probe.error
    ? FAKETIME_INSTALL_HINT
    : `faketime did not move the clock of a Node process (exit ${probe.status}, ${probe.stderr.trim()})`;
  if (process.env.CI === 'true') throw new Error(`${problem} (CI=true requires it)`);
  console.warn(`[skip] pinned-clock test runs: ${problem}`);
  return false;
}

/** `+123s` / `-45s`: the offset from the real clock to `at`, as faketime's relative format wants it. */
function offsetTo(at: string): string {
  const seconds = Math.round((Date.parse(at) - Date.now()) / 1000);
  return `${seconds < 0 ? '-' : '+'}${Math.abs(seconds)}s`;
}

function runAt(run: PinnedRun, files: readonly string[]): Promise<number> {
  const child = spawn('faketime', ['-f', offsetTo(run.at), process.execPath, VITEST, 'run', ...files], {
    cwd: REPO,
    env: { ...process.env, ...FAKETIME_ENV, TZ: run.timeZone },
    stdio: 'inherit',
  });
  return new Promise((resolve) => {
    child.on('error', () => resolve(1));
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main(): Promise<number> {
  if (!faketimeAvailable()) return 0;
  const files = process.argv.length > 2 ? process.argv.slice(2) : DATE_SENSITIVE_FILES;
  const outcomes: string[] = [];
  let failed = 0;
  for (const [index, run] of RUNS.entries()) {
    const label = `${run.at} TZ=${run.timeZone}`;
    console.log(`\n=== pinned clock ${index + 1}/${RUNS.length}: ${label} (${run.why})`);
    const started = Date.now();
    const code = await runAt(run, files);
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    if (code !== 0) failed += 1;
    const outcome = code === 0 ? `passed in ${seconds} s` : `FAILED (exit ${code}) after ${seconds} s`;
    console.log(`=== pinned clock ${label}: ${outcome}`);
    outcomes.push(`  ${code === 0 ? 'ok  ' : 'FAIL'}  ${label}: ${outcome}`);
  }
  console.log(`\npinned-clock runs (${files.length} test file(s) each):\n${outcomes.join('\n')}`);
  if (failed > 0) console.error(`${failed} of ${RUNS.length} pinned-clock runs failed`);
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error((error as Error).message);
    process.exitCode = 1;
  },
);
