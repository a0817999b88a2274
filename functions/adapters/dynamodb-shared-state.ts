/**
 * Provider sessions and rate gates shared by every Lambda container of a source, in one small DynamoDB
 * table (partition key `pk`, TTL attribute `expiresAt`, encrypted with the stack's KMS key). Every write
 * that decides something is conditional, so two containers can never both renew a token or take the
 * same rate slot.
 */

import { createHash } from 'node:crypto';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { SubscriptionRecord, SubscriptionRecords } from '../core/ensure-subscriptions-for-source';
import { TransientError } from '../core/errors';
import {
  type GateReservation,
  type GateState,
  learnGateInterval,
  type RateGateStore,
  reserveSlot,
  type TokenRecord,
  type TokenStore,
} from '../core/shared-state';

/** The table's key and TTL attribute names; the CDK construct creates the table with the same. */
export const SHARED_STATE_TABLE = { partitionKey: 'pk', timeToLive: 'expiresAt' } as const;

/** Items outlive what they describe by a day, then DynamoDB's TTL removes them. */
type DynamoCommand = GetItemCommand | PutItemCommand | DeleteItemCommand;

const LINGER_SECONDS = 86_400;
/** Optimistic retries of a rate slot under contention; each one means another holder took a slot. */
const MAX_RESERVE_ATTEMPTS = 25;

function epochSeconds(ms: number): string {
  return String(Math.ceil(ms / 1000) + LINGER_SECONDS);
}

function fingerprint(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error as Error)?.name === 'ConditionalCheckFailedException'
  );
}

function numberOf(item: Record<string, AttributeValue> | undefined, name: string): number | undefined {
  const value = item?.[name]?.N;
  return value === undefined ? undefined : Number(value);
}

export class DynamoDbSharedState implements TokenStore, RateGateStore, SubscriptionRecords {
  constructor(
    private readonly options: {
      client: DynamoDBClient;
      tableName: string;
      /** Epoch ms now, for TTLs; the contract's own instants come from the callers. */
      now?: () => number;
    },
  ) {}

  private get now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private async send<T>(what: string, command: DynamoCommand): Promise<T> {
    try {
      // One signature for every command; the callers know which output they asked for.
      return (await this.options.client.send(command as GetItemCommand)) as T;
    } catch (error) {
      if (isConditionFailure(error)) throw error;
      throw new TransientError(`shared state table: ${what} failed`, { cause: error });
    }
  }

  // ---------------------------------------------------------------- TokenStore

  async get(key: string): Promise<TokenRecord | undefined> {
    const answer = await this.send<{ Item?: Record<string, AttributeValue> }>(
      'reading a session',
      new GetItemCommand({
        TableName: this.options.tableName,
        Key: { pk: { S: `token#${key}` } },
        ConsistentRead: true,
      }),
    );
    const text = answer.Item?.record?.S;
    return text ? (JSON.parse(text) as TokenRecord) : undefined;
  }

  async put(key: string, record: TokenRecord, condition?: { ifAccessToken: string }): Promise<boolean> {
    const lastsUntil = Math.max(
      record.accessUsableUntilMs ?? 0,
      record.refreshUsableUntilMs ?? 0,
      record.loginRefusedUntilMs ?? 0,
      record.authThrottledUntilMs ?? 0,
      this.now,
    );
    const item: Record<string, AttributeValue> = {
      pk: { S: `token#${key}` },
      record: { S: JSON.stringify(record) },
      expiresAt: { N: epochSeconds(lastsUntil) },
    };
    // The condition compares fingerprints, so the token is stored once, inside the record.
    if (record.accessToken) item.accessTokenHash = { S: fingerprint(record.accessToken) };
    try {
      await this.send(
        'writing a session',
        new PutItemCommand({
          TableName: this.options.tableName,
          Item: item,
          ...(condition
            ? {
                ConditionExpression: 'accessTokenHash = :previous',
                ExpressionAttributeValues: { ':previous': { S: fingerprint(condition.ifAccessToken) } },
              }
            : {}),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async tryLease(key: string, holder: string, ttlMs: number, nowMs: number): Promise<boolean> {
    try {
      await this.send(
        'taking a lease',
        new PutItemCommand({
          TableName: this.options.tableName,
          Item: {
            pk: { S: `lease#${key}` },
            holder: { S: holder },
            expiresAtMs: { N: String(nowMs + ttlMs) },
            expiresAt: { N: epochSeconds(nowMs + ttlMs) },
          },
          ConditionExpression: 'attribute_not_exists(pk) OR holder = :holder OR expiresAtMs <= :now',
          ExpressionAttributeValues: { ':holder': { S: holder }, ':now': { N: String(nowMs) } },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async releaseLease(key: string, holder: string): Promise<void> {
    try {
      await this.send(
        'releasing a lease',
        new DeleteItemCommand({
          TableName: this.options.tableName,
          Key: { pk: { S: `lease#${key}` } },
          ConditionExpression: 'holder = :holder',
          ExpressionAttributeValues: { ':holder': { S: holder } },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  // ---------------------------------------------------------------- RateGateStore

  private async readGate(key: string): Promise<{ state: GateState; version: number | undefined }> {
    const answer = await this.send<{ Item?: Record<string, AttributeValue> }>(
      'reading a rate gate',
      new GetItemCommand({
        TableName: this.options.tableName,
        Key: { pk: { S: `gate#${key}` } },
        ConsistentRead: true,
      }),
    );
    const item = answer.Item;
    return {
      state: {
        nextSlotAtMs: numberOf(item, 'nextSlotAtMs') ?? 0,
        closedUntilMs: numberOf(item, 'closedUntilMs') ?? 0,
        lastSlotAtMs: numberOf(item, 'lastSlotAtMs'),
        learntIntervalMs: numberOf(item, 'learntIntervalMs'),
      },
      version: numberOf(item, 'version'),
    };
  }

  /** Writes the gate's next state only if nobody wrote it since `version` was read. */
  private async writeGate(
    key: string,
    next: GateState,
    version: number | undefined,
    what: string,
  ): Promise<boolean> {
    const item: Record<string, AttributeValue> = {
      pk: { S: `gate#${key}` },
      nextSlotAtMs: { N: String(next.nextSlotAtMs) },
      closedUntilMs: { N: String(next.closedUntilMs) },
      version: { N: String((version ?? 0) + 1) },
      expiresAt: { N: epochSeconds(Math.max(next.nextSlotAtMs, next.closedUntilMs, this.now)) },
    };
    if (next.lastSlotAtMs !== undefined) item.lastSlotAtMs = { N: String(next.lastSlotAtMs) };
    if (next.learntIntervalMs !== undefined) item.learntIntervalMs = { N: String(next.learntIntervalMs) };
    try {
      await this.send(
        what,
        new PutItemCommand({
          TableName: this.options.tableName,
          Item: item,
          ...(version === undefined
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : {
                ConditionExpression: 'version = :version',
                ExpressionAttributeValues: { ':version': { N: String(version) } },
              }),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Read, decide, write conditionally; another holder's write in between means deciding again. */
  private async changeGate<T>(
    key: string,
    what: string,
    decide: (state: GateState) => { result: T; next?: GateState },
  ): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      const { state, version } = await this.readGate(key);
      const { result, next } = decide(state);
      if (!next || (await this.writeGate(key, next, version, what))) return result;
      if (attempt >= MAX_RESERVE_ATTEMPTS) {
        throw new TransientError(`rate gate ${key}: ${attempt} holders raced for it; try again`);
      }
    }
  }

  async reserve(
    key: string,
    request: { nowMs: number; intervalMs: number; maxWaitMs: number },
  ): Promise<GateReservation> {
    return this.changeGate(key, 'taking a rate slot', (state) => {
      const { reservation, next } = reserveSlot(state, request);
      return { result: reservation, next: reservation.granted ? next : undefined };
    });
  }

  async close(key: string, untilMs: number): Promise<void> {
    // A later closure already stored stands.
    await this.changeGate(key, 'closing a rate gate', (state) => ({
      result: undefined,
      next: state.closedUntilMs >= untilMs ? undefined : { ...state, closedUntilMs: untilMs },
    }));
  }

  async closedUntil(key: string): Promise<number> {
    return (await this.readGate(key)).state.closedUntilMs;
  }

  async learnInterval(key: string, intervalMs: number): Promise<void> {
    await this.changeGate(key, 'learning a rate interval', (state) => ({
      result: undefined,
      next: learnGateInterval(state, intervalMs),
    }));
  }
  // ---------------------------------------------------------------- SubscriptionRecords

  async load(sourceId: string): Promise<SubscriptionRecord[]> {
    const answer = await this.send<{ Item?: Record<string, AttributeValue> }>(
      'reading subscription records',
      new GetItemCommand({
        TableName: this.options.tableName,
        Key: { pk: { S: `subscriptions#${sourceId}` } },
        ConsistentRead: true,
      }),
    );
    const text = answer.Item?.records?.S;
    return text ? (JSON.parse(text) as SubscriptionRecord[]) : [];
  }

  async save(sourceId: string, records: SubscriptionRecord[]): Promise<void> {
    // No TTL: losing this record would make every subscription look foreign and be replaced.
    await this.send(
      'writing subscription records',
      new PutItemCommand({
        TableName: this.options.tableName,
        Item: { pk: { S: `subscriptions#${sourceId}` }, records: { S: JSON.stringify(records) } },
      }),
    );
  }
}
