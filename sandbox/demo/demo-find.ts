/**
 * The demo's last step: one `npm run find` question over what it archived, answered from the catalogue the
 * worker wrote beside the recordings, printed as the command prints it.
 */
import { DuckDbCatalogue } from '../../functions/adapters/duckdb-catalogue';
import { catalogueRecordFromSidecar } from '../../functions/core/catalogue';
import type { ArchiveStore, Log } from '../../functions/core/ports';
import { formatText, localHits } from '../../functions/ops/find';

export async function demoFind(options: {
  archiveDir: string;
  store: ArchiveStore;
  /** A recording the demo archived: the question asks for its caller's number on its day. */
  objectKey: string;
  log: Log;
}): Promise<boolean> {
  const say = (line: string) => options.log.info(`[demo] ${line}`);
  const sidecar = await options.store.readSidecar(options.objectKey);
  const record = sidecar && catalogueRecordFromSidecar(sidecar);
  const number = record?.from_number ?? record?.party_numbers[0];
  if (!record || !number) {
    options.log.error('[demo] no archived recording to ask the catalogue about', { key: options.objectKey });
    return false;
  }
  const filters = { number, from: record.date, to: record.date };
  const started = Date.now();
  const engine = await DuckDbCatalogue.open(options.archiveDir);
  try {
    const hits = localHits(await engine.find(filters), options.archiveDir);
    say(`npm run find -- --number ${number} --from ${record.date} --to ${record.date}`);
    const text = formatText(
      hits,
      `${hits.length} hit${hits.length === 1 ? '' : 's'} from the local catalogue in ${Date.now() - started} ms`,
    );
    for (const line of text.trimEnd().split('\n')) say(`  ${line}`);
    return hits.some((hit) => hit.object_key === options.objectKey);
  } finally {
    engine.close();
  }
}
