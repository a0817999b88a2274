/**
 * The console's hold and release: one recording at a time through the same `applyHold` as
 * `npm run hold` (its audit record names the operator, the console and the question that showed the
 * recording), and which of a page of hits are held.
 */
import { userInfo } from 'node:os';
import {
  applyHold,
  type HoldPorts,
  type HoldRegistry,
  holdTargetsFromRows,
  PROTECTION_TEXT,
} from '../core/legal-hold';
import { type ConsoleHold, ConsoleRequestError } from './console-server';

/** Who holds from the console: the operator's user name on this machine. */
export function consoleActor(): string {
  let name = 'unknown';
  try {
    name = userInfo().username;
  } catch {
    // No passwd entry (a container's numeric user): still audited as "unknown".
  }
  return `${name} (npm run console)`;
}

export function consoleHold(ports: HoldPorts, actor: string): ConsoleHold {
  return async (row, { release, query }) => {
    const { targets } = holdTargetsFromRows([row]);
    const target = targets[0];
    if (!target)
      throw new ConsoleRequestError(409, `${row.recording_id} is ${row.status}: there is no copy to hold`);
    const report = await applyHold({ targets: [target], release, dryRun: false, actor, query }, ports);
    const result = report.results[0];
    if (!result || result.outcome === 'failed')
      throw new ConsoleRequestError(500, `the ${report.action} failed: ${result?.detail ?? 'no result'}`);
    if (result.outcome === 'no-copy')
      throw new ConsoleRequestError(409, result.detail ?? `no copy at ${target.objectKey}`);
    return {
      objectKey: target.objectKey,
      held: result.outcome === 'held' || result.outcome === 'already-held',
      outcome: result.outcome,
      protection: PROTECTION_TEXT[report.protection],
    };
  };
}

/** The keys among `objectKeys` that a hold record names. */
export function heldKeysFrom(
  registry: HoldRegistry,
): (objectKeys: readonly string[]) => Promise<ReadonlySet<string>> {
  return async (objectKeys) => {
    const held = new Set<string>();
    for (const key of new Set(objectKeys)) if (await registry.isHeld(key)) held.add(key);
    return held;
  };
}
