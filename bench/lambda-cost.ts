/**
 * Measurement 4: what each Lambda entry costs before it does any work: the bundle's size (built as
 * cdk/constructs/node-function.ts has the CDK build it: esbuild, ESM, minified, node24, SDK bundled,
 * external source map) and its cold import time in a fresh `node` process.
 *
 * Cold import: `import()` of the bundle timed inside the process, and the whole process from spawn to
 * exit timed outside, both as medians; an empty module is timed the same way so Node's own start-up can
 * be subtracted. The environment is the one Lambda gives the functions (NODE_OPTIONS=--enable-source-maps,
 * the CALLVAULT_* variables), so module initialisation runs as deployed. Container start, the runtime's
 * bootstrap and the first handler call (client construction, credentials) are not included.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ENV } from '../functions/config';
import { runToExit } from './lib/processes';
import { round, summarise } from './lib/stats';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Issue 16, item 3: importing the worker bundle, measured as above. */
export const WORKER_COLD_IMPORT_TARGET_MS = 100;
export const LAMBDA_ENTRIES = ['webhook', 'archive-worker', 'sweep', 'retention'] as const;

/** As in cdk/constructs/node-function.ts. */
const ESM_REQUIRE_BANNER =
  "import { createRequire as topLevelCreateRequire } from 'node:module'; const require = topLevelCreateRequire(import.meta.url);";

export interface LambdaCostSample {
  entry: string;
  importMs: number[];
  processMs: number[];
  /** The same import without NODE_OPTIONS=--enable-source-maps, to show what source maps cost. */
  importMsWithoutSourceMaps: number[];
}

export interface LambdaCostSummary {
  entry: string;
  bundleBytes: number;
  gzipBytes: number;
  sourceMapBytes: number;
  importMs: ReturnType<typeof summarise>;
  processMs: ReturnType<typeof summarise>;
  importMsWithoutSourceMaps: ReturnType<typeof summarise>;
  /** Whole-process median minus the empty module's: what the bundle adds to a cold start. */
  processOverEmptyMs: number;
}

async function bundle(entry: string, directory: string): Promise<string> {
  const { build } = await import('esbuild');
  const outfile = join(directory, entry, 'index.mjs');
  await build({
    entryPoints: [join(PROJECT_ROOT, 'functions', `${entry}.ts`)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    mainFields: ['module', 'main'],
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    banner: { js: ESM_REQUIRE_BANNER },
    external: [],
    logLevel: 'warning',
  });
  return outfile;
}

/** What Lambda's environment gives the functions, with values good enough for module initialisation. */
function lambdaEnvironment(sourceMaps: boolean): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    NODE_OPTIONS: sourceMaps ? '--enable-source-maps' : '',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_LAMBDA_FUNCTION_NAME: 'callvault-bench',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
    POWERTOOLS_SERVICE_NAME: 'callvault',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    [ENV.runtimeConfig]: JSON.stringify({
      sources: [{ provider: 'telphin', id: 'hq', allowedDownloadHosts: ['storage.telphin.ru'] }],
    }),
    [ENV.bucket]: 'callvault-bench',
    [ENV.queueUrls]: JSON.stringify({
      telphin: 'https://sqs.us-east-1.amazonaws.com/000000000000/callvault-telphin',
    }),
    [ENV.deadLetterQueueUrls]: JSON.stringify({
      telphin: 'https://sqs.us-east-1.amazonaws.com/000000000000/callvault-telphin-dlq',
    }),
    [ENV.sourceSecrets]: JSON.stringify({ hq: 'callvault/hq' }),
  };
}

const PROBE = `
const started = performance.now();
const module = await import(process.argv[1]);
const importMs = performance.now() - started;
if (process.argv[2] === 'handler' && typeof module.handler !== 'function') throw new Error('no handler export');
process.stdout.write(JSON.stringify({ importMs }) + '\\n');
`;

async function coldImport(
  file: string,
  expectHandler: boolean,
  sourceMaps = true,
): Promise<{ importMs: number; processMs: number }> {
  const result = await runToExit(
    process.execPath,
    ['--input-type=module', '-e', PROBE, pathToFileURL(file).href, expectHandler ? 'handler' : 'none'],
    { env: lambdaEnvironment(sourceMaps) },
  );
  if (result.code !== 0) throw new Error(`cold import of ${file} failed (${result.code}): ${result.stderr}`);
  const { importMs } = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as { importMs: number };
  return { importMs, processMs: result.wallMs };
}

export async function measureLambdaCost(
  options: { runs: number },
  progress: (line: string) => void,
): Promise<{ samples: LambdaCostSample[]; summaries: LambdaCostSummary[]; emptyModule: LambdaCostSample }> {
  const directory = await mkdtemp(join(tmpdir(), 'callvault-bench-lambda-'));
  try {
    const files = new Map<string, string>();
    for (const entry of LAMBDA_ENTRIES) files.set(entry, await bundle(entry, directory));
    const empty = join(directory, 'empty.mjs');
    await writeFile(empty, 'export {};\n');

    const samples = new Map<string, LambdaCostSample>(
      ['(empty module)', ...LAMBDA_ENTRIES].map((entry) => [
        entry,
        { entry, importMs: [], processMs: [], importMsWithoutSourceMaps: [] },
      ]),
    );
    // Interleaved, so drifting machine load touches every entry alike.
    for (let run = 0; run < options.runs; run++) {
      for (const [entry, sample] of samples) {
        const file = entry === '(empty module)' ? empty : (files.get(entry) as string);
        const timing = await coldImport(file, entry !== '(empty module)');
        sample.importMs.push(round(timing.importMs, 2));
        sample.processMs.push(round(timing.processMs, 2));
        const plain = await coldImport(file, entry !== '(empty module)', false);
        sample.importMsWithoutSourceMaps.push(round(plain.importMs, 2));
      }
    }
    const emptyModule = samples.get('(empty module)') as LambdaCostSample;
    const emptyProcess = summarise(emptyModule.processMs).median;
    const summaries: LambdaCostSummary[] = [];
    for (const entry of LAMBDA_ENTRIES) {
      const file = files.get(entry) as string;
      const code = await readFile(file);
      const sample = samples.get(entry) as LambdaCostSample;
      const processMs = summarise(sample.processMs);
      const summary: LambdaCostSummary = {
        entry: `functions/${entry}.ts`,
        bundleBytes: code.length,
        gzipBytes: gzipSync(code).length,
        sourceMapBytes: (await stat(`${file}.map`)).size,
        importMs: summarise(sample.importMs),
        processMs,
        importMsWithoutSourceMaps: summarise(sample.importMsWithoutSourceMaps),
        processOverEmptyMs: round(processMs.median - emptyProcess, 1),
      };
      summaries.push(summary);
      progress(
        `lambda ${entry}: ${(summary.bundleBytes / 1024).toFixed(0)} KiB, import ${summary.importMs.median} ms, ` +
          `process ${summary.processMs.median} ms`,
      );
    }
    return {
      samples: [...samples.values()].filter((sample) => sample !== emptyModule),
      summaries,
      emptyModule,
    };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
