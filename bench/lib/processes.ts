/**
 * Every process and server a benchmark starts is registered here, so that it is stopped whatever
 * happens: normal end, a thrown error, Ctrl-C or SIGTERM. Children are only ever ended by their own
 * handle, never by name.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';

type Cleanup = () => Promise<void> | void;

const children = new Set<ChildProcess>();
const cleanups: { name: string; run: Cleanup }[] = [];
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  // Last resort on any exit path: nothing may outlive the benchmark.
  process.once('exit', () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      console.error(`\n[bench] ${signal}: stopping everything this run started`);
      void cleanupAll().finally(() => process.exit(130));
    });
  }
}

/** Spawns a child that is killed when the benchmark ends; stdin stays open so the child notices an orphaning. */
export function spawnTracked(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): ChildProcess {
  install();
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'], ...options });
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.once('error', () => children.delete(child));
  return child;
}

/** Registers something to stop at the end (moto, an HTTP server, a temp folder); runs in reverse order. */
export function onCleanup(name: string, run: Cleanup): () => Promise<void> {
  install();
  const entry = { name, run };
  cleanups.push(entry);
  return async () => {
    const index = cleanups.indexOf(entry);
    if (index >= 0) cleanups.splice(index, 1);
    await run();
  };
}

/** Kills a child and waits for it (SIGTERM, then SIGKILL after `graceMs`). */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function cleanupAll(): Promise<void> {
  while (cleanups.length > 0) {
    const entry = cleanups.pop();
    try {
      await entry?.run();
    } catch (error) {
      console.error(`[bench] cleanup of ${entry?.name} failed:`, error);
    }
  }
  await Promise.all([...children].map((child) => stopChild(child)));
}

/** Resolves with the child's exit code, its stdout and its wall time. */
export function runToExit(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): Promise<{ code: number | null; stdout: string; stderr: string; wallMs: number }> {
  const started = performance.now();
  const child = spawnTracked(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000);
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr, wallMs: performance.now() - started }));
  });
}
