/**
 * The catalogue in the stack: Glue table with partition projection (no crawler), an Athena workgroup that
 * enforces encrypted results, a cutoff and metrics, named queries equal to what `npm run find` runs, and a
 * reader role that can query and fetch and nothing else. cdk-nag and cfn-lint over the whole template.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp, loadDeploymentConfig } from '../../cdk/app';
import type { ArchiveStack } from '../../cdk/archive-stack';
import { CATALOGUE_COLUMNS } from '../../functions/core/catalogue';
import { namedQuestions } from '../../functions/core/catalogue-query';
import { allowStatements, cdkJsonContext, nagViolations, policyOfRole } from './support';

const example = loadDeploymentConfig('/nonexistent/callvault.config.json').config;
const noBundling = { appProps: cdkJsonContext({ 'aws:cdk:bundling-stacks': [] }) };

function cfnLintAvailable(): boolean {
  return spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' }).status === 0;
}

describe('the catalogue in the stack', () => {
  let stack: ArchiveStack;
  let template: Template;
  beforeAll(() => {
    ({ stack } = buildApp(example, noBundling));
    template = Template.fromStack(stack);
  });

  it('is a Glue table over catalog/recordings/ with partition projection, and no crawler', () => {
    template.resourceCountIs('AWS::Glue::Crawler', 0);
    const tables = Object.values(template.findResources('AWS::Glue::Table'));
    expect(tables).toHaveLength(1);
    const input = tables[0]?.Properties.TableInput;
    expect(input.PartitionKeys.map((key: { Name: string }) => key.Name)).toEqual([
      'provider',
      'source',
      'date',
    ]);
    expect(input.Parameters).toMatchObject({
      'projection.enabled': 'true',
      'projection.date.type': 'date',
      'projection.date.format': 'yyyy-MM-dd',
      'projection.provider.type': 'enum',
      'projection.source.type': 'enum',
      'projection.source.values': example.sources.map((source) => source.id).join(','),
    });
    expect(JSON.stringify(input.Parameters['storage.location.template'])).toContain(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Athena's projection template, not JavaScript's
      '/catalog/recordings/provider=${provider}/source=${source}/date=${date}/',
    );
    expect(input.StorageDescriptor.Columns.map((column: { Name: string }) => column.Name)).toEqual(
      CATALOGUE_COLUMNS.map(([name]) => name),
    );
    expect(input.StorageDescriptor.SerdeInfo.SerializationLibrary).toBe('org.openx.data.jsonserde.JsonSerDe');
  });

  it('has a workgroup that enforces an encrypted, expiring results location and a bytes-scanned cutoff', () => {
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: {
        EnforceWorkGroupConfiguration: true,
        PublishCloudWatchMetricsEnabled: true,
        BytesScannedCutoffPerQuery: 1024 ** 3,
        ResultConfiguration: { EncryptionConfiguration: { EncryptionOption: 'SSE_S3' } },
      },
    });
    const resultsId = stack.getLogicalId(stack.catalogue.resultsBucket.node.defaultChild as never);
    const results = template.toJSON().Resources[resultsId];
    expect(results.Properties.BucketEncryption).toBeDefined();
    expect(results.Properties.LifecycleConfiguration.Rules).toContainEqual(
      expect.objectContaining({ ExpirationInDays: 7, Status: 'Enabled' }),
    );
  });

  it('saves the common questions as named queries, exactly the SQL npm run find runs', () => {
    const queries = Object.values(template.findResources('AWS::Athena::NamedQuery')).map(
      (query) => query.Properties,
    );
    const expected = namedQuestions(`"${stack.catalogue.databaseName}"."recordings"`);
    expect(queries.map((query) => query.Name).sort()).toEqual(
      expected.map((question) => question.name).sort(),
    );
    for (const question of expected)
      expect(queries.find((query) => query.Name === question.name)?.QueryString).toBe(question.sql);
  });

  it('gives the reader role query and fetch rights, and nothing that writes or deletes the archive', () => {
    const roleId = stack.getLogicalId(stack.catalogue.readerRole.node.defaultChild as never);
    const statements = allowStatements(policyOfRole(template, roleId));
    const actions = statements.flatMap((statement) => statement.actions);
    expect(actions).toEqual(
      expect.arrayContaining(['athena:StartQueryExecution', 'glue:GetTable', 's3:GetObject']),
    );
    for (const action of actions)
      expect(action).toMatch(
        /^(athena:(Start|Get|Stop|List|BatchGet)|glue:Get|s3:(Get|List|PutObject$|AbortMultipartUpload))/,
      );
    for (const statement of statements) {
      if (
        statement.actions.some((action) => action === 's3:PutObject' || action === 's3:AbortMultipartUpload')
      )
        for (const resource of statement.resources)
          expect(resource).toMatch(/Results.*\/athena-results\/\*$/);
      if (statement.actions.some((action) => action.startsWith('athena:')))
        for (const resource of statement.resources)
          expect(resource).toContain(`workgroup/${stack.catalogue.workgroupName}`);
    }
  });

  it('lets the workers and retention write catalogue records, under catalog/ only', () => {
    const workerRole = stack.getLogicalId(stack.worker.role?.node.defaultChild as never);
    const catalogue = allowStatements(policyOfRole(template, workerRole)).filter((statement) =>
      statement.resources.some((resource) => resource.includes('/catalog/')),
    );
    expect(catalogue.length).toBeGreaterThan(0);
    for (const statement of catalogue) {
      expect(statement.actions).toEqual(['s3:PutObject']);
      expect(statement.resources.filter((resource) => resource.includes('/catalog/'))).toEqual([
        expect.stringMatching(/\/catalog\/recordings\/\*$/),
      ]);
    }
  });

  it('names its outputs for npm run find -- --aws', () => {
    const outputs = template.toJSON().Outputs;
    expect(outputs.CatalogDatabase.Value).toBe(stack.catalogue.databaseName);
    expect(outputs.CatalogWorkgroup.Value).toBe(stack.catalogue.workgroupName);
    expect(outputs.CatalogReaderRoleArn).toBeDefined();
  });

  it('passes cdk-nag', () => {
    expect(nagViolations(stack)).toEqual([]);
  });

  it.skipIf(!cfnLintAvailable() && process.env.CI !== 'true')(
    'passes cfn-lint',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'callvault-cfn-lint-'));
      try {
        const path = join(dir, 'template.json');
        writeFileSync(path, JSON.stringify(template.toJSON()));
        const lint = spawnSync('cfn-lint', ['--format', 'parseable', path], { encoding: 'utf8' });
        expect(lint.stdout + lint.stderr).toBe('');
        expect(lint.status).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
