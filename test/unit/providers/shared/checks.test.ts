import { describe, expect, it } from 'vitest';
import { InvalidInputError, PermanentError, RateLimitedError } from '../../../../functions/core/errors';
import { DisallowedUrlError } from '../../../../functions/providers/http';
import { deleteOutcome } from '../../../../functions/providers/shared/delete-outcome';
import {
  assertPinnedUrl,
  pinDownloadHosts,
  pinnedOrigin,
} from '../../../../functions/providers/shared/download-hosts';
import { plausibleEventTime, secretMatches } from '../../../../functions/providers/shared/webhook-checks';

describe('the pinned-host rule', () => {
  it('adds the scheme default port to a pattern that names none, and leaves ported and loopback ones', () => {
    expect(
      pinDownloadHosts(
        ['file.example', '*.sharepoint.com', 'a.example:8443', '127.0.0.1', 'localhost'],
        'https:',
      ),
    ).toEqual(['file.example:443', '*.sharepoint.com:443', 'a.example:8443', '127.0.0.1', 'localhost']);
    expect(pinDownloadHosts(['[2001:db8::1]', '2001:db8::2', '[::1]'], 'https:')).toEqual([
      '[2001:db8::1]:443',
      '[2001:db8::2]:443',
      '[::1]',
    ]);
    expect(pinnedOrigin('https://graph.example')).toBe('graph.example:443');
    expect(pinnedOrigin('http://127.0.0.1:4567/x')).toBe('127.0.0.1:4567');
  });

  it('refuses an allowed name on another port, accepts it on the default one and loopback on any', () => {
    expect(() => assertPinnedUrl('https://file.example:8443/rec', ['file.example'])).toThrow(
      DisallowedUrlError,
    );
    expect(assertPinnedUrl('https://file.example/rec', ['file.example']).host).toBe('file.example');
    expect(assertPinnedUrl('https://x.sharepoint.com:443/rec', ['*.sharepoint.com']).hostname).toBe(
      'x.sharepoint.com',
    );
    expect(assertPinnedUrl('http://127.0.0.1:39123/rec', ['127.0.0.1']).port).toBe('39123');
    expect(() => assertPinnedUrl('not a url', ['file.example'])).toThrow(DisallowedUrlError);
  });
});

describe('webhook checks', () => {
  it('compares secrets exactly, whatever the lengths, and refuses a missing one', () => {
    const secret = 'a-long-enough-secret';
    expect(secretMatches(secret, secret)).toBe(true);
    expect(secretMatches(`${secret}x`, secret)).toBe(false);
    expect(secretMatches('', secret)).toBe(false);
    expect(secretMatches(undefined, secret)).toBe(false);
    expect(secretMatches(null, secret)).toBe(false);
  });

  it('accepts event times in 2001–2100 only', () => {
    expect(plausibleEventTime(Date.UTC(2026, 0, 1), 'x').toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(() => plausibleEventTime(1_700_000_000, 'seconds, not ms')).toThrow(
      new InvalidInputError('seconds, not ms'),
    );
    expect(() => plausibleEventTime(Date.UTC(2100, 0, 2), 'far')).toThrow(InvalidInputError);
    expect(() => plausibleEventTime(Number.NaN, 'nan')).toThrow(InvalidInputError);
  });
});

describe('delete outcomes', () => {
  const answer = (status: number, text = '', headers = {}) => ({
    status,
    text,
    headers,
    where: 'api.example/rec/1',
  });

  it('maps 2xx to deleted and a "not found" 404 to already gone', () => {
    expect(deleteOutcome(answer(204), 'recording 1')).toBe('deleted');
    expect(deleteOutcome(answer(404, '{"message":"Record not found"}'), 'recording 1')).toBe('already-gone');
  });

  it('does not take any other 404 for a deletion, and throws the typed error for other statuses', () => {
    expect(() => deleteOutcome(answer(404, '<html>nginx</html>'), 'recording 1')).toThrow(
      new PermanentError('unexpected 404 deleting recording 1 (api.example/rec/1)'),
    );
    expect(() => deleteOutcome(answer(429, '', { 'retry-after': '5' }), 'recording 1')).toThrow(
      RateLimitedError,
    );
  });
});
