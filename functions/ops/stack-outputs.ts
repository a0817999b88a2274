/**
 * What the operator commands need from a deployed stack, read from its CloudFormation outputs (named here,
 * written by cdk/archive-stack.ts): the bucket, each provider's queue and dead-letter queue (URL and ARN),
 * each source's secret.
 */
import { type CloudFormationClient, DescribeStacksCommand, type Stack } from '@aws-sdk/client-cloudformation';
import type { ProviderName } from '../core/recording';
import { PROVIDER_NAMES } from '../providers';

export interface DeployedStack {
  stackName: string;
  bucket: string;
  queueUrls: Partial<Record<ProviderName, string>>;
  deadLetterQueueUrls: Partial<Record<ProviderName, string>>;
  /** ARNs, for redrive (StartMessageMoveTask names queues by ARN); absent on stacks deployed before them. */
  queueArns: Partial<Record<ProviderName, string>>;
  deadLetterQueueArns: Partial<Record<ProviderName, string>>;
  /** Source id → Secrets Manager secret name, keyed by the output's alphanumeric form of the id. */
  secretNameFor(sourceId: string): string | undefined;
  outputs: Record<string, string>;
}

export class StackOutputError extends Error {
  override name = 'StackOutputError';
}

const capitalise = (value: string) => value.charAt(0).toUpperCase() + value.slice(1);
export const queueUrlOutput = (provider: ProviderName) => `${capitalise(provider)}QueueUrl`;
export const deadLetterQueueUrlOutput = (provider: ProviderName) =>
  `${capitalise(provider)}DeadLetterQueueUrl`;
export const queueArnOutput = (provider: ProviderName) => `${capitalise(provider)}QueueArn`;
export const deadLetterQueueArnOutput = (provider: ProviderName) =>
  `${capitalise(provider)}DeadLetterQueueArn`;
export const secretNameOutput = (sourceId: string) =>
  `SecretName${capitalise(sourceId.replace(/[^A-Za-z0-9]/g, ''))}`;

export async function readDeployedStack(
  client: CloudFormationClient,
  stackName: string,
): Promise<DeployedStack> {
  let stack: Stack | undefined;
  try {
    stack = (await client.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new StackOutputError(
      `cannot describe CloudFormation stack "${stackName}": ${message} (deployed with \`npm run cdk deploy\`? pass --stack <name> or set aws.stackName)`,
    );
  }
  if (!stack)
    throw new StackOutputError(
      `CloudFormation stack "${stackName}" not found (pass --stack <name> or set aws.stackName)`,
    );
  const outputs: Record<string, string> = {};
  for (const output of stack.Outputs ?? [])
    if (output.OutputKey && output.OutputValue) outputs[output.OutputKey] = output.OutputValue;
  const bucket = outputs.BucketName;
  if (!bucket)
    throw new StackOutputError(
      `stack "${stackName}" has no output BucketName; is it a callvault stack, and is the deployment finished (status ${stack.StackStatus})?`,
    );
  const byProvider = (outputName: (provider: ProviderName) => string) => {
    const values: Partial<Record<ProviderName, string>> = {};
    for (const provider of PROVIDER_NAMES) {
      const value = outputs[outputName(provider)];
      if (value) values[provider] = value;
    }
    return values;
  };
  return {
    stackName,
    bucket,
    queueUrls: byProvider(queueUrlOutput),
    deadLetterQueueUrls: byProvider(deadLetterQueueUrlOutput),
    queueArns: byProvider(queueArnOutput),
    deadLetterQueueArns: byProvider(deadLetterQueueArnOutput),
    secretNameFor: (id) => outputs[secretNameOutput(id)],
    outputs,
  };
}

/** The provider's queue URL or an error naming the missing output. */
/** The catalogue's Glue database and Athena workgroup (outputs CatalogDatabase, CatalogWorkgroup). */
export function requireCatalogueOutputs(stack: DeployedStack): { database: string; workgroup: string } {
  const database = stack.outputs.CatalogDatabase;
  const workgroup = stack.outputs.CatalogWorkgroup;
  if (!database || !workgroup)
    throw new StackOutputError(
      `stack "${stack.stackName}" has no catalogue outputs (CatalogDatabase, CatalogWorkgroup); deploy this version first`,
    );
  return { database, workgroup };
}

export function requireQueueUrl(stack: DeployedStack, provider: ProviderName): string {
  const url = stack.queueUrls[provider];
  if (!url)
    throw new StackOutputError(
      `stack "${stack.stackName}" has no output ${queueUrlOutput(provider)}: no ${provider} source was deployed (or pass --queue-url)`,
    );
  return url;
}

/** The queues a redrive moves between, or an error naming every missing output. */
export function requireRedriveQueues(
  stack: DeployedStack,
  provider: ProviderName,
): { queueUrl: string; queueArn: string; deadLetterQueueUrl: string; deadLetterQueueArn: string } {
  const queueUrl = stack.queueUrls[provider];
  const queueArn = stack.queueArns[provider];
  const deadLetterQueueUrl = stack.deadLetterQueueUrls[provider];
  const deadLetterQueueArn = stack.deadLetterQueueArns[provider];
  if (queueUrl && queueArn && deadLetterQueueUrl && deadLetterQueueArn)
    return { queueUrl, queueArn, deadLetterQueueUrl, deadLetterQueueArn };
  const missing = [
    [queueUrlOutput(provider), queueUrl],
    [queueArnOutput(provider), queueArn],
    [deadLetterQueueUrlOutput(provider), deadLetterQueueUrl],
    [deadLetterQueueArnOutput(provider), deadLetterQueueArn],
  ]
    .filter(([, value]) => !value)
    .map(([name]) => name);
  throw new StackOutputError(
    `stack "${stack.stackName}" lacks the output${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: no ${provider} source was deployed, or the stack predates them (deploy again)`,
  );
}
