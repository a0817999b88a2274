import { TransientError } from '../../core/errors';

/** One page of a collection: its items, and the link to the next page when there is one. */
export interface Page<T> {
  items: readonly T[];
  next?: string;
}

/** Every item from `firstUrl` on; a repeated link or too many pages throws: a stopped listing looks whole. */
export async function* followPages<T>(
  firstUrl: string,
  fetchPage: (url: string) => Promise<Page<T>>,
  what: string,
  maxPages = 10_000,
): AsyncIterable<T> {
  const visited = new Set<string>();
  let url: string | undefined = firstUrl;
  while (url) {
    if (visited.has(url) || visited.size >= maxPages) {
      throw new TransientError(`${what} paging did not end (page ${visited.size + 1})`);
    }
    visited.add(url);
    const page = await fetchPage(url);
    yield* page.items;
    url = page.next; // '' ends the listing like undefined
  }
}

/** A link field's value when it is a non-empty string. */
export function nextLink(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
