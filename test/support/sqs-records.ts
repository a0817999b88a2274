/**
 * Plays the part of Lambda's SQS event source against a real SQS-compatible server: receive messages,
 * hand them over in the `SQSRecord` shape Lambda uses, and delete the ones the batch response did not
 * report as failed.
 */
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import { TEST_REGION } from './moto';

export interface TestQueue {
  url: string;
  arn: string;
}

export async function queueArn(client: SQSClient, queueUrl: string): Promise<string> {
  const output = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  const arn = output.Attributes?.QueueArn;
  if (!arn) throw new Error(`no QueueArn for ${queueUrl}`);
  return arn;
}

/** A queue, optionally redriving to `deadLetter` after `maxReceiveCount` receives. */
export async function createQueue(
  client: SQSClient,
  name: string,
  options: { deadLetter?: TestQueue; maxReceiveCount?: number; visibilityTimeoutSeconds?: number } = {},
): Promise<TestQueue> {
  const attributes: Record<string, string> = {
    VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 30),
  };
  if (options.deadLetter) {
    attributes.RedrivePolicy = JSON.stringify({
      deadLetterTargetArn: options.deadLetter.arn,
      maxReceiveCount: options.maxReceiveCount ?? 3,
    });
  }
  const output = await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  if (!output.QueueUrl) throw new Error(`CreateQueue ${name} returned no URL`);
  return { url: output.QueueUrl, arn: await queueArn(client, output.QueueUrl) };
}

/** Converts ReceiveMessage output (with system and message attributes) into Lambda's record shape. */
export function toSqsRecords(
  messages: readonly Message[],
  eventSourceARN: string,
  awsRegion = TEST_REGION,
): SQSRecord[] {
  return messages.map((message) => {
    if (!message.MessageId || !message.ReceiptHandle || message.Body === undefined) {
      throw new Error('ReceiveMessage returned a message without id, receipt handle or body');
    }
    const system = message.Attributes ?? {};
    const messageAttributes: SQSMessageAttributes = {};
    for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
      messageAttributes[name] = {
        dataType: value.DataType ?? 'String',
        stringValue: value.StringValue,
        binaryValue: value.BinaryValue ? Buffer.from(value.BinaryValue).toString('base64') : undefined,
        stringListValues: [],
        binaryListValues: [],
      };
    }
    return {
      messageId: message.MessageId,
      receiptHandle: message.ReceiptHandle,
      body: message.Body,
      attributes: {
        ApproximateReceiveCount: system.ApproximateReceiveCount ?? '1',
        SentTimestamp: system.SentTimestamp ?? '',
        SenderId: system.SenderId ?? '',
        ApproximateFirstReceiveTimestamp: system.ApproximateFirstReceiveTimestamp ?? '',
      },
      messageAttributes,
      md5OfBody: message.MD5OfBody ?? '',
      md5OfMessageAttributes: message.MD5OfMessageAttributes,
      eventSource: 'aws:sqs',
      eventSourceARN,
      awsRegion,
    };
  });
}

/** One ReceiveMessage call, as the event source would make it, returned as records. */
export async function receiveRecords(
  client: SQSClient,
  queue: TestQueue,
  options: { maxMessages?: number; waitTimeSeconds?: number; visibilityTimeoutSeconds?: number } = {},
): Promise<SQSRecord[]> {
  const output = await client.send(
    new ReceiveMessageCommand({
      QueueUrl: queue.url,
      MaxNumberOfMessages: options.maxMessages ?? 10,
      WaitTimeSeconds: options.waitTimeSeconds ?? 0,
      VisibilityTimeout: options.visibilityTimeoutSeconds,
      MessageSystemAttributeNames: ['All'],
      MessageAttributeNames: ['All'],
    }),
  );
  return toSqsRecords(output.Messages ?? [], queue.arn);
}

/** Receives until `count` messages arrived or `timeoutMs` passed (SQS may return fewer per call). */
export async function receiveAtLeast(
  client: SQSClient,
  queue: TestQueue,
  count: number,
  timeoutMs = 5000,
): Promise<SQSRecord[]> {
  const records: SQSRecord[] = [];
  const deadline = Date.now() + timeoutMs;
  while (records.length < count && Date.now() < deadline) {
    records.push(...(await receiveRecords(client, queue, { waitTimeSeconds: 1 })));
  }
  return records;
}

/** What Lambda does with a partial batch response: delete every record not reported as failed. */
export async function deleteSucceeded(
  client: SQSClient,
  queue: TestQueue,
  records: readonly SQSRecord[],
  response: SQSBatchResponse,
): Promise<void> {
  const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
  const done = records.filter((record) => !failed.has(record.messageId));
  for (let i = 0; i < done.length; i += 10) {
    const output = await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queue.url,
        Entries: done
          .slice(i, i + 10)
          .map((record, index) => ({ Id: String(index), ReceiptHandle: record.receiptHandle })),
      }),
    );
    if (output.Failed?.length)
      throw new Error(`DeleteMessageBatch failed for ${output.Failed.length} entries`);
  }
}

/** Messages on a queue in any state: visible, in flight and delayed. */
export async function queueDepth(client: SQSClient, queue: TestQueue): Promise<number> {
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queue.url,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesDelayed ?? 0)
  );
}
