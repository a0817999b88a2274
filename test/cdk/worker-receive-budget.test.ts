/**
 * Each worker gives up at the receive budget of the queue it consumes, which the stack passes in its
 * environment: the Teams queue allows the receives of a 48-hour processing wait, far above
 * `worker.maxReceiveCount`, and a worker giving up at the latter would dead-letter recordings Teams is
 * still processing (after about 4–5 hours of not-ready backoff).
 */
import { fileURLToPath } from 'node:url';
import type { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp, loadDeploymentConfig } from '../../cdk/app';
import { queueMaxReceiveCount } from '../../cdk/worker-sizing';
import { queueRoutesFromUrls } from '../../functions/adapters/sqs-batch-processor';
import { ENV, readRuntimeEnvironment } from '../../functions/config';
import { cdkJsonContext } from './support';

const ALL_PROVIDERS_EXAMPLE = fileURLToPath(
  new URL('../../examples/callvault.config.aws-all-providers.json', import.meta.url),
);

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Json = any;

describe("the workers' receive budget", () => {
  it('is, for every queue a worker consumes, that queue’s own redrive maxReceiveCount', () => {
    const config = loadDeploymentConfig(ALL_PROVIDERS_EXAMPLE).config;
    const { stack } = buildApp(config, {
      appProps: cdkJsonContext({ 'aws:cdk:bundling-stacks': [] }),
      nag: false,
    });
    const resources: Record<string, Json> = Template.fromStack(stack).toJSON().Resources;
    const id = (construct: { node: { defaultChild?: unknown } }) =>
      stack.getLogicalId(construct.node.defaultChild as CfnElement);
    const providerOfQueue = new Map(
      [...stack.queues].map(([provider, queue]) => [id(queue.queue), provider] as const),
    );
    const workers = [...stack.workers.values()];
    expect(workers).toHaveLength(3);
    const checked: string[] = [];
    for (const worker of workers) {
      const variables: Record<string, Json> = resources[id(worker)].Properties.Environment.Variables;
      // What the function reads back at run time, queue URLs standing in for the deploy-time values.
      const env = readRuntimeEnvironment({
        ...Object.fromEntries(Object.entries(variables).filter(([, value]) => typeof value === 'string')),
        [ENV.bucket]: 'bucket',
        [ENV.queueUrls]: JSON.stringify(
          Object.fromEntries([...stack.queues.keys()].map((p) => [p, `https://sqs.test/1/${p}-jobs`])),
        ),
        [ENV.deadLetterQueueUrls]: '{}',
        [ENV.sourceSecrets]: '{}',
      });
      const routeFor = queueRoutesFromUrls(env.queueUrls, env.deadLetterQueueUrls, env.maxReceiveCounts);
      const mappings = Object.values(resources).filter(
        (resource) =>
          resource.Type === 'AWS::Lambda::EventSourceMapping' &&
          resource.Properties.FunctionName.Ref === id(worker),
      );
      for (const mapping of mappings) {
        const queueId: string = mapping.Properties.EventSourceArn['Fn::GetAtt'][0];
        const provider = providerOfQueue.get(queueId);
        if (!provider) throw new Error(`no provider queue ${queueId}`);
        const redrive = resources[queueId].Properties.RedrivePolicy.maxReceiveCount;
        const route = routeFor(`arn:aws:sqs:eu-west-1:123456789012:${provider}-jobs`);
        expect({ provider, budget: route?.maxReceiveCount }).toEqual({ provider, budget: redrive });
        checked.push(provider);
      }
    }
    expect(checked.sort()).toEqual(['msgraph', 'msteams', 'ringcentral', 'telphin']);
    // The case that mattered: Teams' budget is the processing wait plus the transient margin.
    const teams = stack.queues.get('msteams');
    if (!teams) throw new Error('expected the msteams queue');
    expect(resources[id(teams.queue)].Properties.RedrivePolicy.maxReceiveCount).toBe(
      queueMaxReceiveCount('msteams', config, config.sources),
    );
    expect(queueMaxReceiveCount('msteams', config, config.sources)).toBeGreaterThan(
      config.worker.maxReceiveCount,
    );
  }, 180_000);
});
