/**
 * One find question in its own process, as `npm run find` runs it: open DuckDB over the folder, run the
 * question, print `{ms, rows, maxRssMiB}` (and the plan when asked) as one JSON line.
 */
import { DuckDbCatalogue } from '../../functions/adapters/duckdb-catalogue';
import { findQuery } from '../../functions/core/catalogue-query';

const [dir, filtersJson, mode] = process.argv.slice(2);
const filters = JSON.parse(filtersJson ?? '{}');
const started = performance.now();
const engine = await DuckDbCatalogue.open(dir as string);
// As `npm run find` asks: its default --limit.
const rows = await engine.find(filters, { limit: 1000 });
const ms = Math.round(performance.now() - started);
const plan =
  mode === 'explain' ? await engine.explain(findQuery(filters, engine.table, { limit: 1000 })) : undefined;
engine.close();
const maxRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
process.stdout.write(`${JSON.stringify({ ms, rows: rows.length, maxRssMiB, plan })}\n`);
