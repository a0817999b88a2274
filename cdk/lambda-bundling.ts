/**
 * esbuild settings every Lambda bundle shares, in one place so that bench/lambda-cost.ts measures exactly
 * what cdk/constructs/node-function.ts ships.
 */
import { fileURLToPath } from 'node:url';

/**
 * esbuild emits ESM; some CommonJS dependencies still call `require` for Node built-ins, which ESM lacks.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as topLevelCreateRequire } from 'node:module'; const require = topLevelCreateRequire(import.meta.url);";

/**
 * Imports esbuild replaces with a local module (its `alias` option). `node:http` (the SDK's HTTP handler and
 * functions/providers/http.ts import it) comes through cdk/bundling/node-http.cjs, which hands over the very
 * same built-in without building its ES-module namespace; see that file for what this saves.
 */
export const BUNDLE_ALIASES: Readonly<Record<string, string>> = (() => {
  const nodeHttp = fileURLToPath(new URL('./bundling/node-http.cjs', import.meta.url));
  return { http: nodeHttp, 'node:http': nodeHttp };
})();
