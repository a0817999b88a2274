/** A Log that keeps what it is told, for tests that assert on what was logged (and what was not). */
import type { Log } from '../../functions/core/ports';

export interface LogLine {
  level: string;
  message: string;
  attributes?: Record<string, unknown>;
}

export function recordingLog(): Log & { lines: LogLine[]; text(): string } {
  const lines: LogLine[] = [];
  const at = (level: string) => (message: string, attributes?: Record<string, unknown>) =>
    void lines.push({ level, message, attributes });
  return {
    lines,
    text: () => JSON.stringify(lines),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
}
