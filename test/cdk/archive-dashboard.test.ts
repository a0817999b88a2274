/**
 * The stack's CloudWatch dashboard: it graphs every metric the functions publish (read out of their
 * sources, not out of the dashboard's own lists) and every metric the log filters count, per configured
 * provider and source, plus the catalogue workgroup's bytes scanned. cdk-nag and cfn-lint stay clean.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp, loadDeploymentConfig } from '../../cdk/app';
import type { ArchiveStack } from '../../cdk/archive-stack';
import * as monitoring from '../../cdk/constructs/monitoring';
import * as archiveWorker from '../../functions/archive-worker';
import * as metricNames from '../../functions/observability/names';
import { descriptorOf } from '../../functions/providers';
import { MSGRAPH_WEBHOOK_COUNTS } from '../../functions/providers/graph-calling-bot/graph-calling-bot-webhook';
import { RINGCENTRAL_RATE_LIMITED_METRIC } from '../../functions/providers/ringcentral/descriptor';
import { MSTEAMS_WEBHOOK_COUNTS } from '../../functions/providers/teams-recordings/teams-recordings-webhook';
import { cdkJsonContext, nagViolations, resourceText } from './support';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const allProviders = loadDeploymentConfig(
  join(ROOT, 'examples/callvault.config.aws-all-providers.json'),
).config;
const telphinOnly = loadDeploymentConfig('/nonexistent/callvault.config.json').config;
const noBundling = { appProps: cdkJsonContext({ 'aws:cdk:bundling-stacks': [] }) };

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation and dashboard JSON
type Json = any;

/** Exported string constants the entries may name a metric by. */
const constants: Record<string, string> = Object.fromEntries(
  [metricNames, archiveWorker, monitoring].flatMap((module) =>
    Object.entries(module).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  ),
);

/**
 * Every metric name a Lambda entry (functions/*.ts) passes to Powertools' `addMetric`, a literal or an
 * exported constant; the webhook's names come from each adapter's counts.
 */
function metricsTheFunctionsPublish(): string[] {
  const names = new Set<string>();
  const entries = readdirSync(join(ROOT, 'functions')).filter((name) => name.endsWith('.ts'));
  for (const entry of entries) {
    const source = readFileSync(join(ROOT, 'functions', entry), 'utf8');
    for (const [, argument] of source.matchAll(/addMetric\(\s*([^,]+),/g)) {
      const name = argument?.trim() ?? '';
      if (/^['"]/.test(name)) names.add(name.slice(1, -1));
      else if (name.startsWith('webhookCountMetricName(')) continue;
      else if (name in constants) names.add(constants[name] as string);
      else if (name !== 'counted' && name !== 'name')
        throw new Error(`${entry}: cannot resolve the metric name ${name}`);
    }
  }
  // The worker's outcome counts are picked by `counted`, from these two.
  names.add(metricNames.RECORDINGS_ARCHIVED_METRIC);
  names.add(metricNames.RECORDINGS_GONE_AT_SOURCE_METRIC);
  // The sweep's budget forecast figures are published in a loop over `name`.
  names.add(metricNames.BUDGET_BACKLOG_GROWING_METRIC);
  names.add(metricNames.BUDGET_CAPACITY_PER_DAY_METRIC);
  names.add(metricNames.BUDGET_ARRIVALS_PER_DAY_METRIC);
  return [...names].sort();
}

/** The counts each adapter reports, read from the adapters themselves. */
function webhookCounts(): Record<string, readonly string[]> {
  const ringCentral = readFileSync(
    join(ROOT, 'functions/providers/ringcentral/ringcentral-webhook.ts'),
    'utf8',
  );
  const telphin = readFileSync(join(ROOT, 'functions/providers/telphin/telphin-webhook.ts'), 'utf8');
  expect(telphin).not.toMatch(/counts:/);
  return {
    telphin: [],
    ringcentral: [...ringCentral.matchAll(/counts: \{ (\w+):/g)].map((match) => match[1] as string),
    msgraph: MSGRAPH_WEBHOOK_COUNTS,
    msteams: MSTEAMS_WEBHOOK_COUNTS,
  };
}

interface GraphedMetric {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
}

function dashboardOf(template: Template): { metrics: GraphedMetric[]; expressions: string[] } {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const body = JSON.parse(resourceText(dashboards[0]?.Properties.DashboardBody));
  const metrics: GraphedMetric[] = [];
  const expressions: string[] = [];
  for (const widget of body.widgets as Json[]) {
    for (const line of (widget.properties.metrics ?? []) as Json[][]) {
      const last = line[line.length - 1];
      if (last && typeof last === 'object' && 'expression' in last) {
        expressions.push(last.expression);
        continue;
      }
      const [namespace, name, ...rest] = line.filter((part) => typeof part === 'string') as string[];
      const dimensions: Record<string, string> = {};
      for (let i = 0; i + 1 < rest.length; i += 2) dimensions[rest[i] as string] = rest[i + 1] as string;
      metrics.push({ namespace: namespace as string, name: name as string, dimensions });
    }
  }
  return { metrics, expressions };
}

function cfnLintAvailable(): boolean {
  return spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' }).status === 0;
}

describe('the dashboard, for a stack with all four providers', () => {
  let stack: ArchiveStack;
  let template: Template;
  let graphed: ReturnType<typeof dashboardOf>;
  beforeAll(() => {
    ({ stack } = buildApp(allProviders, noBundling));
    template = Template.fromStack(stack);
    graphed = dashboardOf(template);
  });

  const has = (name: string, dimensions: Record<string, string> = {}) =>
    graphed.metrics.some(
      (metric) =>
        metric.name === name &&
        Object.entries(dimensions).every(([key, value]) => metric.dimensions[key] === value),
    );

  it('graphs every metric the functions publish, with their service dimension', () => {
    const published = metricsTheFunctionsPublish();
    expect(published).toEqual(
      expect.arrayContaining(['ExpiredBeforeFetch', 'RecordingsDeletedAtSource', 'SubscriptionsActive']),
    );
    const missing = published.filter(
      (name) => !graphed.metrics.some((metric) => metric.name === name && metric.namespace === 'Callvault'),
    );
    expect(missing).toEqual([]);
    for (const metric of graphed.metrics.filter((m) => published.includes(m.name))) {
      expect(metric.dimensions.service, metric.name).toBe('callvault');
    }
  });

  it('graphs every metric the log filters count', () => {
    const filtered = new Set(
      Object.values(template.findResources('AWS::Logs::MetricFilter')).flatMap((filter) =>
        (filter.Properties.MetricTransformations as Json[]).map(
          (transformation) => transformation.MetricName,
        ),
      ),
    );
    expect(filtered.size).toBeGreaterThan(5);
    expect([...filtered].filter((name) => !has(name))).toEqual([]);
  });

  it('has, per provider, archived, gone-at-source, continued and restarted per hour, the queue and its dead letters, and webhook counts', () => {
    const counts = webhookCounts();
    for (const provider of ['telphin', 'ringcentral', 'msgraph', 'msteams'] as const) {
      expect(has('RecordingsArchived', { provider }), provider).toBe(true);
      expect(has('RecordingsGoneAtSource', { provider }), provider).toBe(true);
      expect(has('DownloadsContinued', { provider }), provider).toBe(true);
      expect(has('DownloadsRestarted', { provider }), provider).toBe(true);
      const queue = stack.queues.get(provider);
      expect(queue, provider).toBeDefined();
      const queueName = resourceText(stack.resolve(queue?.queue.queueName));
      const deadLetterName = resourceText(stack.resolve(queue?.deadLetterQueue.queueName));
      expect(has('ApproximateNumberOfMessagesVisible', { QueueName: queueName }), provider).toBe(true);
      expect(has('ApproximateAgeOfOldestMessage', { QueueName: queueName }), provider).toBe(true);
      expect(has('ApproximateNumberOfMessagesVisible', { QueueName: deadLetterName }), provider).toBe(true);
      for (const count of counts[provider] ?? []) {
        const named = descriptorOf(provider).metrics.webhookCounts;
        expect(has(metricNames.webhookCountMetricName(provider, count, named)), `${provider} ${count}`).toBe(
          true,
        );
      }
    }
    const hourly = graphed.metrics.filter((metric) => metric.name === 'RecordingsArchived');
    expect(hourly).toHaveLength(4);
  });

  it('has subscription state and retention per source, and RingCentral 429s', () => {
    expect(has('SubscriptionsActive', { source: 'ringcentral-main' })).toBe(true);
    expect(has('SubscriptionsActive', { source: 'teams-recordings' })).toBe(true);
    // The Graph bot keeps no subscription and nothing to delete.
    expect(has('SubscriptionsActive', { source: 'teams-bot' })).toBe(false);
    expect(has('DueButNotArchived', { source: 'teams-bot' })).toBe(false);
    expect(has('DueButNotArchived', { source: 'telphin-main' })).toBe(true);
    expect(has('RecordingsDeletedAtSource')).toBe(true);
    expect(has(RINGCENTRAL_RATE_LIMITED_METRIC)).toBe(true);
  });

  it("graphs RingCentral's budget forecast, and alarms after 24 hours of a growing backlog", () => {
    expect(has('BudgetBacklogGrowing', { source: 'ringcentral-main' })).toBe(true);
    expect(has('BudgetCapacityPerDay', { source: 'ringcentral-main' })).toBe(true);
    expect(has('BudgetBacklogGrowing', { source: 'telphin-main' })).toBe(false);
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
      (alarm) => alarm.Properties.MetricName === 'BudgetBacklogGrowing',
    );
    expect(alarms).toHaveLength(1);
    expect(alarms[0]?.Properties).toMatchObject({
      Statistic: 'Minimum',
      Period: 3600,
      EvaluationPeriods: 24,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(alarms[0]?.Properties.Dimensions).toEqual(
      expect.arrayContaining([{ Name: 'source', Value: 'ringcentral-main' }]),
    );
  });

  it("sums the catalogue workgroup's bytes scanned", () => {
    const athena = graphed.expressions.filter((expression) => expression.includes('AWS/Athena'));
    expect(athena).toHaveLength(1);
    expect(athena[0]).toContain('MetricName="ProcessedBytes"');
    expect(athena[0]).toContain(`WorkGroup="${stack.catalogue.workgroupName}"`);
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
        // W3005 is CDK's own Trigger provider (the subscriptions function's deploy-time run) naming a
        // dependency twice; nothing this stack writes.
        const lint = spawnSync(
          'cfn-lint',
          ['--format', 'parseable', '--ignore-checks', 'W3005', '--', path],
          {
            encoding: 'utf8',
          },
        );
        expect(lint.stdout + lint.stderr).toBe('');
        expect(lint.status).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );
});

describe('the dashboard, for a Telphin-only stack', () => {
  it('has no row or metric of a provider it does not run', () => {
    const { stack } = buildApp(telphinOnly, noBundling);
    const { metrics } = dashboardOf(Template.fromStack(stack));
    expect(
      metrics.some(
        (metric) => metric.name === 'RecordingsArchived' && metric.dimensions.provider === 'telphin',
      ),
    ).toBe(true);
    expect(metrics.filter((metric) => metric.name === 'RecordingsArchived')).toHaveLength(1);
    expect(
      metrics.some((metric) => metric.name.startsWith('RingCentral') || metric.name.startsWith('Teams')),
    ).toBe(false);
    expect(metrics.some((metric) => metric.name === 'ExpiredBeforeFetch')).toBe(false);
  });
});
