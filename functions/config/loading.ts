/** Reading and validating a configuration; errors list every offending field by path. */
import { readFileSync } from 'node:fs';
import { PROVIDER_DESCRIPTORS } from '../providers';
import { ConfigError } from './errors';
import { type CallvaultConfig, configSchema, configSchemaFor } from './schema';
import type { ProviderDescriptors } from './sources';

/** Parses and validates a configuration object; errors list every offending field by path. */
export function parseConfig(
  value: unknown,
  origin = 'configuration',
  descriptors: ProviderDescriptors = PROVIDER_DESCRIPTORS,
): CallvaultConfig {
  const schema = descriptors === PROVIDER_DESCRIPTORS ? configSchema : configSchemaFor(descriptors);
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => `  - ${formatPath(issue.path)}: ${issue.message}`);
  throw new ConfigError(`invalid ${origin}:\n${lines.join('\n')}`);
}

function formatPath(path: PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i ? '.' : ''}${String(part)}`))
    .join('');
}

export function loadConfigFile(path: string): CallvaultConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(value, `config file ${path}`);
}
