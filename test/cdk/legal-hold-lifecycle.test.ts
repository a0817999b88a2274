/**
 * A recording on legal hold survives the bucket's own lifecycle: `npm run hold` retags the recording and
 * its sidecar out of their `retention-class`, and no rule of the synthesized lifecycle configuration names
 * the held class, whether or not retention classes are configured. Released, the objects are governed by
 * their class's rule again. The rules are read from the synthesized template and matched the way S3 does:
 * a rule applies when the key starts with its prefix and the object carries every tag it filters on.
 */
import type { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../cdk/app';
import { parseConfig } from '../../functions/config';
import { HELD_RETENTION_CLASS, heldTags, releasedTags } from '../../functions/core/legal-hold';
import { cdkJsonContext } from './support';

const noBundling = { nag: false, appProps: cdkJsonContext({ 'aws:cdk:bundling-stacks': [] }) };
const telphin = (id: string, extra: Record<string, unknown> = {}) => ({ provider: 'telphin', id, ...extra });

interface LifecycleRule {
  Id: string;
  Status: string;
  Prefix?: string;
  TagFilters?: { Key: string; Value: string }[];
  ExpirationInDays?: number;
  Transitions?: unknown[];
  NoncurrentVersionExpiration?: unknown;
  AbortIncompleteMultipartUpload?: unknown;
}

function rulesOf(config: unknown): LifecycleRule[] {
  const { stack } = buildApp(parseConfig(config), noBundling);
  const bucket =
    Template.fromStack(stack).toJSON().Resources[
      stack.getLogicalId(stack.recordings.bucket.node.defaultChild as CfnElement)
    ];
  return bucket.Properties.LifecycleConfiguration.Rules;
}

/** The rules that expire or move the current version of an object with this key and these tags. */
function governing(rules: LifecycleRule[], key: string, tags: Record<string, string>): LifecycleRule[] {
  return rules.filter(
    (rule) =>
      rule.Status === 'Enabled' &&
      (rule.ExpirationInDays !== undefined || (rule.Transitions?.length ?? 0) > 0) &&
      key.startsWith(rule.Prefix ?? '') &&
      (rule.TagFilters ?? []).every((filter) => tags[filter.Key] === filter.Value),
  );
}

const RECORDING = 'recordings/telphin/hq/2026/03/03/3388-56C1.mp3';
const SIDECAR = `${RECORDING}.json`;
/** The tags the worker writes on a copy and its sidecar (functions/core/archive-recording.ts). */
const tagsOfClass = (retentionClass: string) => ({
  provider: 'telphin',
  source: 'hq',
  'retention-class': retentionClass,
  sha256: 'a'.repeat(64),
});

describe('a held recording and the synthesized lifecycle rules', () => {
  it('without retention classes: the default expiry applies to a standard copy, never to a held one, again once released', () => {
    const rules = rulesOf({
      sources: [telphin('hq')],
      lifecycle: { transitions: [{ storageClass: 'GLACIER_IR', afterDays: 30 }], expireAfterDays: 2555 },
    });
    for (const key of [RECORDING, SIDECAR]) {
      const tags = tagsOfClass('standard');
      expect(governing(rules, key, tags).map((rule) => [rule.Id, rule.ExpirationInDays])).toEqual([
        ['recordings-default-class', 2555],
      ]);
      const held = heldTags(tags);
      expect(held['retention-class']).toBe(HELD_RETENTION_CLASS);
      expect(governing(rules, key, held)).toEqual([]);
      const released = releasedTags(held);
      expect(released).toEqual(tags);
      expect(governing(rules, key, released).map((rule) => rule.Id)).toEqual(['recordings-default-class']);
    }
  });

  it('with retention classes: each class expires its own copies, none a held copy, whatever class it came from', () => {
    const rules = rulesOf({
      sources: [telphin('hq'), telphin('short', { retentionClass: 'short-term' })],
      lifecycle: {
        expireAfterDays: 400,
        retentionClasses: { 'short-term': { expireAfterDays: 30 }, calls7y: { expireAfterDays: 2555 } },
      },
    });
    for (const [retentionClass, days] of [
      ['standard', 400],
      ['short-term', 30],
      ['calls7y', 2555],
    ] as const) {
      const tags = tagsOfClass(retentionClass);
      expect(governing(rules, RECORDING, tags).map((rule) => rule.ExpirationInDays)).toEqual([days]);
      const held = heldTags(tags);
      expect(governing(rules, RECORDING, held)).toEqual([]);
      expect(governing(rules, SIDECAR, held)).toEqual([]);
      // Held twice (two overlapping queries), released once: the original class comes back.
      expect(releasedTags(heldTags(held))).toEqual(tags);
      expect(governing(rules, RECORDING, releasedTags(held)).map((rule) => rule.ExpirationInDays)).toEqual([
        days,
      ]);
    }
    // No rule names the held class at all, and the other rules keep their prefixes.
    expect(
      rules.filter((rule) => rule.TagFilters?.some((filter) => filter.Value === HELD_RETENTION_CLASS)),
    ).toEqual([]);
  });

  it('refuses a retention class named like the held class, and a source class no rule governs', () => {
    expect(() =>
      rulesOf({
        sources: [telphin('hq')],
        lifecycle: { retentionClasses: { [HELD_RETENTION_CLASS]: { expireAfterDays: 30 } } },
      }),
    ).toThrow(new RegExp(`lifecycle\\.retentionClasses\\.${HELD_RETENTION_CLASS}: .*legal hold`));
    expect(() =>
      rulesOf({
        sources: [telphin('hq', { retentionClass: 'calls7y' })],
        lifecycle: { expireAfterDays: 400 },
      }),
    ).toThrow(/sources\[0\]\.retentionClass: "calls7y" is not in lifecycle\.retentionClasses \(none\)/);
  });
});
