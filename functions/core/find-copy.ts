import { isCopyKeyOf, isSidecarKey, sidecarKey, stemOfCopyKey } from './keys';
import type { ArchivedCopy, ArchiveStore } from './ports';

/**
 * The archived copy of the recording with this stem, whatever its extension: one prefix listing of
 * `{stem}.` (a copy's extension is decided by its content, and older versions named it from a
 * configured format), then the copy itself. Should two copies exist (two writers that saw different
 * content), the one with a sidecar wins, then the older one, so every caller settles on the same copy.
 */
export async function findArchivedCopy(store: ArchiveStore, stem: string): Promise<ArchivedCopy | undefined> {
  const keys: string[] = [];
  for await (const key of store.listKeys(`${stem}.`)) if (isCopyKeyOf(stem, key)) keys.push(key);
  if (keys.length === 0) return undefined;
  if (keys.length === 1) return store.inspect(keys[0] as string);
  const copies = (await Promise.all(keys.sort().map((key) => store.inspect(key)))).filter(
    (copy): copy is ArchivedCopy => copy !== undefined,
  );
  copies.sort(
    (a, b) =>
      Number(b.hasSidecar) - Number(a.hasSidecar) || a.lastModified.getTime() - b.lastModified.getTime(),
  );
  return copies[0];
}

/** The stems under which a set of keys (one folder's listing) holds a copy with its sidecar. */
export function completeStems(keys: Iterable<string>): Set<string> {
  const present = new Set(keys);
  const stems = new Set<string>();
  for (const key of present) {
    if (isSidecarKey(key) || !present.has(sidecarKey(key))) continue;
    const stem = stemOfCopyKey(key);
    if (stem !== undefined) stems.add(stem);
  }
  return stems;
}
