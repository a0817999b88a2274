/**
 * What ships: every file a Lambda bundle can contain is reached by imports from an entry point the CDK
 * sources name. The simulators, the demo, the local host and the operator scripts must not be among them
 * (README, "Development"). Entry points are read from cdk/, not listed here, so a new Lambda is covered the
 * moment it is added; an entry the test cannot read as a literal path fails instead of being skipped.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../..');

/** Folders no Lambda may reach: simulators and demo, tests, operator scripts, benchmarks, the local host. */
const NOT_SHIPPED = ['sandbox/', 'test/', 'scripts/', 'bench/', 'functions/local/'];

/** The one construct that turns an entry path into a Lambda bundle (cdk/constructs/node-function.ts). */
const LAMBDA_CONSTRUCT = 'NodeFunction';
const LAMBDA_CONSTRUCT_FILE = 'cdk/constructs/node-function.ts';
/** Other ways to build a Lambda from code; only the construct above may use them. */
const OTHER_LAMBDA_BUILDERS = new Set(['NodejsFunction', 'DockerImageFunction', 'SingletonFunction']);
const CODE_FROM = /^from(Asset|Inline|DockerBuild|CustomCommand|AssetImage|EcrImage|Bucket)/;

interface EntryScan {
  entries: string[];
  /** Constructs whose entry is not a literal path, or Lambdas built another way. */
  problems: string[];
}

function typeScriptFilesUnder(root: string, folder: string): string[] {
  if (!existsSync(join(root, folder))) return [];
  return readdirSync(join(root, folder), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
    .map((name) => join(folder, name).split(sep).join('/'));
}

function parse(root: string, file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(join(root, file), 'utf8'), ts.ScriptTarget.Latest, true);
}

function where(source: ts.SourceFile, node: ts.Node): string {
  const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
  return `${source.fileName}:${line + 1}`;
}

/** Whether the class around a `super(…)` call extends the Lambda construct. */
function extendsLambdaConstruct(node: ts.Node, source: ts.SourceFile): boolean {
  let around: ts.Node | undefined = node.parent;
  while (around && !ts.isClassDeclaration(around) && !ts.isClassExpression(around)) around = around.parent;
  return Boolean(
    around &&
      (around as ts.ClassLikeDeclaration).heritageClauses?.some((clause) =>
        clause.types.some((type) => type.expression.getText(source) === LAMBDA_CONSTRUCT),
      ),
  );
}

/** Reads every Lambda entry point from the CDK sources under `root`. */
function lambdaEntries(root: string): EntryScan {
  const entries = new Set<string>();
  const problems: string[] = [];
  for (const file of typeScriptFilesUnder(root, 'cdk')) {
    const source = parse(root, file);
    const visit = (node: ts.Node): void => {
      // `new NodeFunction(…)`, or `super(…)` in a construct class that extends NodeFunction.
      if (
        (ts.isNewExpression(node) && node.expression.getText(source) === LAMBDA_CONSTRUCT) ||
        (ts.isCallExpression(node) &&
          node.expression.kind === ts.SyntaxKind.SuperKeyword &&
          extendsLambdaConstruct(node, source))
      ) {
        const props = node.arguments?.[2];
        const entry =
          props && ts.isObjectLiteralExpression(props)
            ? props.properties.find(
                (property): property is ts.PropertyAssignment =>
                  ts.isPropertyAssignment(property) && property.name.getText(source) === 'entry',
              )
            : undefined;
        const value = entry?.initializer;
        if (value && (ts.isStringLiteral(value) || ts.isNoSubstitutionTemplateLiteral(value))) {
          entries.add(value.text);
        } else {
          problems.push(
            `${where(source, node)}: ${LAMBDA_CONSTRUCT} without a literal 'functions/….ts' entry`,
          );
        }
      }
      if (file !== LAMBDA_CONSTRUCT_FILE) {
        if (ts.isIdentifier(node) && OTHER_LAMBDA_BUILDERS.has(node.text)) {
          problems.push(`${where(source, node)}: builds a Lambda with ${node.text}, not ${LAMBDA_CONSTRUCT}`);
        }
        if (ts.isPropertyAccessExpression(node) && node.expression.getText(source).endsWith('Code')) {
          if (CODE_FROM.test(node.name.text)) {
            problems.push(`${where(source, node)}: Lambda code from ${node.getText(source)}`);
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return { entries: [...entries].sort(), problems };
}

/** Relative module specifiers of a file: imports, re-exports, dynamic imports; non-literal ones reported. */
function relativeImports(source: ts.SourceFile): { specifiers: string[]; dynamic: string[] } {
  const specifiers: string[] = [];
  const dynamic: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      specifiers.push(node.moduleSpecifier.text);
    }
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      if (argument && ts.isStringLiteral(argument)) specifiers.push(argument.text);
      else dynamic.push(`${where(source, node)}: import() of a computed path`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { specifiers: specifiers.filter((specifier) => specifier.startsWith('.')), dynamic };
}

function resolveModule(root: string, fromFile: string, specifier: string): string | undefined {
  const base = join(dirname(fromFile), specifier.replace(/\.(js|ts)$/, ''))
    .split(sep)
    .join('/');
  for (const candidate of [`${base}.ts`, `${base}/index.ts`]) {
    if (existsSync(join(root, candidate))) return candidate;
  }
  return undefined;
}

interface Reach {
  /** Every file reached, with the import chain from its entry point. */
  chains: Map<string, string[]>;
  problems: string[];
}

/** Walks imports transitively from the entry points, keeping the first chain that reached each file. */
function reachFrom(root: string, entries: readonly string[]): Reach {
  const chains = new Map<string, string[]>();
  const problems: string[] = [];
  const queue: string[] = [];
  for (const entry of entries) {
    if (!existsSync(join(root, entry))) problems.push(`entry ${entry} does not exist`);
    else if (!chains.has(entry)) {
      chains.set(entry, [entry]);
      queue.push(entry);
    }
  }
  while (queue.length > 0) {
    const file = queue.shift() as string;
    const { specifiers, dynamic } = relativeImports(parse(root, file));
    problems.push(...dynamic);
    for (const specifier of specifiers) {
      const target = resolveModule(root, file, specifier);
      if (!target) {
        problems.push(`${file} imports ${specifier}, which does not resolve to a .ts file`);
        continue;
      }
      if (chains.has(target)) continue;
      chains.set(target, [...(chains.get(file) as string[]), target]);
      queue.push(target);
    }
  }
  return { chains, problems };
}

function unshippableReached(reach: Reach): string[] {
  return [...reach.chains]
    .filter(([file]) => NOT_SHIPPED.some((folder) => file.startsWith(folder)))
    .map(([, chain]) => chain.join(' → '));
}

const fixtures: string[] = [];
afterAll(() => {
  for (const folder of fixtures) rmSync(folder, { recursive: true, force: true });
});

function fixture(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'callvault-shipped-tree-'));
  fixtures.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('what ships', () => {
  it('the walker finds a simulator reached through a chain of imports, and names the chain', () => {
    const root = fixture({
      'cdk/stack.ts': "new NodeFunction(this, 'Worker', { entry: 'functions/worker.ts', memorySize: 512 });",
      'functions/worker.ts': "import { source } from './providers/x/index';\nexport const handler = source;",
      'functions/providers/x/index.ts': "export { source } from '../../core/pick.js';",
      'functions/core/pick.ts':
        "import type { Clock } from './ports';\nexport const source = await import('../../sandbox/providers/x-sandbox');",
      'functions/core/ports.ts': 'export type Clock = () => number;',
      'sandbox/providers/x-sandbox.ts': "import '../../test/support/harness';\nexport const x = 1;",
      'test/support/harness.ts': 'export {};',
    });
    const { entries, problems } = lambdaEntries(root);
    expect(problems).toEqual([]);
    expect(entries).toEqual(['functions/worker.ts']);
    const reach = reachFrom(root, entries);
    expect(reach.problems).toEqual([]);
    expect(unshippableReached(reach)).toEqual([
      'functions/worker.ts → functions/providers/x/index.ts → functions/core/pick.ts → sandbox/providers/x-sandbox.ts',
      'functions/worker.ts → functions/providers/x/index.ts → functions/core/pick.ts → sandbox/providers/x-sandbox.ts → test/support/harness.ts',
    ]);
  });

  it('an entry built at run time, a Lambda built another way, or a computed import() fails', () => {
    const root = fixture({
      'cdk/stack.ts': [
        "const name = 'sweep';",
        `new NodeFunction(this, 'A', { entry: \`functions/\${name}.ts\` });`,
        "new NodeFunction(this, 'B', { ...props });",
        "new NodejsFunction(this, 'C', { entry: 'functions/c.ts' });",
        "new lambda.Function(this, 'D', { code: lambda.Code.fromAsset('dist') });",
      ].join('\n'),
      'functions/e.ts': "const where = '../sandbox/x';\nexport const x = await import(where);",
    });
    const { entries, problems } = lambdaEntries(root);
    expect(entries).toEqual([]);
    expect(problems).toEqual([
      "cdk/stack.ts:2: NodeFunction without a literal 'functions/….ts' entry",
      "cdk/stack.ts:3: NodeFunction without a literal 'functions/….ts' entry",
      'cdk/stack.ts:4: builds a Lambda with NodejsFunction, not NodeFunction',
      'cdk/stack.ts:5: Lambda code from lambda.Code.fromAsset',
    ]);
    expect(reachFrom(root, ['functions/e.ts']).problems).toEqual([
      'functions/e.ts:2: import() of a computed path',
    ]);
  });

  it('finds every Lambda entry point the stack builds, each a literal path under functions/', () => {
    const { entries, problems } = lambdaEntries(ROOT);
    expect(problems).toEqual([]);
    // The stack has at least the webhook, worker, sweep, retention and subscriptions functions.
    expect(entries.length).toBeGreaterThanOrEqual(5);
    for (const entry of entries) expect(entry).toMatch(/^functions\/[\w/-]+\.ts$/);
    expect(entries).toEqual(expect.arrayContaining(['functions/webhook.ts', 'functions/archive-worker.ts']));
  });

  it('no Lambda entry point reaches the simulators, the demo, tests, scripts, benchmarks or the local host', () => {
    const { entries } = lambdaEntries(ROOT);
    const reach = reachFrom(ROOT, entries);
    expect(reach.problems).toEqual([]);
    expect(unshippableReached(reach)).toEqual([]);
    // The walk went deep: composition roots, providers and core are all in the bundle.
    const reached = [...reach.chains.keys()];
    expect(reached).toEqual(expect.arrayContaining(['functions/composition/aws-runtime.ts']));
    expect(reached.some((file) => file.startsWith('functions/providers/'))).toBe(true);
    expect(reached.some((file) => file.startsWith('functions/core/'))).toBe(true);
  });

  it('the simulators and the demo live outside functions/', () => {
    expect(typeScriptFilesUnder(ROOT, 'functions/sandbox')).toEqual([]);
    expect(
      typeScriptFilesUnder(ROOT, 'functions/local').filter((file) => /\/demo[^/]*\.ts$/.test(file)),
    ).toEqual([]);
    expect(typeScriptFilesUnder(ROOT, 'sandbox/providers').length).toBeGreaterThan(0);
  });
});
