/**
 * The dependency rules of style.md, checked on the source tree: the domain imports nothing outside
 * itself, adapters know no vendor, operator tools borrow nothing from the local host. Wiring lives in
 * `functions/composition/`, the one place allowed to know everything.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../..');

/** Every module specifier a TypeScript file imports or re-exports (static and dynamic). */
function importsOf(source: string): string[] {
  const found: string[] = [];
  const pattern =
    /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const match of source.matchAll(pattern)) found.push((match[1] ?? match[2]) as string);
  return found;
}

function filesUnder(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(folder, name));
}

function violations(folder: string, allowed: (specifier: string) => boolean): string[] {
  return filesUnder(folder).flatMap((file) =>
    importsOf(readFileSync(join(ROOT, file), 'utf8'))
      .filter((specifier) => !allowed(specifier))
      .map((specifier) => `${relative(ROOT, join(ROOT, file))} imports ${specifier}`),
  );
}

/** Packages that are neither AWS nor a telephony vendor's: the domain may use them. */
const DOMAIN_PACKAGES = ['zod'];
/** What an adapter may import besides the domain: AWS's SDK and Lambda tooling, Node, validation. */
const ADAPTER_PACKAGES =
  /^(node:|@aws-sdk\/|@aws-lambda-powertools\/|@middy\/|@duckdb\/node-api$|aws-lambda$|hash-wasm$|zod$)/;

describe('dependency rules', () => {
  it('finds static, re-exported and dynamic imports (so the rules below can fail)', () => {
    const source = [
      "import { a } from './a';",
      "import type { B } from '../config';",
      "export { c } from '../providers/telphin/x';",
      "const d = await import('../adapters/s3');",
    ].join('\n');
    expect(importsOf(source)).toEqual(['./a', '../config', '../providers/telphin/x', '../adapters/s3']);
  });

  it('core/ imports only itself, Node built-ins and zod', () => {
    const allowed = (specifier: string) =>
      specifier.startsWith('./') || specifier.startsWith('node:') || DOMAIN_PACKAGES.includes(specifier);
    expect(violations('functions/core', allowed)).toEqual([]);
  });

  it('adapters/ know no provider, no composition root and no host', () => {
    const allowed = (specifier: string) =>
      specifier.startsWith('./') ||
      specifier.startsWith('../core/') ||
      specifier === '../config' ||
      ADAPTER_PACKAGES.test(specifier);
    expect(violations('functions/adapters', allowed)).toEqual([]);
  });

  it('providers/ use the domain and their own helpers, never AWS, adapters or hosts', () => {
    const allowed = (specifier: string) =>
      !/(^|\/)(adapters|composition|local|ops|sandbox)\//.test(specifier) &&
      !specifier.startsWith('@aws-sdk/') &&
      !specifier.startsWith('@aws-lambda-powertools/');
    expect(violations('functions/providers', allowed)).toEqual([]);
  });

  it('ops/ borrows nothing from the local host', () => {
    const allowed = (specifier: string) => !specifier.startsWith('../local/');
    expect(violations('functions/ops', allowed)).toEqual([]);
  });
});
