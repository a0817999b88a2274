/**
 * What `scripts/test-pinned-clocks.ts` runs: the instants and zones, and the rule for the files.
 *
 * The rule has no list to keep: at every instant, vitest runs with the same configuration and no file
 * filter, so every test file `vitest run` runs also runs at every pinned instant, including the ones
 * added after this was written. Nearly every test reaches code that reads the clock (listing windows,
 * keys by UTC day, retention ages, token expiry, status per day), often through a harness, so a rule
 * that guessed which files "read the clock" would forget the ones that do it indirectly.
 */

export interface PinnedRun {
  /** The instant the clock starts at, ISO 8601 in UTC. */
  at: string;
  /** The IANA zone the run's processes see as local time (TZ). */
  timeZone: string;
  /** The local calendar date at `at` in `timeZone`, YYYY-MM-DD: checked by a test against Intl. */
  localDate: string;
  why: string;
}

/** Month ends, a year end, a leap day and a month start, each under a zone that moves the local date. */
export const PINNED_RUNS: readonly PinnedRun[] = [
  {
    at: '2026-11-30T12:00:00Z',
    timeZone: 'UTC',
    localDate: '2026-11-30',
    why: 'the 30th of a 30-day month in plain UTC: windows of "this month" and "the last days" end on the edge',
  },
  {
    at: '2026-11-30T12:00:00Z',
    timeZone: 'Pacific/Kiritimati',
    localDate: '2026-12-01',
    why: 'the same instant at UTC+14, the zone furthest east: the local date is already 1 December',
  },
  {
    at: '2026-12-31T23:59:59Z',
    timeZone: 'UTC',
    localDate: '2026-12-31',
    why: 'the last second of a year in UTC; the year turns during the run',
  },
  {
    at: '2028-02-29T18:00:00Z',
    timeZone: 'Asia/Vladivostok',
    localDate: '2028-03-01',
    why: 'a leap day; at UTC+10 the local date is already 1 March',
  },
  {
    at: '2027-03-01T00:00:30Z',
    timeZone: 'America/Los_Angeles',
    localDate: '2027-02-28',
    why: 'the first minute of a month after a 28-day February; at UTC-8 the local date is still 28 February',
  },
];

/** The local calendar date (YYYY-MM-DD) of an instant in a zone, as the run's processes see it. */
export function localDateAt(at: string, timeZone: string): string {
  // en-CA formats dates as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(new Date(at));
}

/** `+123s` / `-45s`: the offset from `nowMs` to `at`, in faketime's relative format. */
export function offsetTo(at: string, nowMs: number): string {
  const seconds = Math.round((Date.parse(at) - nowMs) / 1000);
  return `${seconds < 0 ? '-' : '+'}${Math.abs(seconds)}s`;
}

export interface PinnedOptions {
  /** The runs picked with `--instant N` (1-based), or every run. */
  runs: readonly PinnedRun[];
  /** vitest file filters; every test file when empty. */
  filters: readonly string[];
}

/** `[--instant N]… [test file filters…]`: a developer's narrowing; npm test passes nothing. */
export function parseArguments(argv: readonly string[]): PinnedOptions {
  const picked: PinnedRun[] = [];
  const filters: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index] as string;
    const value = argument === '--instant' ? argv[++index] : argument.match(/^--instant=(.*)$/)?.[1];
    if (argument === '--instant' || value !== undefined) {
      const run = PINNED_RUNS[Number(value) - 1];
      if (!run) throw new Error(`--instant takes 1 to ${PINNED_RUNS.length}, not ${value ?? 'nothing'}`);
      picked.push(run);
    } else if (argument.startsWith('-')) {
      throw new Error(`unknown option ${argument}: [--instant N]… [test file filters…]`);
    } else {
      filters.push(argument);
    }
  }
  return { runs: picked.length > 0 ? picked : PINNED_RUNS, filters };
}

/** The arguments of one pinned vitest run: the project's config, the filters (none by default). */
export function vitestRunArguments(filters: readonly string[], jsonReport: string): string[] {
  return ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${jsonReport}`, ...filters];
}

/** Test files grouped by folder, one line per folder, for the log. */
export function describeFiles(files: readonly string[]): string[] {
  const byFolder = new Map<string, string[]>();
  for (const file of files) {
    const slash = file.lastIndexOf('/');
    const folder = file.slice(0, slash);
    byFolder.set(folder, [...(byFolder.get(folder) ?? []), file.slice(slash + 1).replace(/\.test\.ts$/, '')]);
  }
  return [...byFolder]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([folder, names]) => `  ${folder}/ (${names.length}): ${names.join(', ')}`);
}

export interface FileOutcome {
  file: string;
  status: string;
  failedTests: string[];
}

export interface RunOutcome {
  label: string;
  exitCode: number;
  seconds: number;
  files: FileOutcome[];
  tests: { passed: number; failed: number; skipped: number };
}

/** Lines for one finished run; it failed when vitest did, a file failed, or a listed file did not run. */
export function summarise(run: RunOutcome, planned: readonly string[]): { lines: string[]; failed: boolean } {
  const ran = new Set(run.files.map((outcome) => outcome.file));
  const missing = planned.filter((file) => !ran.has(file));
  const failedFiles = run.files.filter((outcome) => outcome.status === 'failed');
  const skippedFiles = run.files.filter((outcome) => !['passed', 'failed'].includes(outcome.status));
  const failed = run.exitCode !== 0 || missing.length > 0 || failedFiles.length > 0;
  const { passed, failed: failedTests, skipped } = run.tests;
  const lines = [
    `  ${failed ? 'FAIL' : 'ok  '}  ${run.label}: ${run.files.length} of ${planned.length} files ran, ` +
      `${failedFiles.length} failed; tests ${passed} passed, ${failedTests} failed, ${skipped} skipped; ` +
      `${run.seconds} s, exit ${run.exitCode}`,
  ];
  for (const outcome of failedFiles) {
    lines.push(`          failed: ${outcome.file}`);
    for (const name of outcome.failedTests) lines.push(`            × ${name}`);
  }
  for (const outcome of skippedFiles) lines.push(`          ${outcome.status}: ${outcome.file}`);
  for (const file of missing) lines.push(`          not run: ${file}`);
  return { lines, failed };
}
