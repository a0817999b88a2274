/**
 * `npm run find` and `npm run catalog` as an operator runs them: a real archive folder (written by the
 * catalogue's own writer from sidecars), the rebuild, and one clear line with exit code 2 for bad input.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../functions/adapters/fs-archive-store';
import { recordingKey } from '../../functions/core/keys';
import type { SourceRecording } from '../../functions/core/recording';
import { buildSidecar } from '../../functions/core/sidecar';

const REPO = resolve(import.meta.dirname, '../..');

function run(
  script: string,
  args: string[],
  config: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(join(REPO, 'node_modules/.bin/tsx'), [script, ...args], {
      cwd: REPO,
      env: { ...process.env, CALLVAULT_CONFIG: config },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

describe('npm run catalog and npm run find', () => {
  let dir: string;
  let config: string;
  let archiveDir: string;
  const recordings: SourceRecording[] = [0, 1, 2, 3].map((index) => ({
    provider: 'telphin',
    sourceId: 'hq',
    recordingId: `call-${index}`,
    startedAt: new Date(Date.UTC(2026, 2, 3 + index * 5, 10, 0, 0)),
    durationSeconds: 60 + index,
    direction: 'inbound',
    from: { number: index % 2 === 0 ? '+1 650 555 0101' : '+1 650 555 0199', name: `Caller ${index}` },
    to: { number: '101', extensionId: '468944' },
    fileExtension: 'mp3',
    raw: {},
  }));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callvault-find-'));
    archiveDir = join(dir, 'archive');
    config = join(dir, 'callvault.config.json');
    await writeFile(
      config,
      JSON.stringify({
        sources: [{ provider: 'telphin', id: 'hq', clientId: 'x', clientSecret: 'y' }],
        local: { archiveDir, stateDir: join(dir, 'state') },
      }),
    );
    // An archive from before the catalogue: recordings and sidecars only.
    const store = new FsArchiveStore({ root: archiveDir });
    for (const recording of recordings) {
      const key = recordingKey(recording);
      await mkdir(join(archiveDir, ...key.split('/').slice(0, -1)), { recursive: true });
      await writeFile(join(archiveDir, key), Buffer.alloc(16));
      await store.putSidecar(
        key,
        buildSidecar(recording, {
          objectKey: key,
          size: 16,
          sha256: 'b'.repeat(64),
          contentType: 'audio/mpeg',
          archivedAt: new Date('2026-04-01T00:00:00Z'),
        }),
      );
    }
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('says when there is no catalogue yet, and names the command that builds it', async () => {
    const answer = await run('scripts/find.ts', ['--number', '+16505550101'], config);
    expect(answer.code).toBe(1);
    expect(answer.stderr).toMatch(/has no catalogue .*npm run catalog -- --rebuild/);
  }, 200_000);

  it('rebuilds from the sidecars, resumably, then answers a number and date range with a path to play', async () => {
    const first = await run('scripts/catalog.ts', ['--rebuild', '--before', '2026-03-10'], config);
    expect(first.stderr).toBe(
      [
        'catalog: hq 2026-03-03: 1 records (1 new); day 1/4',
        'catalog: hq 2026-03-08: 1 records (1 new); day 2/4',
        'catalog: hq 2026-03-13: 1 records (1 new); day 3/4',
        'catalog: hq 2026-03-18: 1 records (1 new); day 4/4',
        'catalog: compacting catalog/recordings/provider=telphin/source=hq/date=2026-03-03/',
        'catalog: compacting catalog/recordings/provider=telphin/source=hq/date=2026-03-08/',
        '',
      ].join('\n'),
    );
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('4 records over 4 days (4 new, 0 already there; 0 days done before)');
    const again = await run('scripts/catalog.ts', ['--rebuild', '--no-compact'], config);
    expect(again.stdout).toContain('0 records over 0 days (0 new, 0 already there; 4 days done before)');
    expect(
      await readdir(join(archiveDir, 'catalog/recordings/provider=telphin/source=hq/date=2026-03-08')),
    ).toEqual(['compacted.json.gz']);

    const found = await run(
      'scripts/find.ts',
      ['--number', '+16505550101', '--from', '2026-03-03', '--to', '2026-03-17', '--csv'],
      config,
    );
    expect(found.code).toBe(0);
    const [header, ...rows] = found.stdout.trim().split('\n');
    expect(header?.split(',').at(-1)).toBe('play');
    expect(rows.map((row) => row.split(',')[4])).toEqual(['call-0', 'call-2']);
    expect(rows[0]?.split(',').at(-1)).toBe(join(archiveDir, recordingKey(recordings[0] as SourceRecording)));

    const json = await run('scripts/find.ts', ['--person', '468944', '--json'], config);
    expect(JSON.parse(json.stdout).map((hit: { recording_id: string }) => hit.recording_id)).toEqual([
      'call-0',
      'call-1',
      'call-2',
      'call-3',
    ]);
  }, 400_000);

  it.each([
    [['--from', '2026-02-30'], /^find: --from "2026-02-30" is not a date/],
    [['--number', 'not-a-number'], /^find: --number "not-a-number" is not a phone number/],
    [['--source', 'elsewhere'], /^find: --source "elsewhere" is not a configured source \(configured: hq\)/],
    [['--from', '2026-03-17', '--to', '2026-03-03'], /^find: --from 2026-03-17 is after --to 2026-03-03/],
  ])(
    'refuses %j with one line naming the flag and exit code 2',
    async (args, message) => {
      const answer = await run('scripts/find.ts', args, config);
      expect(answer.code).toBe(2);
      expect(answer.stderr).toMatch(message);
      expect(answer.stderr.trim().split('\n')).toHaveLength(1);
      expect(answer.stdout).toBe('');
    },
    200_000,
  );
});
