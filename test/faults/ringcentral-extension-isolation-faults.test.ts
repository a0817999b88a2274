/**
 * One RingCentral extension in the `extensions` scope that the app's user may not read (its call log
 * answers 403) must not stop the sweep of the others: they are archived, the run is partial with that
 * extension and RingCentral's answer, and `npm run status` names it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsRunLedger } from '../../functions/adapters/run-ledgers';
import { type CallvaultConfig, parseConfig } from '../../functions/config';
import { scopeFailuresOf } from '../../functions/core/listing-scopes';
import { silentLog } from '../../functions/core/ports';
import { type LocalHost, startLocalHost } from '../../functions/local/local-host';
import { localStatusDependencies } from '../../functions/ops/status-dependencies';
import { collectStatus } from '../../functions/ops/status-report';
import { formatStatus } from '../../functions/ops/status-table';
import {
  type RingCentralSandbox,
  startRingCentralSandbox,
} from '../../sandbox/providers/ringcentral-sandbox';

const SOURCE_ID = 'rc-isolation';
const HOUR_MS = 3_600_000;
/** The sandbox's default directory: 101 John Snow, 102 Arya Stark. */
const EXT_101 = 727097016;
const EXT_102 = 727097017;

describe('RingCentral: one extension of the scope refused', () => {
  let sandbox: RingCentralSandbox | undefined;
  let host: LocalHost | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await host?.stop();
    host = undefined;
    await sandbox?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('archives the other extension, records the refused one as not covered, and shows it in status', async () => {
    const rc = await startRingCentralSandbox();
    sandbox = rc;
    const root = await mkdtemp(join(tmpdir(), 'callvault-rc-isolation-'));
    dir = root;
    const now = Date.now();
    const refused = [1, 2].map((i) =>
      rc.addCall({ kind: 'inbound', extensionId: EXT_101, startedAt: new Date(now - i * HOUR_MS) }),
    );
    const served = [3, 4].map((i) =>
      rc.addCall({ kind: 'inbound', extensionId: EXT_102, startedAt: new Date(now - i * HOUR_MS) }),
    );
    rc.refuseExtensionCallLog(EXT_101);
    const config: CallvaultConfig = parseConfig({
      sources: [
        {
          provider: 'ringcentral',
          id: SOURCE_ID,
          serverUrl: rc.url,
          mediaUrl: rc.mediaUrl,
          clientId: rc.clientId,
          clientSecret: rc.clientSecret,
          jwt: rc.jwt,
          scope: { account: '~', extensions: ['101', '102'] },
          rateLimits: { heavyPerMinute: 600 },
        },
      ],
      local: { port: 0, archiveDir: join(root, 'archive'), stateDir: join(root, 'state') },
      sweep: { lookbackHours: 24 },
      worker: { concurrency: 2 },
    });

    host = await startLocalHost({ config, log: silentLog, scheduleSweep: false });
    const [result] = await host.sweepNow();
    await host.idle();

    const archived = new Set<string>();
    for await (const key of host.store.listKeys?.(`recordings/ringcentral/${SOURCE_ID}/`) ?? []) {
      if (!key.endsWith('.json')) archived.add(key);
    }
    const idsIn = (keys: Set<string>) =>
      [...keys].map((key) => key.slice(key.lastIndexOf('/') + 1, key.indexOf('.', key.lastIndexOf('/'))));
    expect(idsIn(archived).sort()).toEqual(served.map((call) => call.recording?.id).sort());
    expect(refused.every((call) => call.recording)).toBe(true);
    expect(result?.notCovered.map((failure) => failure.label)).toEqual(['extension 101']);

    const run = await new FsRunLedger({ root: join(root, 'archive') }).last('sweep', SOURCE_ID);
    expect(run?.outcome).toBe('partial');
    const [failure] = scopeFailuresOf(run?.summary);
    expect(failure?.code).toBe('PERMANENT');
    expect(failure?.reason).toContain('ReadCallLog');
    const text = formatStatus(await collectStatus(localStatusDependencies({ config, days: 1 })));
    expect(text).toMatch(/! not covered by the last sweep \(1;/);
    expect(text).toMatch(
      /extension 101: since \S+, 1 sweep: RingCentral refused the call log of extension 101/,
    );

    // Lifted: the next sweep archives the refused extension's calls too.
    rc.refuseExtensionCallLog(EXT_101, false);
    await host.sweepNow();
    await host.idle();
    const after = new Set<string>();
    for await (const key of host.store.listKeys?.(`recordings/ringcentral/${SOURCE_ID}/`) ?? []) {
      if (!key.endsWith('.json')) after.add(key);
    }
    expect(after.size).toBe(refused.length + served.length);
    expect((await new FsRunLedger({ root: join(root, 'archive') }).last('sweep', SOURCE_ID))?.outcome).toBe(
      'ok',
    );
  }, 90_000);
});
