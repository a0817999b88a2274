import { GetParameterCommand, ParameterNotFound, type SSMClient } from '@aws-sdk/client-ssm';
import type { KillSwitch, Log } from '../core/ports';

/**
 * The kill switch as an SSM parameter that the stack never creates: while it **exists**, whatever its
 * value, every retention delete stops; only its absence (ParameterNotFound) lets deletes go on. Checked
 * before each delete. Any other failure to read it (denied, throttled, SSM down) counts as engaged: when in
 * doubt, do not delete.
 *
 * Existence rather than a value, because a value the stack wrote would belong to CloudFormation, and
 * CloudFormation rewrites it on updates as small as a tag change: a deploy could disengage the brake.
 */
export class SsmKillSwitch implements KillSwitch {
  constructor(private readonly options: { client: SSMClient; parameterName: string; log: Log }) {}

  async engaged(): Promise<boolean> {
    const { client, parameterName, log } = this.options;
    let value: string | undefined;
    try {
      value = (await client.send(new GetParameterCommand({ Name: parameterName }))).Parameter?.Value;
    } catch (error) {
      if (error instanceof ParameterNotFound) return false;
      log.error('kill switch unreadable: treating it as engaged', {
        parameter: parameterName,
        reason: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
      return true;
    }
    // The value is the operator's note; it never disengages, not even "off".
    log.warn('kill switch engaged: the parameter exists; delete it to let retention delete again', {
      parameter: parameterName,
      value: value?.slice(0, 100),
    });
    return true;
  }
}

/** Local mode: a file whose presence stops deletes (`touch .callvault/KILL`), besides the config flag. */
export function fileKillSwitch(path: string, exists: (path: string) => boolean): KillSwitch {
  return { engaged: async () => exists(path) };
}
