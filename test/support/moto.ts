/**
 * Starts a real S3/SQS-compatible server (moto_server) on a free loopback port for one test file.
 * Where moto_server is missing the suites skip with a message saying how to install it; under CI=true a
 * missing moto_server fails the run instead, so CI can never go green without these tests.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';

export const MOTO_INSTALL_HINT =
  'moto_server not found: install it with `pip install "moto[server]>=5"` (or set MOTO_SERVER to its path) to run the S3/SQS integration tests';

export function motoServerCommand(): string | undefined {
  const candidate = process.env.MOTO_SERVER ?? 'moto_server';
  const probe = spawnSync(candidate, ['--help'], { stdio: 'ignore' });
  return probe.status === 0 ? candidate : undefined;
}

/** True when the integration suites can run; throws under CI when they cannot. */
export function motoAvailable(): boolean {
  if (motoServerCommand()) return true;
  if (process.env.CI === 'true') throw new Error(`${MOTO_INSTALL_HINT} (CI=true requires it)`);
  console.warn(`[skip] ${MOTO_INSTALL_HINT}`);
  return false;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export const TEST_REGION = 'us-east-1';
export const TEST_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export interface MotoServer {
  endpoint: string;
  port: number;
  s3: S3Client;
  sqs: SQSClient;
  /** Wipes every bucket, queue and table, for isolation between tests. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<MotoServer> {
  const command = motoServerCommand();
  if (!command) throw new Error(MOTO_INSTALL_HINT);
  const port = await freePort();
  const child: ChildProcess = spawn(command, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, AWS_DEFAULT_REGION: TEST_REGION },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited early: ${stderr}`);
    try {
      const response = await fetch(`${endpoint}/moto-api/`);
      if (response.ok || response.status < 500) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not start within 30 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const clientConfig = { endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS };
  const s3 = new S3Client({ ...clientConfig, forcePathStyle: true });
  const sqs = new SQSClient(clientConfig);
  return {
    endpoint,
    port,
    s3,
    sqs,
    async reset() {
      await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
    },
    async stop() {
      s3.destroy();
      sqs.destroy();
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    },
  };
}
