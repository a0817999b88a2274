/**
 * The pinned-clock reruns (scripts/test-pinned-clocks.ts) cover every test file at every pinned instant,
 * with no list to keep: npm test runs the script without arguments, the script hands vitest no file
 * filter, and a file vitest listed but did not report fails the run. The instants are where calendars
 * turn, each under a zone whose local date is the one the plan says.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  localDateAt,
  offsetTo,
  PINNED_RUNS,
  parseArguments,
  type RunOutcome,
  summarise,
  vitestRunArguments,
} from '../../../scripts/pinned-clocks-plan';

const ROOT = join(import.meta.dirname, '../../..');

/** The zone's offset from UTC at the instant, as Intl spells it: `GMT+14:00`, `GMT` for UTC. */
function offsetAt(at: string, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' }).formatToParts(
    new Date(at),
  );
  return parts.find((part) => part.type === 'timeZoneName')?.value ?? '';
}

function outcome(files: RunOutcome['files'], exitCode = 0): RunOutcome {
  return { label: 'at', exitCode, seconds: 1, files, tests: { passed: 1, failed: 0, skipped: 0 } };
}

describe('pinned-clock test runs', () => {
  it('npm test runs them without arguments, so no file and no instant is left out', () => {
    const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as { test: string };
    expect(scripts.test).toMatch(/&& tsx scripts\/test-pinned-clocks\.ts$/);

    const { runs, filters } = parseArguments([]);
    expect(runs).toEqual(PINNED_RUNS);
    expect(filters).toEqual([]);
    // Everything after `run` is an option: vitest takes its files from the project's configuration.
    const [command, ...rest] = vitestRunArguments(filters, '/tmp/report.json');
    expect(command).toBe('run');
    expect(rest.every((argument) => argument.startsWith('--'))).toBe(true);
  });

  it('narrows to chosen instants and files only when asked', () => {
    const options = parseArguments(['--instant', '2', '--instant=5', 'test/integration/x.test.ts']);
    expect(options.runs).toEqual([PINNED_RUNS[1], PINNED_RUNS[4]]);
    expect(vitestRunArguments(options.filters, 'r.json').at(-1)).toBe('test/integration/x.test.ts');
    expect(() => parseArguments(['--instant', '0'])).toThrow(/--instant takes 1 to/);
    expect(() => parseArguments(['--instants', '1'])).toThrow(/unknown option/);
  });

  it('pins a plain-UTC month end, the same instant at UTC+14, a year end, a leap day and a month start', () => {
    const at = (iso: string, zone: string) =>
      PINNED_RUNS.some((run) => run.at === iso && run.timeZone === zone);
    expect(at('2026-11-30T12:00:00Z', 'UTC')).toBe(true);
    expect(
      PINNED_RUNS.some(
        (run) => run.at === '2026-11-30T12:00:00Z' && offsetAt(run.at, run.timeZone) === 'GMT+14:00',
      ),
    ).toBe(true);
    expect(PINNED_RUNS.some((run) => run.at === '2026-12-31T23:59:59Z')).toBe(true);
    expect(PINNED_RUNS.some((run) => run.at.startsWith('2028-02-29T'))).toBe(true);
    expect(PINNED_RUNS.some((run) => run.at.startsWith('2027-03-01T00:00'))).toBe(true);
  });

  it("states each run's local date as the zone's calendar has it", () => {
    for (const run of PINNED_RUNS)
      expect(`${run.at} ${localDateAt(run.at, run.timeZone)}`).toBe(`${run.at} ${run.localDate}`);
    // At least one run each where the local date is ahead of, behind, and equal to the UTC date.
    const relations = PINNED_RUNS.map((run) => Math.sign(run.localDate.localeCompare(run.at.slice(0, 10))));
    expect(new Set(relations)).toEqual(new Set([-1, 0, 1]));
  });

  it('gives faketime the offset from the real clock to the instant', () => {
    const now = Date.parse('2026-12-04T16:00:00Z');
    expect(offsetTo('2026-11-30T12:00:00Z', now)).toBe(`-${(4 * 86_400 + 4 * 3600).toString()}s`);
    expect(offsetTo('2028-02-29T18:00:00Z', now)).toMatch(/^\+\d+s$/);
  });

  it('fails a run where a listed file did not run or a file failed, even when vitest exited 0', () => {
    const planned = ['test/a.test.ts', 'test/b.test.ts'];
    const passed = { file: 'test/a.test.ts', status: 'passed', failedTests: [] };

    const missing = summarise(outcome([passed]), planned);
    expect(missing.failed).toBe(true);
    expect(missing.lines).toContain('          not run: test/b.test.ts');

    const failing = { file: 'test/b.test.ts', status: 'failed', failedTests: ['b > holds at month end'] };
    const failed = summarise(outcome([passed, failing]), planned);
    expect(failed.failed).toBe(true);
    expect(failed.lines.join('\n')).toContain('failed: test/b.test.ts\n            × b > holds at month end');

    const all = summarise(outcome([passed, { ...passed, file: 'test/b.test.ts' }]), planned);
    expect(all.failed).toBe(false);
    expect(all.lines[0]).toMatch(/^ {2}ok {4}at: 2 of 2 files ran, 0 failed/);
    const exitedNonZero = summarise(outcome([passed, { ...passed, file: 'test/b.test.ts' }], 1), planned);
    expect(exitedNonZero.failed).toBe(true);
  });

  it('fails under CI=true when faketime is missing, before running anything', () => {
    // A PATH with Node alone: no faketime on it.
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/test-pinned-clocks.ts'], {
      cwd: ROOT,
      env: { PATH: dirname(process.execPath), CI: 'true', HOME: process.env.HOME ?? '/tmp' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/faketime not found.*CI=true requires it/);
    expect(result.stdout).not.toMatch(/pinned clock/);
  });
});
