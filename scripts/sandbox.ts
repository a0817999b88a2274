/**
 * `npm run sandbox -- msteams [--port 8792] [--recordings 4] [--every 60]`: the bundled Teams sandbox (a
 * simulator written from Microsoft Graph's documented API, not Microsoft) likewise: one user's ad hoc call
 * and meeting recordings, and every `--every` seconds a new ad hoc call recording announced to the
 * subscriptions callvault created.
 *
 * `npm run sandbox -- ringcentral [--port 8790] [--calls 12] [--every 60]`: the bundled RingCentral
 * sandbox (a simulator written from RingCentral's documented API, not RingCentral) on fixed ports with
 * fixed credentials, so a config file can point a source at it (see the README). It holds `--calls`
 * recorded calls from the last day and, every `--every` seconds, hangs up a new call, which it announces
 * to the webhook subscriptions callvault created. Ctrl-C stops it.
 */
import { parseArgs } from 'node:util';
import { startRingCentralSandbox } from '../sandbox/providers/ringcentral-sandbox';
import { startTeamsSandbox } from '../sandbox/providers/teams-recordings-sandbox';

/** The credentials the README's sandbox config uses; they open nothing but this simulator. */
export const RINGCENTRAL_SANDBOX_CREDENTIALS = {
  clientId: 'sandbox-client-id',
  clientSecret: 'sandbox-client-secret',
  jwt: 'sandbox-jwt-credential',
} as const;

/** The Teams sandbox's fixed secret for the README's config; it opens nothing but this simulator. */
export const TEAMS_SANDBOX_CLIENT_SECRET = 'sandbox-teams-client-secret';

const USAGE =
  'usage: npm run sandbox -- ringcentral [--port 8790] [--calls 12] [--every 60] | msteams [--port 8792] [--recordings 4] [--every 60]';

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
      recordings: { type: 'string' },
      every: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new Error(USAGE);
  if (positionals[0] === 'msteams') return runTeams(values);
  if (positionals[0] !== 'ringcentral') throw new Error(USAGE);
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

async function runTeams(values: { port?: string; recordings?: string; every?: string }): Promise<void> {
  const port = positive(values.port, '--port', 8792);
  const sandbox = await startTeamsSandbox({
    port,
    contentPort: port + 1,
    clientSecret: TEAMS_SANDBOX_CLIENT_SECRET,
  });
  const user = sandbox.addUser({ userPrincipalName: 'alice@contoso.example', displayName: 'Alice' });
  const now = Date.now();
  const count = positive(values.recordings, '--recordings', 4);
  for (let index = 0; index < count; index++) {
    sandbox.addRecording({
      kind: index % 2 === 0 ? 'adhocCalls' : 'onlineMeetings',
      organizerId: user.id,
      createdAt: new Date(now - (index + 1) * 3 * 3_600_000),
      durationSeconds: 600,
      size: 4 * 1024 * 1024,
    });
  }
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(
    `Teams sandbox (a simulator, not Microsoft): Graph and login ${sandbox.url}, content ${sandbox.contentUrl}`,
  );
  out(`tenantId ${sandbox.tenantId}, clientId ${sandbox.clientId}, clientSecret ${sandbox.clientSecret}`);
  out(`${count} recordings of ${user.userPrincipalName} from the last ${count * 3} hours`);
  const everySeconds = positive(values.every, '--every', 60);
  const timer =
    everySeconds > 0
      ? setInterval(async () => {
          const recording = sandbox.addRecording({
            kind: 'adhocCalls',
            organizerId: user.id,
            createdAt: new Date(Date.now() - 60_000),
            durationSeconds: 60,
            size: 2 * 1024 * 1024,
          });
          const deliveries = await sandbox.notifyRecording(recording.id);
          out(
            `ad hoc call recording ${recording.id.slice(0, 24)}… announced to ${deliveries.length} subscription(s): ${deliveries.map((delivery) => delivery.status ?? delivery.error).join(', ') || 'none'}`,
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
