import { describe, expect, it } from 'vitest';
import { TransientError } from '../../../../functions/core/errors';
import type { SourceRecording } from '../../../../functions/core/recording';
import { inWindow, parseOrSkip, uniqueInWindow } from '../../../../functions/providers/shared/listing';
import { followPages, type Page } from '../../../../functions/providers/shared/paging';

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('followPages', () => {
  it('follows links until a page has none', async () => {
    const pages: Record<string, Page<number>> = {
      a: { items: [1, 2], next: 'b' },
      b: { items: [3], next: '' },
    };
    expect(await collect(followPages('a', async (url) => pages[url] as Page<number>, 'test'))).toEqual([
      1, 2, 3,
    ]);
  });

  it('throws when a link comes back (a loop), after yielding what it saw', async () => {
    const seen: number[] = [];
    const loop = followPages(
      'a',
      async (url) => ({ items: [url === 'a' ? 1 : 2], next: url === 'a' ? 'b' : 'a' }),
      'Loop',
    );
    await expect(
      (async () => {
        for await (const item of loop) seen.push(item);
      })(),
    ).rejects.toThrow(new TransientError('Loop paging did not end (page 3)'));
    expect(seen).toEqual([1, 2]);
  });

  it('throws at the cap even when every link is new', async () => {
    let n = 0;
    const endless = followPages('p0', async () => ({ items: [n], next: `p${++n}` }), 'Endless', 5);
    await expect(collect(endless)).rejects.toThrow(/Endless paging did not end \(page 6\)/);
  });
});

function recording(id: string, iso: string): SourceRecording {
  return { recordingId: id, startedAt: new Date(iso) } as SourceRecording;
}

describe('listing hygiene', () => {
  const window = { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-02T00:00:00Z') };

  it('keeps each id once, and only recordings that started inside [from, to)', () => {
    const keep = uniqueInWindow(window);
    const listed = [
      recording('a', '2026-01-01T00:00:00Z'),
      recording('a', '2026-01-01T01:00:00Z'),
      recording('b', '2025-12-31T23:59:59Z'),
      recording('c', '2026-01-02T00:00:00Z'),
      undefined,
      recording('d', '2026-01-01T23:59:59Z'),
    ];
    expect(listed.filter(keep).map((r) => r?.recordingId)).toEqual(['a', 'd']);
    expect(inWindow(recording('e', '2026-01-02T00:00:00Z'), window)).toBe(false);
  });

  it('parse-or-skip returns the parse, or undefined with one warning naming the record', () => {
    const warnings: unknown[] = [];
    const log = {
      debug() {},
      info() {},
      error() {},
      warn: (message: string, fields?: unknown) => warnings.push({ message, fields }),
    };
    expect(parseOrSkip(() => 42, log, 'skip', {})).toBe(42);
    const skipped = parseOrSkip(
      () => {
        throw new Error('no id');
      },
      log,
      'skipping malformed record',
      { sourceId: 's' },
    );
    expect(skipped).toBeUndefined();
    expect(warnings).toEqual([
      { message: 'skipping malformed record', fields: { sourceId: 's', reason: 'no id' } },
    ]);
  });
});
