/** What the operator scripts share: option parsing with clear errors, and one way to end with a message. */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ConfigError } from '../config';
import { CallvaultError } from '../core/errors';

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: T,
  usage: string,
) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${usage}`);
  }
}

/** `3600`, `90s`, `30m`, `1h` → seconds. */
export function parseDurationSeconds(text: string, what: string): number {
  const match = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text.trim());
  if (!match)
    throw new UsageError(`${what} "${text}" is not a duration; use seconds or a suffix: 90s, 30m, 1h`);
  const factor = match[2] === 'h' ? 3600 : match[2] === 'm' ? 60 : 1;
  return Number(match[1]) * factor;
}

export function parsePositiveInteger(text: string, what: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw new UsageError(`${what} "${text}" must be a whole number of at least 1`);
  return Number(text);
}

/** Failures that explain themselves; anything else is a bug and gets its stack printed. */
const EXPECTED_ERRORS = new Set([
  'UsageError',
  'StackOutputError',
  'RateLimitWaitTooLongError',
  'MoveTaskUnavailableError',
  'CatalogueMissingError',
  'AthenaQueryError',
]);

/**
 * Runs a script's main and exits with its code. Expected failures (bad usage, config, input, a missing
 * stack output) print one line naming the problem; anything else prints its stack.
 */
export function runCommand(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      const expected =
        error instanceof ConfigError ||
        error instanceof CallvaultError ||
        (error instanceof Error && EXPECTED_ERRORS.has(error.name));
      const message =
        error instanceof Error ? (expected ? error.message : (error.stack ?? error.message)) : String(error);
      process.stderr.write(`${name}: ${message}\n`);
      process.exit(error instanceof UsageError ? 2 : 1);
    },
  );
}
