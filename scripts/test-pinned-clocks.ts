/**
 * Runs the whole test suite again under libfaketime, once per pinned instant (scripts/pinned-clocks-plan.ts):
 * the 30th of a 30-day month in UTC and at UTC+14, the last second of a year, a leap day and the first
 * minute of a month, each under a zone that moves the local date. A test that puts data relative to "now"
 * and silently relies on where "now" falls fails here on any day, not only on the day it happens.
 *
 * Which files: every file `vitest run` runs, by the same configuration and with no filter, so no list
 * can forget a new test. The log says which files ran at which instant, how each run ended, and totals;
 * a file that vitest listed but did not report fails the run.
 *
 * The clock is moved by a relative offset (computed from the real clock just before each run), so every
 * process of a run, vitest workers, moto_server and CLI children alike, sees one clock that keeps ticking.
 * Monotonic clocks stay real: child Node processes hang when they are faked too. With them real,
 * libfaketime's fix-up of monotonic timed waits has nothing to correct, and left on it makes every
 * moto_server request several times slower.
 *
 * Without `faketime` the runs are skipped with a warning; under CI=true that fails instead, so CI can
 * never go green without them. `tsx scripts/test-pinned-clocks.ts [--instant N]… [test file filters…]`
 * narrows a run while working on a test; npm test passes neither.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  describeFiles,
  offsetTo,
  type PinnedRun,
  parseArguments,
  type RunOutcome,
  summarise,
  vitestRunArguments,
} from './pinned-clocks-plan';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const VITEST = join(REPO, 'node_modules', 'vitest', 'vitest.mjs');

const FAKETIME_INSTALL_HINT =
  'faketime not found: install it with `apt-get install -y faketime` (or `brew install libfaketime`) to run the tests at pinned instants';

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

/** The test files vitest runs for these filters, as vitest itself lists them (real clock). */
function plannedFiles(filters: readonly string[], reportDir: string): string[] {
  // `--json` takes the next word as its output path when given no `=`: name the file, never a filter.
  const output = join(reportDir, 'planned-files.json');
  const listing = spawnSync(
    process.execPath,
    [VITEST, 'list', '--filesOnly', `--json=${output}`, ...filters],
    { cwd: REPO, encoding: 'utf8' },
  );
  if (listing.status !== 0) throw new Error(`vitest list failed (exit ${listing.status}): ${listing.stderr}`);
  const entries = JSON.parse(readFileSync(output, 'utf8')) as { file: string }[];
  const files = entries.map((entry) => relative(REPO, entry.file));
  if (files.length === 0)
    throw new Error(`vitest lists no test file for ${filters.join(' ') || 'the project'}`);
  return files.sort();
}

interface VitestJsonReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: {
    name: string;
    status: string;
    assertionResults: { fullName: string; status: string }[];
  }[];
}

function runAt(run: PinnedRun, filters: readonly string[], reportDir: string): Promise<RunOutcome> {
  const label = `${run.at} TZ=${run.timeZone}`;
  const report = join(reportDir, `${run.at.replace(/\W/g, '')}-${run.timeZone.replace(/\W/g, '_')}.json`);
  const started = Date.now();
  const child = spawn(
    'faketime',
    ['-f', offsetTo(run.at, Date.now()), process.execPath, VITEST, ...vitestRunArguments(filters, report)],
    { cwd: REPO, env: { ...process.env, ...FAKETIME_ENV, TZ: run.timeZone }, stdio: 'inherit' },
  );
  return new Promise((resolve) => {
    const finish = (exitCode: number) => {
      const seconds = Math.round((Date.now() - started) / 1000);
      let parsed: VitestJsonReport | undefined;
      try {
        parsed = JSON.parse(readFileSync(report, 'utf8')) as VitestJsonReport;
      } catch {
        // No report: vitest died before writing it; the exit code says so and no file counts as run.
      }
      const files = (parsed?.testResults ?? []).map((result) => ({
        file: relative(REPO, result.name),
        status: result.status,
        failedTests: result.assertionResults
          .filter((test) => test.status === 'failed')
          .map((test) => test.fullName),
      }));
      resolve({
        label,
        exitCode: exitCode === 0 && !parsed ? 1 : exitCode,
        seconds,
        files,
        tests: {
          passed: parsed?.numPassedTests ?? 0,
          failed: parsed?.numFailedTests ?? 0,
          skipped: (parsed?.numPendingTests ?? 0) + (parsed?.numTodoTests ?? 0),
        },
      });
    };
    child.on('error', () => finish(1));
    child.on('close', (code, signal) => finish(code ?? (signal ? 1 : 0)));
  });
}

async function main(): Promise<number> {
  const { runs, filters } = parseArguments(process.argv.slice(2));
  if (!faketimeAvailable()) return 0;
  const reportDir = mkdtempSync(join(tmpdir(), 'callvault-pinned-clocks-'));
  try {
    return await runAll(runs, filters, reportDir);
  } finally {
    rmSync(reportDir, { recursive: true, force: true });
  }
}

async function runAll(
  runs: readonly PinnedRun[],
  filters: readonly string[],
  reportDir: string,
): Promise<number> {
  const planned = plannedFiles(filters, reportDir);
  console.log(
    `pinned-clock runs: ${runs.length} instant(s) × ${planned.length} test file(s)` +
      `${filters.length > 0 ? ` (narrowed by ${filters.length} filter(s))` : ' (every file vitest runs)'}:`,
  );
  for (const line of describeFiles(planned)) console.log(line);

  const outcomes: RunOutcome[] = [];
  for (const [index, run] of runs.entries()) {
    console.log(
      `\n=== pinned clock ${index + 1}/${runs.length}: ${run.at} TZ=${run.timeZone}, local date ${run.localDate} (${run.why})`,
    );
    const outcome = await runAt(run, filters, reportDir);
    outcomes.push(outcome);
    console.log(`=== pinned clock ${outcome.label}: ${outcome.exitCode === 0 ? 'passed' : 'FAILED'}`);
  }

  let failedRuns = 0;
  const lines: string[] = [];
  for (const outcome of outcomes) {
    const summary = summarise(outcome, planned);
    if (summary.failed) failedRuns += 1;
    lines.push(...summary.lines);
  }
  const fileRuns = outcomes.reduce((sum, outcome) => sum + outcome.files.length, 0);
  const tests = outcomes.reduce(
    (sum, outcome) => ({
      passed: sum.passed + outcome.tests.passed,
      failed: sum.failed + outcome.tests.failed,
      skipped: sum.skipped + outcome.tests.skipped,
    }),
    { passed: 0, failed: 0, skipped: 0 },
  );
  const seconds = outcomes.reduce((sum, outcome) => sum + outcome.seconds, 0);
  console.log(
    `\npinned-clock runs, each over the ${planned.length} file(s) listed above:\n${lines.join('\n')}`,
  );
  console.log(
    `total: ${outcomes.length} instant(s), ${fileRuns} file runs, tests ${tests.passed} passed, ` +
      `${tests.failed} failed, ${tests.skipped} skipped, ${seconds} s`,
  );
  if (failedRuns > 0) console.error(`${failedRuns} of ${outcomes.length} pinned-clock runs failed`);
  return failedRuns > 0 ? 1 : 0;
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
