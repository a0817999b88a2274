/** A portless download pattern means the default port: allowing a host must not reach its other services. */
import { effectivePort, isLoopbackHost } from '../host-patterns';
import { assertAllowedUrl } from '../http';

/** `host:port` of an origin, with the port spelled out. */
export function pinnedOrigin(origin: string | URL): string {
  const url = new URL(origin);
  return `${url.hostname}:${effectivePort(url)}`;
}

/** The patterns with the scheme's default port where none is named; loopback keeps any (sandbox ports). */
export function pinDownloadHosts(patterns: readonly string[], protocol: string): string[] {
  const defaultPort = protocol === 'http:' ? '80' : '443';
  return patterns.map((pattern) => {
    const text = pattern.trim();
    const bracketed = text.startsWith('[');
    const hasPort = bracketed ? /\]:\d+$/.test(text) : text.split(':').length === 2;
    const bareV6 = !bracketed && text.split(':').length > 2;
    const host = bareV6 ? `[${text}]` : text;
    if (hasPort || isLoopbackHost(host.replace(/:\d+$/, ''))) return pattern;
    return `${host}:${defaultPort}`;
  });
}

/** The URL, parsed, when it is on a pinned allowed host; DisallowedUrlError otherwise. */
export function assertPinnedUrl(url: string, patterns: readonly string[]): URL {
  // A malformed URL is refused by assertAllowedUrl with the proper error.
  return assertAllowedUrl(url, pinDownloadHosts(patterns, URL.parse(url)?.protocol ?? 'https:'));
}
