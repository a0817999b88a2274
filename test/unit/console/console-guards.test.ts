/**
 * The console server's guards, on their own: loopback-only binding, the Host check, the token compare,
 * byte ranges, recording keys, and real-path containment in the archive (symbolic links included).
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveFile, LocalConsoleBackend } from '../../../functions/ops/console-local';
import {
  contentSecurityPolicy,
  hostHeaderAllowed,
  isLoopbackHost,
  parseRange,
  recordingsKey,
  startConsoleServer,
  tokensEqual,
} from '../../../functions/ops/console-server';

describe('console guards', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callvault-console-guards-'));
    await mkdir(join(dir, 'archive', 'recordings', 'telphin'), { recursive: true });
    await writeFile(join(dir, 'archive', 'recordings', 'telphin', 'a.mp3'), 'audio');
    await writeFile(join(dir, 'outside.txt'), 'secret');
    await symlink(join(dir, 'outside.txt'), join(dir, 'archive', 'recordings', 'telphin', 'out.mp3'));
    await symlink(
      join(dir, 'archive', 'recordings', 'telphin', 'a.mp3'),
      join(dir, 'archive', 'recordings', 'in.mp3'),
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('binds loopback only', async () => {
    expect(['127.0.0.1', '::1'].map(isLoopbackHost)).toEqual([true, true]);
    expect(['0.0.0.0', '::', 'localhost', '192.168.1.2', '127.0.0.2'].map(isLoopbackHost)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    const backend = new LocalConsoleBackend({ archiveDir: join(dir, 'archive'), sources: [] });
    await expect(startConsoleServer({ backend, host: '0.0.0.0' })).rejects.toThrow(/loopback only/);
  });

  it('accepts only the bound host and port in Host', () => {
    expect(hostHeaderAllowed('127.0.0.1:8780', '127.0.0.1', 8780)).toBe(true);
    expect(hostHeaderAllowed('[::1]:8780', '::1', 8780)).toBe(true);
    expect(hostHeaderAllowed('localhost:8780', '127.0.0.1', 8780)).toBe(false);
    expect(hostHeaderAllowed('evil.example:8780', '127.0.0.1', 8780)).toBe(false);
    expect(hostHeaderAllowed('127.0.0.1:8781', '127.0.0.1', 8780)).toBe(false);
    expect(hostHeaderAllowed(undefined, '127.0.0.1', 8780)).toBe(false);
  });

  it('compares tokens exactly', () => {
    expect(tokensEqual('abc', 'abc')).toBe(true);
    expect(tokensEqual('abd', 'abc')).toBe(false);
    expect(tokensEqual('ab', 'abc')).toBe(false);
    expect(tokensEqual(undefined, 'abc')).toBe(false);
    expect(tokensEqual('', 'abc')).toBe(false);
  });

  it('reads byte ranges as RFC 9110 defines them', () => {
    expect(parseRange(undefined, 100)).toBeUndefined();
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=50-500', 100)).toEqual({ start: 50, end: 99 });
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,5-6', 100)).toBeUndefined();
  });

  it('takes recording keys only, and never a file outside the archive', async () => {
    for (const key of [
      'recordings/../x',
      '../x',
      '/etc/passwd',
      'recordings//x',
      'holds/x',
      'recordings/a\\..\\b',
    ])
      expect(() => recordingsKey(key), key).toThrow(/is not a recording key/);
    const archive = join(dir, 'archive');
    expect(await archiveFile(archive, 'recordings/telphin/a.mp3')).toMatch(/a\.mp3$/);
    expect(await archiveFile(archive, 'recordings/in.mp3')).toMatch(/a\.mp3$/);
    expect(await archiveFile(archive, 'recordings/telphin/out.mp3')).toBeUndefined();
    expect(await archiveFile(archive, 'recordings/telphin')).toBeUndefined();
    expect(await archiveFile(archive, 'recordings/none.mp3')).toBeUndefined();
  });

  it('lets the page load its own script, style and API only', () => {
    const policy = contentSecurityPolicy(['https://bucket.s3.us-east-1.amazonaws.com']);
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("connect-src 'self'");
    expect(policy).toContain("media-src 'self' https://bucket.s3.us-east-1.amazonaws.com");
    expect(policy).toContain("frame-ancestors 'none'");
  });
});
