import { Logger } from '@aws-lambda-powertools/logger';
import type { Log } from '../core/ports';

/** The one Powertools logger of a Lambda container (level from POWERTOOLS_LOG_LEVEL). */
export const logger = new Logger({ serviceName: 'callvault' });

/** The core's Log port on top of Powertools: attributes become structured keys of the JSON line. */
export function powertoolsLog(target: Logger = logger): Log {
  const write =
    (level: 'debug' | 'info' | 'warn' | 'error') => (message: string, attributes?: Record<string, unknown>) =>
      attributes ? target[level](message, attributes) : target[level](message);
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
