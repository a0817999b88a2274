/**
 * Do two syntheses of the stack build the same resources? For refactors of cdk/ that must not change what
 * is deployed (a moved construct can silently change a logical id, and CloudFormation replaces a resource
 * whose logical id changes: a new, empty bucket, table or queue).
 *
 *   npx tsx scripts/template-parity.ts synth <out.template.json> [config.json]
 *       synthesizes in process (no bundling, no cdk-nag) and writes the stack's template
 *   npx tsx scripts/template-parity.ts compare <before> <after> [--ignore-assets]
 *       <before>/<after>: a template file, or a cdk.out directory (its *.template.json)
 *
 * `compare` prints every resource (logical id, type, properties, DependsOn, deletion and replacement
 * policies) and every output that was added, removed or changed, and exits 1 when there is any.
 * `--ignore-assets` treats asset hashes (a Lambda bundle's S3 key) as equal: they change whenever the
 * functions' code does, which is not a change of the stack.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Json = any;

/** The parts of a resource that decide what CloudFormation builds; `Metadata` (construct paths) does not. */
const COMPARED_ATTRIBUTES = [
  'Type',
  'Properties',
  'DependsOn',
  'DeletionPolicy',
  'UpdateReplacePolicy',
  'Condition',
] as const;

/** Types whose replacement loses data or breaks what points at them: flagged first in the report. */
const STATEFUL_TYPES: ReadonlySet<string> = new Set([
  'AWS::S3::Bucket',
  'AWS::DynamoDB::Table',
  'AWS::SQS::Queue',
  'AWS::KMS::Key',
  'AWS::Logs::LogGroup',
  'AWS::SecretsManager::Secret',
]);

/** A CDK asset's content hash (64 hex digits), e.g. a Lambda bundle's `Code.S3Key`. */
const ASSET_HASH = /[0-9a-f]{64}/g;
/**
 * `currentVersion`'s logical id ends in a hash of the function's properties, code included (aws-lambda
 * `Function.currentVersion`): new code publishes a new version, which is what it is for.
 */
const VERSION_HASH = /(CurrentVersion[0-9A-F]{8})[0-9a-f]{32}/g;
/** CDK's analytics resource: the CLI adds it, an in-process synthesis does not; nothing of the stack. */
const CDK_METADATA_TYPE = 'AWS::CDK::Metadata';

export interface TemplateDifference {
  readonly kind:
    | 'resource-added'
    | 'resource-removed'
    | 'resource-changed'
    | 'output-added'
    | 'output-removed'
    | 'output-changed';
  /** Logical id of the resource or output. */
  readonly id: string;
  readonly type?: string;
  /** For changes: each differing path with its value before and after. */
  readonly changes?: readonly { path: string; before: Json; after: Json }[];
}

export interface CompareOptions {
  readonly ignoreAssets?: boolean;
}

/** Every difference in resources and outputs between two templates, stateful resources first. */
export function compareTemplates(
  before: Json,
  after: Json,
  options: CompareOptions = {},
): TemplateDifference[] {
  const normalise = (value: Json): Json =>
    options.ignoreAssets && value !== undefined
      ? JSON.parse(JSON.stringify(value).replace(ASSET_HASH, '<asset>').replace(VERSION_HASH, '$1<code>'))
      : value;
  const resourcesOf = (template: Json): Record<string, Json> =>
    Object.fromEntries(
      Object.entries(template.Resources ?? {})
        .filter(([, resource]) => (resource as Json).Type !== CDK_METADATA_TYPE)
        .map(([id, resource]) => [
          options.ignoreAssets ? id.replace(VERSION_HASH, '$1<code>') : id,
          resource,
        ]),
    );
  const differences: TemplateDifference[] = [];

  const resourcesBefore = resourcesOf(before);
  const resourcesAfter = resourcesOf(after);
  for (const id of unionOfKeys(resourcesBefore, resourcesAfter)) {
    const a = resourcesBefore[id];
    const b = resourcesAfter[id];
    if (a === undefined) differences.push({ kind: 'resource-added', id, type: b.Type });
    else if (b === undefined) differences.push({ kind: 'resource-removed', id, type: a.Type });
    else {
      const changes = COMPARED_ATTRIBUTES.flatMap((attribute) =>
        deepDifferences(normalise(a[attribute]), normalise(b[attribute]), attribute),
      );
      if (changes.length > 0) differences.push({ kind: 'resource-changed', id, type: a.Type, changes });
    }
  }

  const outputsBefore: Record<string, Json> = before.Outputs ?? {};
  const outputsAfter: Record<string, Json> = after.Outputs ?? {};
  for (const id of unionOfKeys(outputsBefore, outputsAfter)) {
    const a = outputsBefore[id];
    const b = outputsAfter[id];
    if (a === undefined) differences.push({ kind: 'output-added', id });
    else if (b === undefined) differences.push({ kind: 'output-removed', id });
    else {
      const changes = deepDifferences(normalise(a), normalise(b), 'Output');
      if (changes.length > 0) differences.push({ kind: 'output-changed', id, changes });
    }
  }

  const stateful = (difference: TemplateDifference) => (STATEFUL_TYPES.has(difference.type ?? '') ? 0 : 1);
  return differences.sort((x, y) => stateful(x) - stateful(y));
}

function unionOfKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
}

/** The leaf paths where two JSON values differ (arrays compared by position). */
function deepDifferences(a: Json, b: Json, path: string): { path: string; before: Json; after: Json }[] {
  if (isDeepStrictEqual(a, b)) return [];
  const bothObjects =
    typeof a === 'object' &&
    a !== null &&
    typeof b === 'object' &&
    b !== null &&
    Array.isArray(a) === Array.isArray(b);
  if (!bothObjects) return [{ path, before: a, after: b }];
  const keys = Array.isArray(a)
    ? Array.from({ length: Math.max(a.length, b.length) }, (_, index) => String(index))
    : unionOfKeys(a, b);
  return keys.flatMap((key) =>
    deepDifferences(a[key], b[key], Array.isArray(a) ? `${path}[${key}]` : `${path}.${key}`),
  );
}

/** One line per difference, and the changed paths beneath. */
export function formatDifferences(differences: readonly TemplateDifference[]): string {
  if (differences.length === 0) return '0 differences in resources and outputs\n';
  const lines = [`${differences.length} difference(s) in resources and outputs:`];
  for (const difference of differences) {
    const stateful = STATEFUL_TYPES.has(difference.type ?? '') ? '  [stateful]' : '';
    lines.push(
      `${difference.kind} ${difference.id}${difference.type ? ` (${difference.type})` : ''}${stateful}`,
    );
    for (const change of difference.changes ?? []) {
      lines.push(`    ${change.path}: ${short(change.before)} -> ${short(change.after)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function short(value: Json): string {
  const text = value === undefined ? '(absent)' : JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/** A template file, or the one stack template in a cdk.out directory. */
export function readTemplate(path: string): Json {
  if (!statSync(path).isDirectory()) return JSON.parse(readFileSync(path, 'utf8'));
  const templates = readdirSync(path).filter((name) => name.endsWith('.template.json'));
  if (templates.length !== 1)
    throw new Error(`${path}: expected one *.template.json, found ${templates.length}`);
  return JSON.parse(readFileSync(join(path, templates[0] as string), 'utf8'));
}

async function synthesize(outFile: string, configPath?: string): Promise<void> {
  const { buildApp, loadDeploymentConfig } = await import('../cdk/app');
  const { Template } = await import('aws-cdk-lib/assertions');
  const cdkJson = JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8'));
  const { config } = loadDeploymentConfig(configPath ? resolve(configPath) : undefined);
  const { stack } = buildApp(config, {
    appProps: { context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } },
    nag: false,
  });
  writeFileSync(outFile, `${JSON.stringify(Template.fromStack(stack).toJSON(), null, 1)}\n`);
}

const USAGE =
  'usage: template-parity.ts synth <out.template.json> [config.json] | compare <before> <after> [--ignore-assets]';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const positional = rest.filter((arg) => !arg.startsWith('--'));
  if (command === 'synth' && positional[0]) {
    await synthesize(positional[0], positional[1]);
    return 0;
  }
  if (command === 'compare' && positional.length === 2) {
    const differences = compareTemplates(
      readTemplate(positional[0] as string),
      readTemplate(positional[1] as string),
      { ignoreAssets: rest.includes('--ignore-assets') },
    );
    process.stdout.write(formatDifferences(differences));
    return differences.length === 0 ? 0 : 1;
  }
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  process.exitCode = await main(process.argv.slice(2));
}
