/** Which sources retention acts on, with which settings. */
import type { RetentionTarget } from '../core/apply-retention-to-all-sources';
import { type RetentionSettings, retentionSettingsSchema } from './fields';
import type { CallvaultConfig } from './schema';
import { deletesAtSource, enabledSources, type SourceConfig } from './sources';

/** Retention settings for one source: global defaults, then the source's overrides; undefined = off. */
export function retentionFor(config: CallvaultConfig, source: SourceConfig): RetentionSettings | undefined {
  if (source.retention === false) return undefined;
  if (!config.retention && !source.retention) return undefined;
  return retentionSettingsSchema.parse({ ...config.retention, ...source.retention });
}

/**
 * Every enabled source that has retention, with its effective settings. Sources whose platform offers no
 * delete are never targets.
 */
export function retentionTargets(config: CallvaultConfig): RetentionTarget[] {
  return enabledSources(config).flatMap((source) => {
    if (!deletesAtSource(source)) return [];
    const settings = retentionFor(config, source);
    return settings ? [{ provider: source.provider, sourceId: source.id, settings }] : [];
  });
}
