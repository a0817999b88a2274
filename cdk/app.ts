/**
 * The CDK app: `npx tsx cdk/app.ts` (via `cdk synth` / `cdk deploy`). Reads the config named by
 * CALLVAULT_CONFIG (default ./callvault.config.json); without one it synthesizes the bundled example so
 * that `npm run synth` works on a fresh checkout.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import {
  type CallvaultConfig,
  ConfigError,
  configPathFromEnvironment,
  loadConfigFile,
} from '../functions/config';
import { ArchiveStack } from './archive-stack';

export const EXAMPLE_CONFIG_PATH = fileURLToPath(
  new URL('../examples/callvault.config.aws.json', import.meta.url),
);

/** The config to deploy, and where it came from. */
export function loadDeploymentConfig(path = configPathFromEnvironment()): {
  config: CallvaultConfig;
  path: string;
  example: boolean;
} {
  if (existsSync(path)) return { config: loadConfigFile(path), path, example: false };
  return { config: loadConfigFile(EXAMPLE_CONFIG_PATH), path: EXAMPLE_CONFIG_PATH, example: true };
}

export interface BuildAppOptions {
  readonly appProps?: AppProps;
  /**
   * Run cdk-nag (AWS Solutions and Serverless packs) as validation plugins; findings fail synthesis.
   * @default true
   */
  readonly nag?: boolean;
}

/** Builds the app and its one stack from a config; tests use this too. */
export function buildApp(
  config: CallvaultConfig,
  options: BuildAppOptions = {},
): { app: App; stack: ArchiveStack } {
  const app = new App(options.appProps);
  const stack = new ArchiveStack(app, config.aws.stackName, {
    config,
    env: { account: config.aws.account, region: config.aws.region },
    description: "callvault: copies every call recording into this account's S3 bucket",
  });
  if (options.nag ?? true)
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  return { app, stack };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const { config, path, example } = loadDeploymentConfig();
    if (example) {
      process.stderr.write(
        `callvault: ${configPathFromEnvironment()} not found; synthesizing the example ${path}. ` +
          'Copy it to callvault.config.json (or set CALLVAULT_CONFIG) and edit it before deploying.\n',
      );
    }
    buildApp(config).app.synth();
  } catch (error) {
    // A bad configuration is the user's to fix: show the message naming the field, not a stack trace.
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`callvault: ${error.message}\n`);
    process.exit(1);
  }
}
