import type { Log } from '../../core/ports';
import type { SourceRecording, TimeWindow } from '../../core/recording';

/** Whether a recording started inside the window (`from` inclusive, `to` exclusive). */
export function inWindow(recording: SourceRecording, window: TimeWindow): boolean {
  const start = recording.startedAt.getTime();
  return start >= window.from.getTime() && start < window.to.getTime();
}

/**
 * A filter for one listing: each recording once (by id), and only those that started inside the window.
 * Sources list by coarser criteria (init time, overlapping pages, several scopes) than the archive keeps.
 */
export function uniqueInWindow(window: TimeWindow): (recording: SourceRecording | undefined) => boolean {
  const seen = new Set<string>();
  return (recording): boolean => {
    if (!recording || seen.has(recording.recordingId) || !inWindow(recording, window)) return false;
    seen.add(recording.recordingId);
    return true;
  };
}

/**
 * `parse()`, or undefined with a warning when it throws: one malformed record must not stop every other
 * recording of the window from being archived, and the warning names it for a human.
 */
export function parseOrSkip<T>(
  parse: () => T,
  log: Log,
  message: string,
  fields: Record<string, unknown>,
): T | undefined {
  try {
    return parse();
  } catch (error) {
    log.warn(message, { ...fields, reason: (error as Error).message });
    return undefined;
  }
}
