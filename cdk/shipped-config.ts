import { isDeepStrictEqual } from 'node:util';
import { parseConfig, type ShippedRuntimeConfig } from '../functions/config';

// biome-ignore lint/suspicious/noExplicitAny: walks arbitrary JSON
type Json = any;

/**
 * The shipped configuration without the fields Lambda would put back itself. Lambda parses
 * `CALLVAULT_RUNTIME_CONFIG` with the same schema (bundled from the same source at synth), so a field that
 * parsing restores to the same value is only bytes in Lambda's 4 KB environment: the defaults of a Graph
 * bot source alone (key endpoint, issuers) are some 150 of them, and every source repeats its own.
 *
 * A field is dropped only when the whole configuration still parses to exactly what the full one parses
 * to, so the result means the same by construction: never a semantic judgement per field (an explicit
 * `retention: false` stays, because leaving it out would mean something else).
 */
export function withoutRestorableDefaults(shipped: ShippedRuntimeConfig): Json {
  const reference = parseConfig(shipped);
  const compact: Json = structuredClone(shipped);
  const sameMeaning = (): boolean => {
    try {
      return isDeepStrictEqual(parseConfig(compact), reference);
    } catch {
      return false;
    }
  };
  const prune = (node: Json): void => {
    if (Array.isArray(node)) {
      // Elements are never dropped (their positions are meaningful); objects inside are pruned.
      for (const element of node) prune(element);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    for (const key of Object.keys(node)) {
      const value = node[key];
      delete node[key];
      if (sameMeaning()) continue;
      node[key] = value;
      prune(value);
    }
  };
  prune(compact);
  return compact;
}
