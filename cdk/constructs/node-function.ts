import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { CfnPolicy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, type CfnFunction, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { BUNDLE_ALIASES, ESM_REQUIRE_BANNER } from '../lambda-bundling';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface NodeFunctionProps {
  /** Entry file relative to the project root, e.g. `functions/webhook.ts`. Its `handler` export is invoked. */
  readonly entry: string;
  /** What the function is for; becomes its description. */
  readonly description: string;
  /** Powertools service name; also tags logs, traces and metrics. */
  readonly serviceName: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  /** Retention of the function's own log group. */
  readonly logRetention: RetentionDays;
  /**
   * Environment variables in addition to `NODE_OPTIONS` and `POWERTOOLS_SERVICE_NAME`.
   * @default - none
   */
  readonly environment?: Record<string, string>;
  /**
   * Concurrency reserved for (and capping) this function.
   * @default - none: the function shares the account's unreserved concurrency
   */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * The one way callvault builds a Lambda function: Node.js 24 on ARM64, ESM bundle made by the local esbuild
 * (never Docker), minified with source maps, X-Ray active, and its own log group and role.
 *
 * The AWS SDK is bundled rather than taken from the runtime: the code is tested against the versions pinned in
 * package-lock.json (lib-storage's multipart behaviour, checksum defaults), and the runtime's copy changes
 * under us without notice. Minified, a bundle is 0.7–0.95 MB; each function's runtime in functions/composition/
 * imports only the SDK clients it uses, because every byte is parsed at cold start (BENCHMARKS.md, "Cold start").
 *
 * The role is built here instead of by `NodejsFunction` so that it carries no AWS managed policy: logs may
 * only be written to the function's own log group.
 */
export class NodeFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: NodeFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention,
      // Logs outlive a torn-down stack: they are the record of what was archived and why something failed.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.description}`,
    });
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );

    super(scope, id, {
      entry: join(PROJECT_ROOT, props.entry),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      tracing: Tracing.ACTIVE,
      logGroup,
      role,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        ...props.environment,
      },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        mainFields: ['module', 'main'],
        target: 'node24',
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        banner: ESM_REQUIRE_BANNER,
        bundleAwsSDK: true,
        externalModules: [],
        esbuildArgs: {
          '--alias': Object.entries(BUNDLE_ALIASES).map(([name, replacement]) => `${name}=${replacement}`),
        },
      },
    });

    // Lambda makes the function depend on its whole role; the GetAtt of the role's ARN already orders the role
    // itself, so only the policy remains (cfn-lint W3005 flags the redundant entry).
    const policy = role.node.tryFindChild('DefaultPolicy')?.node.defaultChild;
    if (policy instanceof CfnPolicy)
      (this.node.defaultChild as CfnFunction).addOverride('DependsOn', [policy.logicalId]);

    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only the X-Ray statement added by `tracing: ACTIVE` uses "*": xray:PutTraceSegments and ' +
        'xray:PutTelemetryRecords do not support resource-level permissions (test/cdk asserts no other action uses "*").',
    });
  }
}
