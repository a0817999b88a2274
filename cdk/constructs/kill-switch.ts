import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { ParameterTier, StringParameter } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';

/** The value the stack writes: deletes allowed. Anything in `on`/`true`/`stop`/`engaged`/`1` stops them. */
export const KILL_SWITCH_OFF = 'off';

export interface RetentionKillSwitchProps {
  /** Used in the parameter name: `/callvault/{stackName}/retention/kill-switch`. */
  readonly stackName: string;
}

/**
 * The operator's brake on retention deletes: an SSM String parameter the retention function reads before
 * every delete at the source. `aws ssm put-parameter --overwrite --name <KillSwitchParameterName> --value on`
 * stops deletes at once, without a deploy; `off` lets them continue. The function also treats a parameter it
 * cannot read (missing, denied, SSM down) as engaged: when in doubt, nothing is deleted.
 *
 * The stack creates the parameter with `off` and never changes it afterwards, so an operator's `on` survives
 * later deploys (CloudFormation only rewrites the value when the resource's own properties change: keep them
 * fixed here, or a deploy would switch a brake that an operator engaged back off).
 */
export class RetentionKillSwitch extends Construct {
  public readonly parameter: StringParameter;
  public readonly parameterName: string;

  constructor(scope: Construct, id: string, props: RetentionKillSwitchProps) {
    super(scope, id);
    this.parameterName = `/callvault/${props.stackName}/retention/kill-switch`;
    this.parameter = new StringParameter(this, 'Parameter', {
      parameterName: this.parameterName,
      stringValue: KILL_SWITCH_OFF,
      tier: ParameterTier.STANDARD,
      description:
        'callvault retention kill switch: set to "on" to stop every delete at the source at once; "off" allows them',
    });
  }

  /** `ssm:GetParameter` on this one parameter: what the function's check before each delete needs. */
  grantCheck(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['ssm:GetParameter'], resources: [this.parameter.parameterArn] }),
    );
  }
}
