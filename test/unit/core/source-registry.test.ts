/**
 * The source registry's credential lifecycle, with a hand-written secret store and a platform that
 * accepts one key at a time: reads are shared, rate-limited and compared by hash; adapters are rebuilt only
 * for changed values; refusals are retried once with renewed credentials.
 */
import { describe, expect, it } from 'vitest';
import { CredentialsNotSetError, TransientError, UnauthenticatedError } from '../../../functions/core/errors';
import type { Log, RecordingSource } from '../../../functions/core/ports';
import type { SourceRecording } from '../../../functions/core/recording';
import {
  CREDENTIALS_MAX_AGE_MS,
  CREDENTIALS_MIN_REREAD_MS,
  type SourceCredentials,
  SourceRegistry,
} from '../../../functions/core/source-registry';

const WINDOW = { from: new Date('2026-03-01T00:00:00Z'), to: new Date('2026-03-02T00:00:00Z') };

function recording(id: string): SourceRecording {
  return {
    provider: 'telphin',
    sourceId: 'hq',
    recordingId: id,
    startedAt: new Date('2026-03-01T10:00:00Z'),
    direction: 'inbound',
    fileExtension: 'mp3',
    raw: {},
  };
}

/** A secret store, a platform accepting one key, a clock, a log: all the registry talks to. */
function world() {
  let nowMs = Date.UTC(2026, 2, 1, 12);
  const state = {
    secret: { key: 'k1', webhook: 'w1' } as Record<string, unknown> | Error,
    platformKey: 'k1',
    reads: 0,
    builds: 0,
    /** Listing yields this many recordings before the platform refuses a stale key. */
    refuseListingAfter: 0,
  };
  const logs: { level: string; message: string; attributes?: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (message: string, attributes?: Record<string, unknown>): void => {
      logs.push({ level, message, attributes });
    };
  const log: Log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };

  function adapterFor(credentials: SourceCredentials): RecordingSource & { key: string } {
    state.builds++;
    const key = String(credentials.values.key);
    const webhook = String(credentials.values.webhook);
    const checkKey = () => {
      if (key !== state.platformKey) throw new UnauthenticatedError('the platform refused the key');
    };
    return {
      key,
      provider: 'telphin',
      sourceId: 'hq',
      async *listRecordings() {
        for (let i = 0; i < state.refuseListingAfter; i++) yield recording(`r${i}`);
        checkKey();
        yield recording('last');
      },
      async resolveHint() {
        checkKey();
        return [recording('hinted')];
      },
      async openDownload() {
        checkKey();
        throw new Error('not used');
      },
      async deleteRecording() {
        checkKey();
        return 'deleted' as const;
      },
      async handleWebhook(request) {
        if (request.query.token !== webhook) throw new UnauthenticatedError('wrong token');
        return { response: { status: 200, body: 'ok' }, jobs: [] };
      },
    };
  }

  const registry = new SourceRegistry({
    sources: [{ provider: 'telphin', id: 'hq' }],
    loadCredentials: async () => {
      state.reads++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (state.secret instanceof Error) throw state.secret;
      return { values: { ...state.secret }, origin: 'the test secret' };
    },
    createSource: (_source, credentials) => adapterFor(credentials),
    clock: { now: () => new Date(nowMs) },
    log,
  });
  return {
    registry,
    state,
    logs,
    pass(ms: number) {
      nowMs += ms;
    },
  };
}

const hint = {
  v: 1 as const,
  type: 'hint' as const,
  provider: 'telphin' as const,
  sourceId: 'hq',
  eventTime: '2026-03-01T10:00:00.000Z',
  hint: {},
};
const webhook = (token: string) => ({ method: 'POST', query: { token }, headers: {}, body: '' });

describe('SourceRegistry credentials', () => {
  it('reads once for any number of concurrent first lookups, and hands out one stable source', async () => {
    const { registry, state } = world();

    const sources = await Promise.all(Array.from({ length: 20 }, () => registry.get('telphin', 'hq')));

    expect(state.reads).toBe(1);
    expect(state.builds).toBe(1);
    expect(new Set(sources).size).toBe(1);
  });

  it('re-reads after the maximum age and keeps the adapter when the values are the same, in any key order', async () => {
    const { registry, state, pass } = world();
    await registry.get('telphin', 'hq');

    pass(CREDENTIALS_MAX_AGE_MS - 1);
    await registry.get('telphin', 'hq');
    expect(state.reads).toBe(1);

    state.secret = { webhook: 'w1', key: 'k1' };
    pass(1);
    await (await registry.get('telphin', 'hq')).resolveHint(hint);
    expect(state.reads).toBe(2);
    expect(state.builds).toBe(1);
  });

  it('keeps the adapter in use, with a warning, when a re-read fails, and tries again after the re-read interval', async () => {
    const { registry, state, logs, pass } = world();
    const source = await registry.get('telphin', 'hq');
    state.secret = new TransientError('Secrets Manager is throttling');

    pass(CREDENTIALS_MAX_AGE_MS);
    await expect(source.resolveHint(hint)).resolves.toHaveLength(1);
    pass(CREDENTIALS_MIN_REREAD_MS - 1);
    await source.resolveHint(hint);
    expect(state.reads).toBe(2);
    pass(1);
    await source.resolveHint(hint);

    expect(state.reads).toBe(3);
    expect(state.builds).toBe(1);
    expect(logs.filter((line) => line.level === 'warn').map((line) => line.message)).toEqual([
      'could not re-read source credentials; keeping the ones in use',
      'could not re-read source credentials; keeping the ones in use',
    ]);
  });

  it('rethrows placeholders as CredentialsNotSetError, logged as an error with its code, without re-reading for every call', async () => {
    const { registry, state, logs, pass } = world();
    state.secret = new CredentialsNotSetError('credentials not set yet: put the real values in secret s');

    for (let i = 0; i < 5; i++) {
      await expect(registry.get('telphin', 'hq')).rejects.toBeInstanceOf(CredentialsNotSetError);
    }
    expect(state.reads).toBe(1);
    expect(logs).toEqual([
      {
        level: 'error',
        message: 'credentials not set yet',
        attributes: {
          provider: 'telphin',
          sourceId: 'hq',
          errorCode: 'CREDENTIALS_NOT_SET',
          detail: 'credentials not set yet: put the real values in secret s',
        },
      },
    ]);

    state.secret = { key: 'k1', webhook: 'w1' };
    pass(CREDENTIALS_MIN_REREAD_MS);
    await expect((await registry.get('telphin', 'hq')).resolveHint(hint)).resolves.toHaveLength(1);
    expect(state.reads).toBe(2);
  });

  it('retries a refused call once with renewed credentials, but not before the re-read interval', async () => {
    const { registry, state, pass } = world();
    const source = await registry.get('telphin', 'hq');
    state.platformKey = 'k2';
    state.secret = { key: 'k2', webhook: 'w1' };

    await expect(source.resolveHint(hint)).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(state.reads).toBe(1);

    pass(CREDENTIALS_MIN_REREAD_MS);
    await expect(source.resolveHint(hint)).resolves.toHaveLength(1);
    expect(state.reads).toBe(2);
    expect(state.builds).toBe(2);
  });

  it('gives up with the refusal when the re-read brings the same values', async () => {
    const { registry, state, pass } = world();
    const source = await registry.get('telphin', 'hq');
    state.platformKey = 'k2';

    pass(CREDENTIALS_MIN_REREAD_MS);
    await expect(source.deleteRecording(recording('x'))).rejects.toThrow('the platform refused the key');
    expect(state.reads).toBe(2);
    expect(state.builds).toBe(1);
  });

  it('renews a listing refused before its first recording, never one refused midway (it would repeat recordings)', async () => {
    const { registry, state, pass } = world();
    const source = await registry.get('telphin', 'hq');
    state.platformKey = 'k2';
    state.secret = { key: 'k2', webhook: 'w1' };
    pass(CREDENTIALS_MIN_REREAD_MS);

    const listed: string[] = [];
    for await (const item of source.listRecordings(WINDOW)) listed.push(item.recordingId);
    expect(listed).toEqual(['last']);

    state.platformKey = 'k3';
    state.secret = { key: 'k3', webhook: 'w1' };
    state.refuseListingAfter = 2;
    pass(CREDENTIALS_MIN_REREAD_MS);
    const midway: string[] = [];
    await expect(async () => {
      for await (const item of source.listRecordings(WINDOW)) midway.push(item.recordingId);
    }).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(midway).toEqual(['r0', 'r1']);
  });

  it('lets concurrent refused webhooks share one re-read', async () => {
    const { registry, state, pass } = world();
    const source = await registry.get('telphin', 'hq');
    state.secret = { key: 'k1', webhook: 'w2' };
    pass(CREDENTIALS_MIN_REREAD_MS);

    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        source.handleWebhook(webhook('w2')).then((outcome) => outcome.response.status),
      ),
    );

    expect(answers).toEqual(Array(10).fill(200));
    expect(state.reads).toBe(2);
    expect(state.builds).toBe(2);
  });
});
