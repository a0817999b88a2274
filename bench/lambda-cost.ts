/**
 * Measurement 4: what each Lambda entry costs before it does any work: the bundle's size (built as
 * cdk/constructs/node-function.ts has the CDK build it: esbuild, ESM, minified, node24, SDK bundled,
 * external source map) and its cold import time in a fresh `node` process.
 *
 * Cold import: `import()` of the bundle timed inside the process (wall clock, and the CPU time the process
 * spent on it, which a loaded machine inflates far less), and the whole process from spawn to exit timed
 * outside, all as medians; an empty module is timed the same way, interleaved, so Node's own start-up can
 * be subtracted. The bundle's weight per package comes from esbuild's metafile. The environment is the one Lambda gives the functions (NODE_OPTIONS=--enable-source-maps,
 * the CALLVAULT_* variables), so module initialisation runs as deployed. Container start, the runtime's
 * bootstrap and the first handler call (client construction, credentials) are not included.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { BUNDLE_ALIASES, ESM_REQUIRE_BANNER } from '../cdk/lambda-bundling';
import { ENV } from '../functions/config';
import { runToExit } from './lib/processes';
import { round, summarise } from './lib/stats';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Issue 16, item 3: importing the worker bundle, measured as above. */
export const WORKER_COLD_IMPORT_TARGET_MS = 100;
/** Every entry cdk/ bundles (cdk/constructs/*: NodeFunction `entry`). */
export const LAMBDA_ENTRIES = [
  'webhook',
  'archive-worker',
  'sweep',
  'retention',
  'subscriptions',
  'catalogue-compaction',
] as const;
/** Packages (or project folders) shown per bundle: the heaviest, down to this share of the bundle. */
const PACKAGE_SHARE_SHOWN = 0.02;

export interface LambdaCostSample {
  entry: string;
  importMs: number[];
  /** CPU time (user + system, all threads) the process spent in the same `import()`. */
  importCpuMs: number[];
  processMs: number[];
  /** The same import without NODE_OPTIONS=--enable-source-maps, to show what source maps cost. */
  importMsWithoutSourceMaps: number[];
}

export interface LambdaCostSummary {
  entry: string;
  bundleBytes: number;
  gzipBytes: number;
  sourceMapBytes: number;
  /** The heaviest packages in the minified bundle (project code by top folder), largest first. */
  packages: { name: string; bytes: number }[];
  importMs: ReturnType<typeof summarise>;
  importCpuMs: ReturnType<typeof summarise>;
  processMs: ReturnType<typeof summarise>;
  importMsWithoutSourceMaps: ReturnType<typeof summarise>;
  /** Whole-process median minus the empty module's: what the bundle adds to a cold start. */
  processOverEmptyMs: number;
}

interface Bundle {
  file: string;
  packages: { name: string; bytes: number }[];
}

/** `node_modules/@scope/name/...` → `@scope/name`; `functions/core/x.ts` → `functions/core`. */
function packageOf(input: string): string {
  const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  if (inPackage) return inPackage[1] as string;
  return input.split('/').slice(0, 2).join('/');
}

async function bundle(entry: string, directory: string): Promise<Bundle> {
  const { build } = await import('esbuild');
  const outfile = join(directory, entry, 'index.mjs');
  const result = await build({
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
    alias: { ...BUNDLE_ALIASES },
    external: [],
    metafile: true,
    logLevel: 'warning',
  });
  const output = Object.values(result.metafile.outputs).find((candidate) => candidate.entryPoint);
  const weights = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
    const name = packageOf(input);
    weights.set(name, (weights.get(name) ?? 0) + bytesInOutput);
  }
  const total = output?.bytes ?? 0;
  const packages = [...weights]
    .map(([name, bytes]) => ({ name, bytes }))
    .filter(({ bytes }) => bytes >= total * PACKAGE_SHARE_SHOWN)
    .sort((a, b) => b.bytes - a.bytes);
  return { file: outfile, packages };
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
const cpu = process.cpuUsage();
const started = performance.now();
const module = await import(process.argv[1]);
const importMs = performance.now() - started;
const used = process.cpuUsage(cpu);
if (process.argv[2] === 'handler' && typeof module.handler !== 'function') throw new Error('no handler export');
process.stdout.write(JSON.stringify({ importMs, importCpuMs: (used.user + used.system) / 1000 }) + '\\n');
`;

async function coldImport(
  file: string,
  expectHandler: boolean,
  sourceMaps = true,
): Promise<{ importMs: number; importCpuMs: number; processMs: number }> {
  const result = await runToExit(
    process.execPath,
    ['--input-type=module', '-e', PROBE, pathToFileURL(file).href, expectHandler ? 'handler' : 'none'],
    { env: lambdaEnvironment(sourceMaps) },
  );
  if (result.code !== 0) throw new Error(`cold import of ${file} failed (${result.code}): ${result.stderr}`);
  const { importMs, importCpuMs } = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as {
    importMs: number;
    importCpuMs: number;
  };
  return { importMs, importCpuMs, processMs: result.wallMs };
}

export async function measureLambdaCost(
  options: { runs: number },
  progress: (line: string) => void,
): Promise<{ samples: LambdaCostSample[]; summaries: LambdaCostSummary[]; emptyModule: LambdaCostSample }> {
  const directory = await mkdtemp(join(tmpdir(), 'callvault-bench-lambda-'));
  try {
    const bundles = new Map<string, Bundle>();
    for (const entry of LAMBDA_ENTRIES) bundles.set(entry, await bundle(entry, directory));
    const empty = join(directory, 'empty.mjs');
    await writeFile(empty, 'export {};\n');

    const samples = new Map<string, LambdaCostSample>(
      ['(empty module)', ...LAMBDA_ENTRIES].map((entry) => [
        entry,
        { entry, importMs: [], importCpuMs: [], processMs: [], importMsWithoutSourceMaps: [] },
      ]),
    );
    // Interleaved, so drifting machine load touches every entry alike.
    for (let run = 0; run < options.runs; run++) {
      for (const [entry, sample] of samples) {
        const file = entry === '(empty module)' ? empty : (bundles.get(entry) as Bundle).file;
        const timing = await coldImport(file, entry !== '(empty module)');
        sample.importMs.push(round(timing.importMs, 2));
        sample.importCpuMs.push(round(timing.importCpuMs, 2));
        sample.processMs.push(round(timing.processMs, 2));
        const plain = await coldImport(file, entry !== '(empty module)', false);
        sample.importMsWithoutSourceMaps.push(round(plain.importMs, 2));
      }
    }
    const emptyModule = samples.get('(empty module)') as LambdaCostSample;
    const emptyProcess = summarise(emptyModule.processMs).median;
    const summaries: LambdaCostSummary[] = [];
    for (const entry of LAMBDA_ENTRIES) {
      const { file, packages } = bundles.get(entry) as Bundle;
      const code = await readFile(file);
      const sample = samples.get(entry) as LambdaCostSample;
      const processMs = summarise(sample.processMs);
      const summary: LambdaCostSummary = {
        entry: `functions/${entry}.ts`,
        bundleBytes: code.length,
        gzipBytes: gzipSync(code).length,
        sourceMapBytes: (await stat(`${file}.map`)).size,
        packages,
        importMs: summarise(sample.importMs),
        importCpuMs: summarise(sample.importCpuMs),
        processMs,
        importMsWithoutSourceMaps: summarise(sample.importMsWithoutSourceMaps),
        processOverEmptyMs: round(processMs.median - emptyProcess, 1),
      };
      summaries.push(summary);
      progress(
        `lambda ${entry}: ${(summary.bundleBytes / 1024).toFixed(0)} KiB, import ${summary.importMs.median} ms ` +
          `(CPU ${summary.importCpuMs.median} ms), process ${summary.processMs.median} ms; ` +
          packages.map(({ name, bytes }) => `${name} ${(bytes / 1024).toFixed(0)}`).join(', ') +
          ' KiB',
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
