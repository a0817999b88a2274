import { CreateTableCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbSharedState, SHARED_STATE_TABLE } from '../../functions/adapters/dynamodb-shared-state';
import { PendingJobMarkers } from '../../functions/core/pending-jobs';
import { type MotoServer, motoAvailable, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../support/moto';

const TABLE = 'callvault-shared-state';
const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);

describe.runIf(motoAvailable())('DynamoDbSharedState against moto', () => {
  let moto: MotoServer;
  const clients: DynamoDBClient[] = [];

  /** A "container": its own client and its own store over the one table. */
  const container = () => {
    const client = new DynamoDBClient({
      endpoint: moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
    clients.push(client);
    return new DynamoDbSharedState({ client, tableName: TABLE, now: () => NOW });
  };

  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    for (const client of clients) client.destroy();
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    const client = new DynamoDBClient({
      endpoint: moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
    clients.push(client);
    await client.send(
      new CreateTableCommand({
        TableName: TABLE,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: SHARED_STATE_TABLE.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: SHARED_STATE_TABLE.partitionKey, KeyType: 'HASH' }],
      }),
    );
  });

  describe('sessions', () => {
    it('shares a session between containers and replaces it only while it still holds the expected token', async () => {
      // Prepare
      const a = container();
      const b = container();
      await a.put('rc/main', {
        credentials: 'fp1',
        accessToken: 'token-1',
        accessUsableUntilMs: NOW + 3_000_000,
      });

      // Act
      const seenByB = await b.get('rc/main');
      const staleReplace = await b.put(
        'rc/main',
        { credentials: 'fp1', accessToken: 'token-x' },
        { ifAccessToken: 'token-0' },
      );
      const freshReplace = await b.put(
        'rc/main',
        { credentials: 'fp1', accessToken: 'token-2' },
        { ifAccessToken: 'token-1' },
      );

      // Assess
      expect(seenByB).toEqual({
        credentials: 'fp1',
        accessToken: 'token-1',
        accessUsableUntilMs: NOW + 3_000_000,
      });
      expect(staleReplace).toBe(false);
      expect(freshReplace).toBe(true);
      expect((await a.get('rc/main'))?.accessToken).toBe('token-2');
      expect(await a.get('rc/other')).toBeUndefined();
    });

    it('stores the access token once, inside the record, with a TTL', async () => {
      const a = container();
      await a.put('rc/main', {
        credentials: 'fp1',
        accessToken: 'secret-token',
        accessUsableUntilMs: NOW + 60_000,
      });

      const scan = await clients[0]?.send(new ScanCommand({ TableName: TABLE }));
      const item = scan?.Items?.[0];
      expect(JSON.stringify(item).split('secret-token').length - 1).toBe(1);
      expect(Number(item?.expiresAt?.N)).toBeGreaterThan((NOW + 60_000) / 1000);
    });

    it('grants the renewal lease to one holder at a time until it expires or is released', async () => {
      const a = container();
      const b = container();

      expect(await a.tryLease('rc/main', 'a', 10_000, NOW)).toBe(true);
      expect(await b.tryLease('rc/main', 'b', 10_000, NOW + 5_000)).toBe(false);
      expect(await a.tryLease('rc/main', 'a', 10_000, NOW + 5_000)).toBe(true);
      await b.releaseLease('rc/main', 'b');
      expect(await b.tryLease('rc/main', 'b', 10_000, NOW + 9_000)).toBe(false);
      expect(await b.tryLease('rc/main', 'b', 10_000, NOW + 15_001)).toBe(true);
      await b.releaseLease('rc/main', 'b');
      expect(await a.tryLease('rc/main', 'a', 10_000, NOW + 15_002)).toBe(true);
    });

    // DynamoDB makes each conditional write atomic; moto_server does not under concurrent requests, so
    // the containers ask one after another here, each with its own client.
    it('lets one of many containers take the lease, and none of the others while it holds', async () => {
      const holders = Array.from({ length: 8 }, (_, index) => ({ id: `c${index}`, store: container() }));
      const results: boolean[] = [];
      for (const { id, store } of holders) results.push(await store.tryLease('rc/main', id, 30_000, NOW + 1));
      expect(results).toEqual([true, false, false, false, false, false, false, false]);
    });
  });

  describe('rate gates', () => {
    it('gives containers distinct slots, one interval apart, whichever of them asks', async () => {
      const stores = [container(), container(), container()];
      const slots: number[] = [];
      for (let index = 0; index < 12; index += 1) {
        const reservation = await stores[index % stores.length]!.reserve('rc/main/heavy', {
          nowMs: NOW,
          intervalMs: 6_000,
          maxWaitMs: 3_600_000,
        });
        expect(reservation.granted).toBe(true);
        slots.push(reservation.atMs);
      }
      expect(slots).toEqual(Array.from({ length: 12 }, (_, index) => NOW + index * 6_000));
    });

    it('takes the next slot again when another container wrote the gate between its read and its write', async () => {
      // Container A's write waits until B has taken a slot from the same state A read: A's conditional
      // write must fail on the version, and A must read again and take the slot after B's.
      const client = new DynamoDBClient({
        endpoint: moto.endpoint,
        region: TEST_REGION,
        credentials: TEST_CREDENTIALS,
      });
      clients.push(client);
      let releaseA: () => void = () => {};
      const bDone = new Promise<void>((resolve) => {
        releaseA = resolve;
      });
      let aAtWrite: () => void = () => {};
      const aHasRead = new Promise<void>((resolve) => {
        aAtWrite = resolve;
      });
      let aWrites = 0;
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'PutItemCommand') {
            aWrites += 1;
            if (aWrites === 1) {
              aAtWrite();
              await bDone;
            }
          }
          return next(args);
        },
        { step: 'initialize', name: 'holdFirstWrite' },
      );
      const a = new DynamoDbSharedState({ client, tableName: TABLE, now: () => NOW });
      const b = container();
      const request = { nowMs: NOW, intervalMs: 6_000, maxWaitMs: 3_600_000 };

      const aReservation = a.reserve('g', request);
      await aHasRead; // A read the empty gate and is about to write the first slot
      const bReservation = await b.reserve('g', request);
      releaseA();

      expect(bReservation).toEqual({ granted: true, atMs: NOW });
      expect(await aReservation).toEqual({ granted: true, atMs: NOW + 6_000 });
      expect(aWrites).toBe(2); // the first write was refused on the version, the second took the next slot
    });

    it('takes nothing when the next slot is further away than the caller will wait', async () => {
      const store = container();
      await store.reserve('g', { nowMs: NOW, intervalMs: 60_000, maxWaitMs: 0 });

      const refused = await store.reserve('g', { nowMs: NOW, intervalMs: 60_000, maxWaitMs: 1_000 });
      const granted = await store.reserve('g', { nowMs: NOW, intervalMs: 60_000, maxWaitMs: 60_000 });

      expect(refused).toEqual({ granted: false, atMs: NOW + 60_000 });
      expect(granted).toEqual({ granted: true, atMs: NOW + 60_000 });
    });

    it('keeps the latest closure for every holder and schedules nothing before it ends', async () => {
      const a = container();
      const b = container();
      await a.close('g', NOW + 30_000);
      await b.close('g', NOW + 10_000);

      expect(await b.closedUntil('g')).toBe(NOW + 30_000);
      expect(await b.reserve('g', { nowMs: NOW, intervalMs: 1_000, maxWaitMs: 60_000 })).toEqual({
        granted: true,
        atMs: NOW + 30_000,
      });
      expect(await a.closedUntil('never-closed')).toBe(0);
    });

    it('paces by the interval the server reported once it is learnt', async () => {
      const store = container();
      await store.learnInterval('g', 2_000);
      const first = await store.reserve('g', { nowMs: NOW, intervalMs: 6_000, maxWaitMs: 60_000 });
      const second = await store.reserve('g', { nowMs: NOW, intervalMs: 6_000, maxWaitMs: 60_000 });
      expect(second.atMs - first.atMs).toBe(2_000);
    });
  });

  describe('subscription records', () => {
    it('keeps what one container recorded for every other, per source', async () => {
      const record = {
        id: 'sub-1',
        filter: '/restapi/v1.0/account/~/telephony/sessions',
        address: 'https://hooks.example.com/webhooks/ringcentral/rc-main',
        secretFingerprint: 'ab'.repeat(32),
        createdAt: new Date(NOW).toISOString(),
      };
      await container().save('rc-main', [record]);

      expect(await container().load('rc-main')).toEqual([record]);
      expect(await container().load('rc-other')).toEqual([]);
    });
  });
  describe('pending markers', () => {
    it("two sweep containers over one table take a recording's marker once, until it expires", async () => {
      // Prepare
      const log = { debug() {}, info() {}, warn() {}, error() {} };
      const first = new PendingJobMarkers({ leases: container(), holdMs: 3_600_000 }, log);
      const second = new PendingJobMarkers({ leases: container(), holdMs: 3_600_000 }, log);
      const stem = 'recordings/msteams/tenant/2026/11/30/rec-1';

      // Act: one after the other. DynamoDB serialises conditional writes to one item; moto's threaded
      // server does not (two concurrent puts can both pass the condition), so a concurrent pair here would
      // test moto's locking, not ours.
      const together = [await first.claim(stem, NOW), await second.claim(stem, NOW)];
      const laterSameHour = await second.claim(stem, NOW + 3_599_000);
      const afterExpiry = await second.claim(stem, NOW + 3_600_000);

      // Assert
      expect(together).toEqual([true, false]);
      expect(laterSameHour).toBe(false);
      expect(afterExpiry).toBe(true);
    });

    it('a released marker (its job could not be queued) can be taken again at once', async () => {
      const log = { debug() {}, info() {}, warn() {}, error() {} };
      const first = new PendingJobMarkers({ leases: container(), holdMs: 3_600_000 }, log);
      const second = new PendingJobMarkers({ leases: container(), holdMs: 3_600_000 }, log);
      expect(await first.claim('recordings/x', NOW)).toBe(true);
      await second.release(['recordings/x']);
      expect(await second.claim('recordings/x', NOW)).toBe(false);
      await first.release(['recordings/x']);
      expect(await second.claim('recordings/x', NOW)).toBe(true);
    });
  });
});
