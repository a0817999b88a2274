/**
 * Before/after of the Lambda bundles' cold import, in one run: every entry of two checkouts (this one and
 * `--before`, e.g. a `git worktree` or `git archive` of main) bundled the way each checkout's CDK code
 * bundles it, then imported alternately in fresh `node` processes with `--enable-source-maps`, so machine
 * load touches both sides alike. Prints medians of wall and CPU time, and after/before ratios; the ratios,
 * not the milliseconds, are what carry over between a loaded and a quiet machine.
 *
 *   npx tsx scripts/compare-lambda-bundles.ts --before /tmp/main-copy [--runs 11] [--entries archive-worker,webhook]
 *
 * The `--before` checkout needs its node_modules (a symlink to this one's is enough).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { LAMBDA_ENTRIES } from '../bench/lambda-cost';
import { median, round } from '../bench/lib/stats';
import { ESM_REQUIRE_BANNER } from '../cdk/lambda-bundling';

const { values } = parseArgs({
  options: {
    before: { type: 'string' },
    runs: { type: 'string', default: '11' },
    entries: { type: 'string', default: LAMBDA_ENTRIES.join(',') },
  },
});
if (!values.before) throw new Error('--before <checkout> is required');
const trees = { before: resolve(values.before), after: fileURLToPath(new URL('..', import.meta.url)) };
const entries = values.entries.split(',').map((entry) => entry.trim());
const runs = Number(values.runs);

/** The checkout's own aliases (cdk/lambda-bundling.ts) where it has them; none before they existed. */
async function aliasesOf(root: string): Promise<Record<string, string>> {
  const file = join(root, 'cdk', 'lambda-bundling.ts');
  if (!existsSync(file)) return {};
  const module = (await import(pathToFileURL(file).href)) as { BUNDLE_ALIASES?: Record<string, string> };
  return { ...module.BUNDLE_ALIASES };
}

const PROBE = `
const cpu = process.cpuUsage();
const started = performance.now();
await import(process.argv[1]);
const wallMs = performance.now() - started;
const used = process.cpuUsage(cpu);
process.stdout.write(JSON.stringify({ wallMs, cpuMs: (used.user + used.system) / 1000 }));
`;

const directory = await mkdtemp(join(tmpdir(), 'callvault-compare-lambda-'));
try {
  const bundles: { side: keyof typeof trees; entry: string; file: string; bytes: number }[] = [];
  for (const [side, root] of Object.entries(trees) as [keyof typeof trees, string][]) {
    const alias = await aliasesOf(root);
    for (const entry of entries) {
      const file = join(directory, side, entry, 'index.mjs');
      // As cdk/constructs/node-function.ts bundles (bench/lambda-cost.ts does the same for one checkout).
      await build({
        absWorkingDir: root,
        entryPoints: [join(root, 'functions', `${entry}.ts`)],
        outfile: file,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node24',
        mainFields: ['module', 'main'],
        minify: true,
        sourcemap: true,
        sourcesContent: false,
        banner: { js: ESM_REQUIRE_BANNER },
        alias,
        logLevel: 'error',
      });
      bundles.push({ side, entry, file, bytes: (await readFile(file)).length });
    }
  }
  const empty = join(directory, 'empty.mjs');
  await writeFile(empty, 'export {};\n');
  const env = { PATH: process.env.PATH, NODE_OPTIONS: '--enable-source-maps', AWS_REGION: 'us-east-1' };
  const timings = new Map<string, { wall: number[]; cpu: number[] }>();
  const targets = [
    { key: '(empty module)', file: empty },
    ...bundles.map((b) => ({ key: `${b.side} ${b.entry}`, file: b.file })),
  ];
  for (let run = 0; run < runs; run++) {
    for (const { key, file } of targets) {
      const out = execFileSync(
        process.execPath,
        ['--input-type=module', '-e', PROBE, pathToFileURL(file).href],
        { env },
      );
      const { wallMs, cpuMs } = JSON.parse(out.toString()) as { wallMs: number; cpuMs: number };
      const timing = timings.get(key) ?? { wall: [], cpu: [] };
      timing.wall.push(wallMs);
      timing.cpu.push(cpuMs);
      timings.set(key, timing);
    }
  }
  const of = (key: string) => timings.get(key) as { wall: number[]; cpu: number[] };
  const empty_ = of('(empty module)');
  console.log(
    `${runs} runs, load average ${(await readFile('/proc/loadavg', 'utf8').catch(() => '?')).split(' ').slice(0, 3).join(' ')}`,
  );
  console.log(
    `(empty module): import ${round(median(empty_.wall), 1)} ms, CPU ${round(median(empty_.cpu), 1)} ms`,
  );
  for (const entry of entries) {
    const [before, after] = (['before', 'after'] as const).map((side) => ({
      ...of(`${side} ${entry}`),
      bytes: bundles.find((b) => b.side === side && b.entry === entry)?.bytes ?? 0,
    })) as [
      { wall: number[]; cpu: number[]; bytes: number },
      { wall: number[]; cpu: number[]; bytes: number },
    ];
    const line = (label: string, b: number, a: number, unit: string) =>
      `${label} ${round(b, 1)} → ${round(a, 1)} ${unit} (×${round(a / b, 2)})`;
    console.log(
      `${entry}: ${line('bundle', before.bytes / 1024, after.bytes / 1024, 'KiB')}; ` +
        `${line('import', median(before.wall), median(after.wall), 'ms')}; ` +
        `${line('CPU', median(before.cpu), median(after.cpu), 'ms')}`,
    );
  }
} finally {
  await rm(directory, { recursive: true, force: true });
}
