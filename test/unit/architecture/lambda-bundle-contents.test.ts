/**
 * What the latency-sensitive Lambda bundles may carry (issue 16 item 3, BENCHMARKS.md "Cold start"): every
 * byte of a bundle is parsed on a cold start, so the worker and the webhook bundle only the SDK clients
 * their runtime builds (functions/composition/), zod without its locales, and `node:http` through the
 * CommonJS shim. Built with the CDK's own esbuild settings and read from esbuild's metafile; sizes are
 * not asserted, only which packages are in.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { BUNDLE_ALIASES, ESM_REQUIRE_BANNER } from '../../../cdk/lambda-bundling';

const ROOT = join(import.meta.dirname, '../../..');

async function inputsOf(entry: string): Promise<string[]> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [join(ROOT, 'functions', `${entry}.ts`)],
    outfile: join(ROOT, 'cdk.out', 'bundle-contents-test', entry, 'index.mjs'),
    write: false,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    mainFields: ['module', 'main'],
    minify: true,
    banner: { js: ESM_REQUIRE_BANNER },
    alias: { ...BUNDLE_ALIASES },
    metafile: true,
    logLevel: 'silent',
  });
  const output = Object.values((result.metafile as Metafile).outputs).find(
    (candidate) => candidate.entryPoint,
  );
  return Object.entries(output?.inputs ?? {})
    .filter(([, input]) => input.bytesInOutput > 0)
    .map(([path]) => path);
}

/** Locale modules other than English (`locales/index.js` and `en.js` stay: zod's default messages). */
const foreignLocales = (inputs: string[]) =>
  inputs.filter((path) => /zod\/v4\/locales\/(?!en\.js$|index\.js$)[^/]+\.js$/.test(path));

const packages = (inputs: string[]) =>
  new Set(inputs.map((path) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1]).filter(Boolean));

describe('Lambda bundle contents', () => {
  it('the worker carries no SSM or Lambda client and no zod locale', async () => {
    const inputs = await inputsOf('archive-worker');
    const found = packages(inputs);
    expect(found.has('@aws-sdk/client-s3')).toBe(true); // so the check below can fail
    expect(found.has('@aws-sdk/client-ssm')).toBe(false);
    expect(found.has('@aws-sdk/client-lambda')).toBe(false);
    // The SDK's HTTP handler imports `http`; the alias hands it the built-in without its ESM namespace.
    expect(inputs).toContain('cdk/bundling/node-http.cjs');
    expect(foreignLocales(inputs)).toEqual([]);
  }, 60_000);

  it('the webhook carries no S3, SSM or EventBridge client and no zod locale', async () => {
    const inputs = await inputsOf('webhook');
    const found = packages(inputs);
    expect(found.has('@aws-sdk/client-sqs')).toBe(true);
    for (const client of ['@aws-sdk/client-s3', '@aws-sdk/client-ssm', '@aws-sdk/client-eventbridge']) {
      expect(found.has(client), client).toBe(false);
    }
    expect(foreignLocales(inputs)).toEqual([]);
  }, 60_000);

  it('no function module imports zod as `{ z }`, which keeps every locale in the bundle', () => {
    const files = readdirSync(join(ROOT, 'functions'), { recursive: true, encoding: 'utf8' }).filter((name) =>
      name.endsWith('.ts'),
    );
    const offenders = files.filter((name) =>
      /import\s+(type\s+)?\{\s*z\s*\}\s+from\s+'zod'/.test(
        readFileSync(join(ROOT, 'functions', name), 'utf8'),
      ),
    );
    expect(offenders).toEqual([]);
  });
});
