import { ArnFormat, Stack } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

export interface RetentionKillSwitchProps {
  /** Used in the parameter name: `/callvault/{stackName}/retention/kill-switch`. */
  readonly stackName: string;
}

/**
 * The operator's brake on retention deletes: an SSM parameter whose **existence** stops every delete at the
 * source, checked by the retention function before each one. Engage with
 * `aws ssm put-parameter --name <KillSwitchParameterName> --type String --value on`, disengage with
 * `aws ssm delete-parameter --name <KillSwitchParameterName>`; no deploy is needed either way.
 *
 * The stack deliberately creates no such parameter. A parameter in the template is owned by
 * CloudFormation, which rewrites its value whenever the resource is updated, and a tag or stack-tag change
 * is such an update (aws-cdk#25949): a deploy would silently switch an engaged brake back off. A parameter
 * the stack never mentions cannot be touched by any deploy. Its value is ignored (`off` engages it too, so
 * a mistyped value can only stop deletes), and a parameter that cannot be read (denied, throttled, SSM
 * down) also counts as engaged: when in doubt, nothing is deleted.
 */
export class RetentionKillSwitch extends Construct {
  public readonly parameterName: string;
  /** The ARN the parameter will have once an operator creates it; granted before it exists. */
  public readonly parameterArn: string;

  constructor(scope: Construct, id: string, props: RetentionKillSwitchProps) {
    super(scope, id);
    this.parameterName = killSwitchParameterName(props.stackName);
    this.parameterArn = Stack.of(this).formatArn({
      service: 'ssm',
      resource: 'parameter',
      // Names starting with "/" follow "parameter" directly in the ARN, without a second slash.
      resourceName: this.parameterName.slice(1),
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
  }

  /** `ssm:GetParameter` on this one parameter name: what the function's check before each delete needs. */
  grantCheck(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['ssm:GetParameter'], resources: [this.parameterArn] }),
    );
  }
}

export function killSwitchParameterName(stackName: string): string {
  return `/callvault/${stackName}/retention/kill-switch`;
}
