/**
 * What the operator commands need from a deployed stack, read from its CloudFormation outputs (named in
 * cdk/archive-stack.ts): the bucket, each provider's queue and dead-letter queue, each source's secret.
 */
import { type CloudFormationClient, DescribeStacksCommand, type Stack } from '@aws-sdk/client-cloudformation';
import { PROVIDERS, type ProviderName } from '../core/recording';

export interface DeployedStack {
  stackName: string;
  bucket: string;
  queueUrls: Partial<Record<ProviderName, string>>;
  deadLetterQueueUrls: Partial<Record<ProviderName, string>>;
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
  const queueUrls: Partial<Record<ProviderName, string>> = {};
  const deadLetterQueueUrls: Partial<Record<ProviderName, string>> = {};
  for (const provider of PROVIDERS) {
    const queue = outputs[queueUrlOutput(provider)];
    const deadLetter = outputs[deadLetterQueueUrlOutput(provider)];
    if (queue) queueUrls[provider] = queue;
    if (deadLetter) deadLetterQueueUrls[provider] = deadLetter;
  }
  return {
    stackName,
    bucket,
    queueUrls,
    deadLetterQueueUrls,
    secretNameFor: (id) => outputs[secretNameOutput(id)],
    outputs,
  };
}

/** The provider's queue URL or an error naming the missing output. */
export function requireQueueUrl(stack: DeployedStack, provider: ProviderName): string {
  const url = stack.queueUrls[provider];
  if (!url)
    throw new StackOutputError(
      `stack "${stack.stackName}" has no output ${queueUrlOutput(provider)}: no ${provider} source was deployed (or pass --queue-url)`,
    );
  return url;
}
