import { GetParameterCommand, ParameterNotFound, type SSMClient } from '@aws-sdk/client-ssm';
import type { KillSwitch, Log } from '../core/ports';

const ENGAGED_VALUES = new Set(['on', 'true', 'stop', 'engaged', '1']);

/**
 * The kill switch as an SSM parameter: `on` (or true/stop/1) stops every retention delete, checked
 * before each one. A parameter that cannot be read counts as engaged: when in doubt, do not delete.
 */
export class SsmKillSwitch implements KillSwitch {
  constructor(private readonly options: { client: SSMClient; parameterName: string; log: Log }) {}

  async engaged(): Promise<boolean> {
    try {
      const { Parameter } = await this.options.client.send(
        new GetParameterCommand({ Name: this.options.parameterName }),
      );
      return ENGAGED_VALUES.has((Parameter?.Value ?? '').trim().toLowerCase());
    } catch (error) {
      const reason = error instanceof ParameterNotFound ? 'parameter not found' : String(error);
      this.options.log.error('kill switch unreadable: treating it as engaged', {
        parameter: this.options.parameterName,
        reason,
      });
      return true;
    }
  }
}

/** Local mode: a file whose presence stops deletes (`touch .callvault/KILL`), besides the config flag. */
export function fileKillSwitch(path: string, exists: (path: string) => boolean): KillSwitch {
  return { engaged: async () => exists(path) };
}
