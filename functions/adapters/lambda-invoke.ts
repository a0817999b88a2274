/**
 * Hands work to another function without waiting for it: an asynchronous (`Event`) invoke, which Lambda
 * queues and retries on its own. The caller learns only that the event was accepted.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';

export type InvokeAsync = (functionName: string, payload: unknown) => Promise<void>;

export function lambdaInvokeAsync(client: LambdaClient = new LambdaClient({})): InvokeAsync {
  return async (functionName, payload) => {
    const answer = await client.send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'Event',
        Payload: new TextEncoder().encode(JSON.stringify(payload)),
      }),
    );
    // 202 is Lambda's "queued"; anything else means the event was not taken.
    if (answer.StatusCode !== 202) {
      throw new Error(`asynchronous invoke of ${functionName} answered ${answer.StatusCode ?? 'no status'}`);
    }
  };
}
