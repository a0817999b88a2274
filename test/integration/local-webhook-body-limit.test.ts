/**
 * The local webhook server refuses oversized bodies the way the deployed stack does: 413 above the
 * provider's limit (what the webhook function answers) for every provider, and the client receives that
 * 413 rather than a reset, on a connection it can use again. Bodies beyond API Gateway's quota get a 413
 * too, and the next connection is served. Real adapters of all four providers sit behind the server.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config';
import { silentLog } from '../../functions/core/ports';
import { type LocalHost, startLocalHost } from '../../functions/local/local-host';
import { API_GATEWAY_PAYLOAD_BYTES } from '../../functions/local/webhook-server';
import { maxWebhookBodyBytes, PROVIDER_NAMES as PROVIDERS } from '../../functions/providers';
import { type GraphSandbox, startGraphSandbox } from '../../sandbox/providers/graph-calling-bot-sandbox';

const MiB = 1024 * 1024;
const SOURCE_IDS: Record<(typeof PROVIDERS)[number], string> = {
  telphin: 'office',
  ringcentral: 'rc',
  msgraph: 'teams-bot',
  msteams: 'teams',
};

interface Answer {
  status: number;
  body: string;
  /** The request went out on a connection an earlier request had used. */
  reusedSocket: boolean;
}

/** One request through `agent`; rejects on a reset or any other socket error. */
function send(
  agent: http.Agent,
  url: string,
  method: string,
  body?: Buffer,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, {
      method,
      agent,
      headers: body
        ? { 'content-type': 'application/json', 'content-length': body.length, ...headers }
        : headers,
    });
    request.once('error', reject);
    request.once('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('error', reject);
      response.once('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          reusedSocket: request.reusedSocket,
        }),
      );
    });
    request.end(body);
  });
}

/** A JSON-looking body of exactly `bytes` bytes. */
function bodyOf(bytes: number): Buffer {
  const text = `{"padding":"${'x'.repeat(Math.max(0, bytes - 15))}"}`;
  return Buffer.from(text.padEnd(bytes, ' '));
}

describe('local webhook server: oversized bodies', () => {
  let dir: string;
  let host: LocalHost;
  let graph: GraphSandbox;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callvault-body-limit-'));
    graph = await startGraphSandbox({ host: '127.0.0.1' });
    // Every provider's real adapter, pointed at addresses nothing listens on: only webhooks are asked.
    const nowhere = 'http://127.0.0.1:9';
    const config = parseConfig({
      sources: [
        {
          provider: 'telphin',
          id: SOURCE_IDS.telphin,
          apiUrl: nowhere,
          clientId: 'client',
          clientSecret: 'secret',
          webhookSecret: 'telphin-webhook-secret-0001',
          allowedDownloadHosts: ['127.0.0.1'],
        },
        {
          provider: 'ringcentral',
          id: SOURCE_IDS.ringcentral,
          serverUrl: nowhere,
          mediaUrl: nowhere,
          clientId: 'client',
          clientSecret: 'secret',
          jwt: 'jwt-credential',
          webhookSecret: 'ringcentral-webhook-secret-0001',
        },
        {
          provider: 'msgraph',
          id: SOURCE_IDS.msgraph,
          botAppId: graph.botAppId,
          tenantId: graph.tenantId,
          openIdConfigurationUrl: graph.openIdConfigurationUrl,
          allowedDownloadHosts: [graph.recordingHostPort],
          mediaPersistenceApproved: true,
        },
        {
          provider: 'msteams',
          id: SOURCE_IDS.msteams,
          tenantId: graph.tenantId,
          clientId: graph.botAppId,
          clientSecret: 'secret',
          webhookSecret: 'msteams-webhook-secret-0001',
          loginUrl: nowhere,
          graphUrl: nowhere,
          users: ['alice@contoso.example'],
          allowedDownloadHosts: ['127.0.0.1'],
          mediaPersistenceApproved: true,
        },
      ],
      local: { port: 0, archiveDir: join(dir, 'archive'), stateDir: join(dir, 'state') },
    });
    host = await startLocalHost({ config, log: silentLog, scheduleSweep: false, scheduleRetention: false });
  }, 30_000);
  afterAll(async () => {
    await host?.stop();
    await graph?.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const provider of PROVIDERS) {
    it(`${provider}: 413 just above its limit, and the same connection serves the next request`, async () => {
      // Prepare: one connection for everything.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const url = `${host.webhookUrl}/webhooks/${provider}/${SOURCE_IDS[provider]}`;
      const limit = maxWebhookBodyBytes(provider);
      try {
        // Act
        const refused = await send(agent, url, 'POST', bodyOf(limit + 1));
        const atLimit = await send(agent, url, 'POST', bodyOf(limit));
        const health = await send(agent, `${host.webhookUrl}/health`, 'GET');

        // Assess: the body at the limit reached the adapter, which refused it for its own reasons.
        expect(refused.status).toBe(413);
        expect(JSON.parse(refused.body)).toMatchObject({ limitBytes: limit });
        expect(atLimit.status).not.toBe(413);
        expect(atLimit.status).toBeGreaterThanOrEqual(400);
        expect(atLimit.status).toBeLessThan(500);
        expect([atLimit.reusedSocket, health.reusedSocket]).toEqual([true, true]);
        expect(health.status).toBe(200);
      } finally {
        agent.destroy();
      }
    });
  }

  it('msgraph: an 8 MiB signed notification gets 413 on a connection that stays usable', async () => {
    // Prepare: a real notification, padded with ignored notifications to 8 MiB, and a valid token.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const recording = graph.addRecording();
    const notification = JSON.parse(graph.completedNotification(recording)) as { value: unknown[] };
    const filler = { '@odata.type': '#microsoft.graph.commsNotification', note: 'x'.repeat(64 * 1024) };
    const value = [...notification.value, ...Array.from({ length: 128 }, () => filler)];
    const body = Buffer.from(JSON.stringify({ ...notification, value }));
    expect(body.length).toBeGreaterThan(8 * MiB);
    const url = `${host.webhookUrl}/webhooks/msgraph/${SOURCE_IDS.msgraph}`;
    try {
      // Act
      const refused = await send(agent, url, 'POST', body, {
        authorization: `Bearer ${await graph.signNotificationToken()}`,
      });
      const next = await send(agent, `${host.webhookUrl}/health`, 'GET');

      // Assess
      expect(refused.status).toBe(413);
      expect(next).toMatchObject({ status: 200, reusedSocket: true });
      expect(graph.counters.recordingRequests).toBe(0);
    } finally {
      agent.destroy();
    }
  });

  it('beyond the quota, a client that reads only once it has sent everything still gets the 413', async () => {
    // Prepare: a raw client that sends the whole 12 MiB before reading a byte, as simple clients do.
    // Closing on it while it still sends would make its kernel discard the unread 413 on the reset.
    const { hostname, port } = new URL(host.webhookUrl);
    const socket = connect(Number(port), hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.pause();
    const size = API_GATEWAY_PAYLOAD_BYTES + 2 * MiB;
    const received: Buffer[] = [];
    const answer = new Promise<string>((resolve) => {
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      socket.once('error', (error) => resolve(`error: ${error.message}`));
      socket.once('close', () => resolve(Buffer.concat(received).toString('latin1')));
    });

    // Act
    socket.write(
      `POST /webhooks/msgraph/${SOURCE_IDS.msgraph} HTTP/1.1\r\nHost: ${hostname}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
    );
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    for (let sent = 0; sent < size; sent += chunk.length) {
      if (!socket.write(chunk.subarray(0, Math.min(chunk.length, size - sent)))) {
        await new Promise((resolve) => socket.once('drain', resolve));
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.resume();

    // Assess
    expect(await answer).toMatch(/^HTTP\/1\.1 413 /);
  });

  it.each(PROVIDERS)(
    '%s: a body beyond API Gateway’s quota gets 413, then a new connection is served',
    async (provider) => {
      // Prepare
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const url = `${host.webhookUrl}/webhooks/${provider}/${SOURCE_IDS[provider]}`;
      try {
        // Act
        const refused = await send(agent, url, 'POST', bodyOf(API_GATEWAY_PAYLOAD_BYTES + 2 * MiB));
        const next = await send(agent, `${host.webhookUrl}/health`, 'GET');

        // Assess: closed after the answer (Connection: close), so the next request opened a new one.
        expect(refused.status).toBe(413);
        expect(next).toMatchObject({ status: 200, reusedSocket: false });
      } finally {
        agent.destroy();
      }
    },
  );
});
