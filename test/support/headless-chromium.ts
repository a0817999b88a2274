/**
 * A real headless browser for page tests: Debian's Chromium (`apt-get install chromium`), driven by
 * playwright-core (which downloads no browser of its own). Where it is missing the suites skip with a
 * message saying how to install it; under CI=true a missing Chromium fails the run instead.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_INSTALL_HINT = `Chromium not found at ${CHROMIUM_PATH}: install it with \`apt-get install -y chromium\` (or set CHROMIUM_PATH) to run the browser tests`;

/** True when the browser tests can run; throws under CI when they cannot. */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM_PATH)) return true;
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM_INSTALL_HINT} (CI=true requires it)`);
  console.warn(`[skip] ${CHROMIUM_INSTALL_HINT}`);
  return false;
}

/**
 * Launches Chromium headless. `hostMap` resolves names to 127.0.0.1 inside the browser only (as a
 * hostile DNS answer would), for DNS-rebinding tests.
 */
export function launchChromium(options: { hostMap?: readonly string[] } = {}): Promise<Browser> {
  const args = [
    // No sound card in CI: play into nothing rather than fail.
    '--autoplay-policy=no-user-gesture-required',
    '--mute-audio',
    '--no-sandbox',
    '--disable-dev-shm-usage',
  ];
  if (options.hostMap?.length)
    args.push(`--host-resolver-rules=${options.hostMap.map((name) => `MAP ${name} 127.0.0.1`).join(', ')}`);
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args, timeout: 60_000 });
}
