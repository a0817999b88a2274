/**
 * The catalogue's write cost alone, without the layout and DuckDB scales of `--only catalog`:
 *   npx tsx bench/catalog-write.ts [--runs 20]
 * Archives 256 KiB recordings with and without the catalogue write, interleaved in one run, into a local
 * folder and into moto S3; prints the medians, the PUT count per recording and a met/missed verdict.
 */
import { parseArgs } from 'node:util';
import { archiveOverhead } from './catalog';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' } } });
const runs = Math.max(5, Number.parseInt(values.runs ?? '20', 10));
const result = await archiveOverhead(runs, (line) => process.stdout.write(`${line}\n`));
process.stdout.write(`${JSON.stringify(result)}\n`);
