/**
 * `npm start`: runs functions/local/main.ts from a prebuilt bundle instead of transpiling TypeScript at
 * every start. The bundle (esbuild, ESM, code split so that what a run does not use is never loaded) is
 * built on demand into node_modules/.cache/callvault/start/ and rebuilt whenever one of the project files it
 * was built from, package.json or package-lock.json changed, so a fresh clone needs nothing but `npm start`.
 * It runs in this process: signals reach callvault directly, as they did with `node --import tsx`.
 * Measured in BENCHMARKS.md ("Local path"): less time before the first byte and a smaller process.
 *
 * Plain JavaScript, so nothing has to be transpiled to start it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ENTRY = join(ROOT, 'functions', 'local', 'main.ts');
/** Inside the project's node_modules, so the bundle resolves its external packages from there. */
const CACHE = join(ROOT, 'node_modules', '.cache', 'callvault', 'start');
const CURRENT = join(CACHE, 'current.json');
/** Builds this much older than the current one are removed (a running `npm start` may still load chunks). */
const OLD_BUILD_MS = 24 * 3_600_000;
/** Always part of the stamp: a changed dependency tree changes the bundle without changing a source file. */
const ALWAYS_CHECKED = ['package.json', 'package-lock.json', 'scripts/start.mjs', 'tsconfig.json'];

/** `path → mtime:size` of every file the stamp covers; undefined when one of them is gone. */
function fingerprint(files) {
  const stamp = {};
  for (const file of files) {
    try {
      const stats = statSync(join(ROOT, file));
      stamp[file] = `${stats.mtimeMs}:${stats.size}`;
    } catch {
      return undefined;
    }
  }
  return stamp;
}

function sameStamp(a, b) {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}

/** The current build's entry file when it is up to date, else undefined. */
function upToDateBuild() {
  let current;
  try {
    current = JSON.parse(readFileSync(CURRENT, 'utf8'));
  } catch {
    return undefined;
  }
  const now = fingerprint(Object.keys(current.stamp ?? {}));
  return now && sameStamp(now, current.stamp) ? join(CACHE, current.directory, 'main.js') : undefined;
}

async function build() {
  const { build: esbuild } = await import('esbuild');
  const directory = `build-${Date.now()}-${randomBytes(4).toString('hex')}`;
  const outdir = join(CACHE, directory);
  const result = await esbuild({
    absWorkingDir: ROOT,
    entryPoints: [ENTRY],
    outdir,
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    mainFields: ['module', 'main'],
    // DuckDB is a native addon: it stays a package, loaded from node_modules when a search needs it.
    external: ['@duckdb/*'],
    // CommonJS dependencies of the SDK call require() for Node built-ins.
    banner: {
      js: "import { createRequire as __callvaultCreateRequire } from 'node:module'; const require = __callvaultCreateRequire(import.meta.url);",
    },
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    logLevel: 'warning',
  });
  const sources = Object.keys(result.metafile.inputs)
    .map((input) => relative(ROOT, join(ROOT, input)))
    .filter((input) => !input.startsWith('node_modules') && !input.startsWith('..'));
  const stamp = fingerprint([...new Set([...sources, ...ALWAYS_CHECKED])]);
  // Another `npm start` may build at the same time: each writes its own folder and the last rename wins.
  const temporary = join(CACHE, `current-${directory}.json`);
  writeFileSync(temporary, JSON.stringify({ directory, stamp }));
  renameSync(temporary, CURRENT);
  removeOldBuilds(directory);
  return join(outdir, 'main.js');
}

function removeOldBuilds(keep) {
  for (const name of readdirSync(CACHE)) {
    if (!name.startsWith('build-') || name === keep) continue;
    const path = join(CACHE, name);
    try {
      if (Date.now() - statSync(path).mtimeMs > OLD_BUILD_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // Removed by another start meanwhile.
    }
  }
}

mkdirSync(CACHE, { recursive: true });
const entry = upToDateBuild() ?? (await build());
await import(pathToFileURL(entry).href);
