/**
 * Download-host allow-list patterns, for the HTTP client and the config checks: `host` (any port),
 * `host:port`, `[v6]` / `[v6]:port`, or `*.domain` (any subdomain of domain, never domain itself).
 */
import { isIP } from 'node:net';

function bareHostname(hostname: string): string {
  return hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
}

/** The URL's port, the scheme's default spelled out. */
export function effectivePort(url: URL): string {
  return url.port || (url.protocol === 'https:' ? '443' : '80');
}

/** Sandboxes run on loopback over plain HTTP; nothing else may. */
export function isLoopbackHost(hostname: string): boolean {
  const host = bareHostname(hostname);
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}

/** Whether any pattern of the list matches the URL's host (case-insensitive). */
export function hostAllowed(url: URL, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => hostMatchesPattern(url, pattern));
}

function hostMatchesPattern(url: URL, pattern: string): boolean {
  const text = pattern.trim().toLowerCase();
  // `[v6]:port`, a bare IPv6 address (several colons, no port), or `host[:port]`.
  const match = text.startsWith('[')
    ? /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text)
    : text.split(':').length > 2
      ? [text, text, undefined]
      : /^([^:]+)(?::(\d{1,5}))?$/.exec(text);
  const [, patternHost, patternPort] = match ?? [];
  if (!patternHost) return false;
  if (patternPort !== undefined && patternPort !== effectivePort(url)) return false;
  const host = bareHostname(url.hostname);
  if (patternHost.startsWith('*.')) {
    // The dot before the domain is part of the match: `*.telphin.ru` never matches `eviltelphin.ru`.
    const domain = patternHost.slice(2);
    return host.endsWith(`.${domain}`) && host.length > domain.length + 1;
  }
  return host === patternHost;
}
