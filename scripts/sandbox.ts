/**
 * `npm run sandbox -- ringcentral [--port 8790] [--calls 12] [--every 60]`: the bundled RingCentral
 * sandbox (a simulator written from RingCentral's documented API, not RingCentral) on fixed ports with
 * fixed credentials, so a config file can point a source at it (see the README). It holds `--calls`
 * recorded calls from the last day and, every `--every` seconds, hangs up a new call, which it announces
 * to the webhook subscriptions callvault created. Ctrl-C stops it.
 */
import { parseArgs } from 'node:util';
import { startRingCentralSandbox } from '../functions/sandbox/ringcentral-sandbox';

/** The credentials the README's sandbox config uses; they open nothing but this simulator. */
export const RINGCENTRAL_SANDBOX_CREDENTIALS = {
  clientId: 'sandbox-client-id',
  clientSecret: 'sandbox-client-secret',
  jwt: 'sandbox-jwt-credential',
} as const;

const USAGE = 'usage: npm run sandbox -- ringcentral [--port 8790] [--calls 12] [--every 60]';

function positive(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number (${USAGE})`);
  return value;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      calls: { type: 'string' },
      every: { type: 'string' },
    },
  });
  if (positionals[0] !== 'ringcentral' || positionals.length !== 1) throw new Error(USAGE);
  const port = positive(values.port, '--port', 8790);
  const sandbox = await startRingCentralSandbox({
    port,
    mediaPort: port + 1,
    ...RINGCENTRAL_SANDBOX_CREDENTIALS,
    // Content answers 404 for a while after hang-up, as on RingCentral.
    recordingReadyDelayMs: 20_000,
  });
  const now = Date.now();
  const count = positive(values.calls, '--calls', 12);
  if (count > 0)
    sandbox.generateCalls({ count, from: new Date(now - 24 * 3_600_000), to: new Date(now - 600_000) });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`RingCentral sandbox (a simulator, not RingCentral): API ${sandbox.url}, media ${sandbox.mediaUrl}`);
  out(
    `${count} recorded calls from the last 24 hours; Heavy group 10 requests a minute, as RingCentral's default plan.`,
  );
  out(`clientId ${sandbox.clientId}, clientSecret ${sandbox.clientSecret}, jwt ${sandbox.jwt}`);

  const everySeconds = positive(values.every, '--every', 60);
  const timer =
    everySeconds > 0
      ? setInterval(async () => {
          const call = sandbox.startCall({ durationSeconds: 40 });
          const deliveries = await sandbox.hangUp(call.telephonySessionId);
          out(
            `call ${call.telephonySessionId} hung up (recording ${call.recording?.id}); delivered to ${deliveries.length} subscription(s): ${deliveries.map((delivery) => delivery.status ?? delivery.error).join(', ') || 'none'}`,
          );
        }, everySeconds * 1000)
      : undefined;
  const stop = async () => {
    clearInterval(timer);
    await sandbox.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((error: unknown) => {
  process.stderr.write(`sandbox: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
