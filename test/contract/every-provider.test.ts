/**
 * Every provider is held to the contract: it has a sandbox registry entry (sandbox/providers/index.ts)
 * and a contract file here that runs the shared suite.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ProviderName } from '../../functions/core/recording';
import { PROVIDER_NAMES } from '../../functions/providers';
import { PROVIDER_SANDBOXES } from '../../sandbox/providers';

describe('provider contract coverage', () => {
  it.each([...PROVIDER_NAMES] as ProviderName[])(
    '%s has a sandbox entry and a contract file running the shared suite',
    (provider) => {
      expect(PROVIDER_SANDBOXES[provider].provider).toBe(provider);
      const file = join(import.meta.dirname, `${provider}.contract.test.ts`);
      expect(existsSync(file)).toBe(true);
      const text = readFileSync(file, 'utf8');
      expect(text).toContain('providerContract({');
      expect(text).toContain(`provider: '${provider}'`);
      expect(text).toContain(`PROVIDER_SANDBOXES.${provider}`);
    },
  );
});
