/**
 * Ctrl-C on `npm start` mid-upload: one interrupt stops gracefully. The in-flight download is aborted,
 * nothing half-written is left (no temp file in the archive folder, no open multipart upload in the
 * bucket), the queue is saved to `pending-jobs.json`, and the process ends with 0. The process runs as
 * users run it, in its own process group: `npm start` signalled like a terminal does (the whole group,
 * so npm forwards the same Ctrl-C again), and the entry (`node --import tsx`) signalled once, then twice
 * in quick succession (one Ctrl-C relayed again, which must not count as a second one).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CreateBucketCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TEMP_DIR } from '../../functions/adapters/fs-archive-store';
import {
  type GraphSandbox,
  type GraphSandboxRecording,
  graphBotSourceFields,
  startGraphSandbox,
} from '../../sandbox/providers/graph-calling-bot-sandbox';
import { type MotoServer, motoAvailable, startMoto, TEST_CREDENTIALS } from '../support/moto';

const SOURCE_ID = 'teams-bot';
const MiB = 1024 * 1024;
const BUCKET = 'callvault-interrupt-test';

interface Running {
  child: ChildProcess;
  output(): string;
  /** Resolves once every process holding the output pipe (npm, sh, node) has gone. */
  closed: Promise<void>;
  /** The exit code of the process started (npm itself, or node). */
  exited: Promise<number | null>;
}

/** How the process is started and interrupted: `npm start` signalled as a terminal does (its whole group),
 * the entry through tsx signalled once, or twice 30 ms apart as a relaying parent would. */
type Launch = 'npm start' | 'tsx entry' | 'tsx entry, delivered twice';

function start(launch: Launch, configPath: string): Running {
  const bin = dirname(process.execPath);
  const env = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH ?? ''}`,
    CALLVAULT_CONFIG: configPath,
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
  };
  const [command, args] =
    launch === 'npm start'
      ? ['npm', ['start']]
      : [process.execPath, ['--import', 'tsx', 'functions/local/main.ts']];
  // Its own process group, as a terminal's foreground job: a signal to -pid reaches npm, sh and node.
  const child = spawn(command, args, { cwd: process.cwd(), env, detached: true, stdio: 'pipe' });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  const closed = new Promise<void>((resolve) => child.stdout?.once('close', () => resolve()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => text, closed, exited };
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  everyMs = 50,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

function killGroup(running: Running | undefined): void {
  const pid = running?.child.pid;
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

describe('Ctrl-C on npm start mid-upload', () => {
  let dir: string;
  let sandbox: GraphSandbox;
  let running: Running | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callvault-interrupt-'));
    sandbox = await startGraphSandbox({ host: '127.0.0.1' });
  });
  afterEach(async () => {
    killGroup(running);
    running = undefined;
    await sandbox.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function writeConfig(storage?: Record<string, unknown>): Promise<string> {
    const path = join(dir, 'callvault.config.json');
    const config = {
      sources: [graphBotSourceFields(sandbox, SOURCE_ID)],
      local: { port: 0, archiveDir: join(dir, 'archive'), stateDir: join(dir, 'state') },
      ...(storage ? { storage } : {}),
    };
    await writeFile(path, JSON.stringify(config));
    return path;
  }

  /** Starts the process, announces a slow recording to it, and waits until `uploading` says so. */
  async function startUpload(
    launch: Launch,
    configPath: string,
    recordingBytes: number,
    bytesPerSecond: number,
  ): Promise<GraphSandboxRecording> {
    running = start(launch, configPath);
    const current = running;
    const webhooks = await until('the webhook server', async () => {
      const match = /webhooks listening\s+url=(http:\/\/\S+)\/webhooks\//.exec(current.output());
      if (current.child.exitCode !== null && !match) throw new Error(`exited early:\n${current.output()}`);
      return match?.[1];
    });
    const recording = sandbox.addRecording({ size: recordingBytes });
    sandbox.injectFault({ kind: 'slow-body', bytesPerSecond });
    const response = await fetch(`${webhooks}/webhooks/msgraph/${SOURCE_ID}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${await sandbox.signNotificationToken()}`,
      },
      body: sandbox.completedNotification(recording),
    });
    expect(response.status).toBe(202);
    return recording;
  }

  async function interrupt(launch: Launch): Promise<number | null> {
    const current = running;
    if (!current?.child.pid) throw new Error('not running');
    process.kill(launch === 'npm start' ? -current.child.pid : current.child.pid, 'SIGINT');
    if (launch === 'tsx entry, delivered twice') {
      await new Promise((resolve) => setTimeout(resolve, 30));
      process.kill(current.child.pid, 'SIGINT');
    }
    // Every process of the group gone (npm, sh and node), then the output read to its end.
    const pid = current.child.pid;
    await until(
      `the processes to end; so far:\n${current.output()}`,
      async () => {
        try {
          process.kill(-pid, 0);
          return undefined;
        } catch {
          return true;
        }
      },
      50,
      30_000,
    );
    await current.closed;
    // npm itself dies of the signal at once; the node process behind it is what must stop gracefully.
    return launch === 'npm start' ? null : current.exited;
  }

  async function assertSavedQueue(recording: GraphSandboxRecording): Promise<void> {
    const output = running?.output() ?? '';
    expect(output).toContain('local queue stopped');
    expect(output).toMatch(/ info +stopped/);
    expect(output).not.toContain('second signal');
    const saved = JSON.parse(await readFile(join(dir, 'state', 'pending-jobs.json'), 'utf8')) as {
      jobs: unknown[];
    };
    expect(saved.jobs).toHaveLength(1);
    const text = JSON.stringify(saved);
    expect(text).toContain(recording.operationId);
    expect(text).not.toContain(recording.recordingAccessToken);
  }

  for (const launch of ['npm start', 'tsx entry', 'tsx entry, delivered twice'] as const) {
    it(`${launch}, local folder: the upload is aborted without a partial file and the queue is saved`, async () => {
      // Prepare: a 4 MiB recording served at 256 KiB/s, so the upload is surely running when interrupted.
      const recording = await startUpload(launch, await writeConfig(), 4 * MiB, 256 * 1024);
      const tempDir = join(dir, 'archive', TEMP_DIR);
      await until('a partial file', async () =>
        (await filesUnder(tempDir)).some((file) => file.endsWith('.part')) ? true : undefined,
      );

      // Act
      const code = await interrupt(launch);

      // Assess
      if (launch !== 'npm start') expect(code).toBe(0);
      await assertSavedQueue(recording);
      expect(await filesUnder(tempDir)).toEqual([]);
      expect(await filesUnder(join(dir, 'archive', 'recordings'))).toEqual([]);
    }, 90_000);
  }

  describe.runIf(motoAvailable())('into a bucket (storage.s3)', () => {
    let moto: MotoServer;
    beforeAll(async () => {
      moto = await startMoto();
    }, 60_000);
    afterAll(async () => {
      await moto?.stop();
    });

    it('npm start, bucket: the multipart upload is aborted and the queue is saved', async () => {
      // Prepare: 24 MiB at 4 MiB/s with 8 MiB parts: a multipart upload is open after about 2 s.
      await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
      const configPath = await writeConfig({
        s3: { bucket: BUCKET, endpoint: moto.endpoint, forcePathStyle: true },
      });
      const recording = await startUpload('npm start', configPath, 24 * MiB, 4 * MiB);
      const openUploads = async () =>
        (await moto.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? [];
      await until(
        'an open multipart upload',
        async () => ((await openUploads()).length > 0 ? true : undefined),
        250,
      );

      // Act
      await interrupt('npm start');

      // Assess
      await assertSavedQueue(recording);
      expect(await openUploads()).toEqual([]);
      const objects = await moto.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'recordings/' }));
      expect(objects.KeyCount ?? 0).toBe(0);
    }, 90_000);
  });
});
