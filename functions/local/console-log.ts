import type { Log } from '../core/ports';

type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * Human-readable progress lines for the one-machine mode: `12:00:01 info  recording archived key=…`.
 * Attribute values are printed as given; callers never pass secrets.
 */
export function consoleLog(
  options: { level?: Level; prefix?: string; write?: (line: string) => void } = {},
): Log {
  const min = ORDER[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const emit = (level: Level) => (message: string, attributes?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    const time = new Date().toISOString().slice(11, 19);
    const details = Object.entries(attributes ?? {})
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      .join(' ');
    write(`${time} ${level.padEnd(5)} ${options.prefix ?? ''}${message}${details ? `  ${details}` : ''}`);
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}
