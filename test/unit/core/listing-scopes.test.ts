import { describe, expect, it } from 'vitest';
import {
  NotReadyError,
  PermanentError,
  RateLimitedError,
  TransientError,
  UnauthenticatedError,
} from '../../../functions/core/errors';
import { listRecordingsByScope, scopeFailure } from '../../../functions/core/listing-scopes';
import type { ListingScope, RecordingSource } from '../../../functions/core/ports';
import type { SourceRecording, TimeWindow } from '../../../functions/core/recording';

const WINDOW: TimeWindow = { from: new Date('2026-03-01T00:00:00Z'), to: new Date('2026-03-02T00:00:00Z') };

/** A source of named parts; each part yields one recording or throws what it is given. */
function partsSource(parts: Record<string, Error | undefined>): RecordingSource & { listed: string[] } {
  const listed: string[] = [];
  const scopes: ListingScope[] = Object.keys(parts).map((id) => ({ id, subject: id, label: `user ${id}` }));
  return {
    listed,
    provider: 'msteams',
    sourceId: 'parts',
    async listingScopes() {
      return scopes;
    },
    async *listRecordings(_window: TimeWindow, _signal?: AbortSignal, scope?: ListingScope) {
      if (!scope) throw new Error('listed whole');
      listed.push(scope.id);
      const failure = parts[scope.id];
      if (failure) throw failure;
      yield { recordingId: scope.id } as unknown as SourceRecording;
    },
    resolveHint: async () => [],
    openDownload: async () => {
      throw new Error('unused');
    },
    deleteRecording: async () => 'already-gone',
    handleWebhook: async () => {
      throw new Error('unused');
    },
  };
}

async function run(source: RecordingSource, subjects?: string[]) {
  const failures: string[] = [];
  const ids: string[] = [];
  const listing = listRecordingsByScope(source, WINDOW, {
    subjects,
    onFailure: ({ scope, error }) => failures.push(`${scope.id}:${error.code}`),
  });
  for await (const recording of listing) ids.push(recording.recordingId);
  return { ids, failures };
}

describe('listRecordingsByScope', () => {
  it('reports a refused or missing part and lists the others', async () => {
    const source = partsSource({
      a: undefined,
      b: new PermanentError('403 no application access policy'),
      c: new NotReadyError('404 user'),
      d: undefined,
    });
    expect(await run(source)).toEqual({ ids: ['a', 'd'], failures: ['b:PERMANENT', 'c:NOT_READY'] });
  });

  it('stops the source on what every part would share: refused credentials, a rate limit', async () => {
    for (const shared of [new UnauthenticatedError('401'), new RateLimitedError('429', 30)]) {
      const source = partsSource({ a: undefined, b: shared, c: undefined });
      await expect(run(source)).rejects.toBe(shared);
      expect(source.listed).toEqual(['a', 'b']);
    }
  });

  it('stops after three parts in a row fail with server errors: the platform is down, not one user', async () => {
    const source = partsSource({
      a: new TransientError('503'),
      b: new TransientError('503'),
      c: new TransientError('503'),
      d: undefined,
    });
    await expect(run(source)).rejects.toThrow(/3 parts in a row failed with transient faults/);
    expect(source.listed).toEqual(['a', 'b', 'c']);
  });

  it('lists only the parts of the subjects asked for, and the whole source when none matches', async () => {
    const source = partsSource({ a: undefined, b: undefined });
    expect((await run(source, ['B'])).ids).toEqual(['b']);
    expect((await run(source, ['nobody'])).ids).toEqual(['a', 'b']);
  });

  it('keeps the earliest since-instant and counts the attempts of a part that keeps failing', () => {
    const scope = { id: 'u/onlineMeetings', subject: 'u', label: 'u meeting recordings' };
    const at = new Date('2026-03-02T00:00:00Z');
    const first = scopeFailure(scope, new PermanentError('403'), WINDOW, at, undefined);
    const later = { from: new Date('2026-03-05T00:00:00Z'), to: new Date('2026-03-06T00:00:00Z') };
    const second = scopeFailure(scope, new PermanentError('403'), later, at, first);
    expect(first).toMatchObject({ since: '2026-03-01T00:00:00.000Z', attempts: 1 });
    expect(second).toMatchObject({ since: '2026-03-01T00:00:00.000Z', attempts: 2 });
  });
});

describe('listRecordingsByScope with listingConcurrency', () => {
  /** Parts that take a while; counts how many are being listed at once, and which were stopped. */
  function slowParts(count: number, concurrency: number, failures: Record<string, Error> = {}) {
    const state = { running: 0, most: 0, stopped: [] as string[] };
    const scopes: ListingScope[] = Array.from({ length: count }, (_, i) => ({
      id: `p${i}`,
      subject: `p${i}`,
      label: `part ${i}`,
    }));
    const source: RecordingSource = {
      provider: 'msteams',
      sourceId: 'slow',
      listingConcurrency: concurrency,
      listingScopes: async () => scopes,
      async *listRecordings(_window: TimeWindow, signal?: AbortSignal, scope?: ListingScope) {
        const id = scope?.id ?? 'whole';
        state.running += 1;
        state.most = Math.max(state.most, state.running);
        try {
          await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(resolve, 5 + (Number(id.slice(1)) % 3) * 5);
            signal?.addEventListener('abort', () => {
              clearTimeout(timer);
              state.stopped.push(id);
              reject(new Error('aborted'));
            });
          });
          const failure = failures[id];
          if (failure) throw failure;
          yield { recordingId: `${id}-1` } as unknown as SourceRecording;
          yield { recordingId: `${id}-2` } as unknown as SourceRecording;
        } finally {
          state.running -= 1;
        }
      },
      resolveHint: async () => [],
      openDownload: async () => {
        throw new Error('unused');
      },
      deleteRecording: async () => 'already-gone',
      handleWebhook: async () => {
        throw new Error('unused');
      },
    };
    return { source, state };
  }

  it('lists at most listingConcurrency parts at once, every part whole, a refused part reported alone', async () => {
    const { source, state } = slowParts(30, 4, {
      p7: new PermanentError('403 no application access policy'),
    });

    const { ids, failures } = await run(source);

    expect(state.most).toBe(4);
    expect(failures).toEqual(['p7:PERMANENT']);
    const expected = Array.from({ length: 30 }, (_, i) => i)
      .filter((i) => i !== 7)
      .flatMap((i) => [`p${i}-1`, `p${i}-2`]);
    expect([...ids].sort()).toEqual(expected.sort());
  });

  it('stops on a source-wide failure and stops the parts still being listed', async () => {
    const limit = new RateLimitedError('429', 60);
    const { source, state } = slowParts(30, 5, { p2: limit });

    await expect(run(source)).rejects.toBe(limit);

    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(state.running).toBe(0);
    expect(state.stopped.length).toBeGreaterThan(0);
  });
});
