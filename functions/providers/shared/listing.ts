import type { Log } from '../../core/ports';
import type { SourceRecording, TimeWindow } from '../../core/recording';

/** Whether a recording started inside the window (`from` inclusive, `to` exclusive). */
export function inWindow(recording: SourceRecording, window: TimeWindow): boolean {
  const start = recording.startedAt.getTime();
  return start >= window.from.getTime() && start < window.to.getTime();
}

/** Each recording once, if it started in the window: sources list by coarser criteria than the archive. */
export function uniqueInWindow(window: TimeWindow): (recording: SourceRecording | undefined) => boolean {
  const seen = new Set<string>();
  return (recording): boolean => {
    if (!recording || seen.has(recording.recordingId) || !inWindow(recording, window)) return false;
    seen.add(recording.recordingId);
    return true;
  };
}

/** `parse()`, or undefined with a warning: one malformed record must not stop the rest of the window. */
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
