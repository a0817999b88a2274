import type { RecordingSource } from '../../functions/core/ports';
import { silentLog, systemClock } from '../../functions/core/ports';
import { type RegisteredSource, SourceRegistry } from '../../functions/core/source-registry';

/** A registry around adapters a test built itself: the credentials step reads nothing and always agrees. */
export function fixedSourceRegistry(
  sources: RegisteredSource[],
  adapterFor: (source: RegisteredSource) => RecordingSource,
): SourceRegistry {
  return new SourceRegistry({
    sources,
    loadCredentials: async () => ({ values: {}, origin: 'the test' }),
    createSource: (source) => adapterFor(source),
    clock: systemClock,
    log: silentLog,
  });
}
