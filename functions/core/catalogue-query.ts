/**
 * The questions asked of the catalogue, defined once. Filters are parsed and checked here (a bad one names
 * its flag); the SQL is built here, with `?` placeholders and the values beside it, and the same text runs
 * in DuckDB locally and in Athena on AWS (Trino SQL): only the table it reads differs. Every predicate is
 * written so both engines read it alike: `contains(array, value)`, string comparisons of ISO days, and
 * `"date"` quoted (a reserved word in both).
 */
import { CATALOGUE_STATUSES, type CatalogueStatus, normaliseNumber } from './catalogue';
import type { ProviderName } from './recording';

export interface FindFilters {
  /** First and last UTC day of the call start, inclusive (`yyyy-mm-dd`); absent: unbounded. */
  from?: string;
  to?: string;
  /** Normalised as catalogue records are (E.164 where the input has `+` or `00`). */
  number?: string;
  /** A person id or extension id, of any party or of the recording's extension. */
  person?: string;
  sourceId?: string;
  provider?: ProviderName;
  status?: CatalogueStatus;
}

/** A filter that cannot be used; `flag` names the command-line option it came from. */
export class FilterError extends Error {
  override name = 'FilterError';
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(`${flag} ${message}`);
  }
}

/** The short status names the commands accept, and the catalogue's own names. */
export const STATUS_ALIASES: Readonly<Record<string, CatalogueStatus>> = {
  archived: 'archived',
  gone: 'gone-at-source',
  expired: 'expired-before-fetch',
  deleted: 'deleted-at-source',
  ...Object.fromEntries(CATALOGUE_STATUSES.map((status) => [status, status])),
};

export interface RawFindFilters {
  from?: string;
  to?: string;
  number?: string;
  person?: string;
  source?: string;
  provider?: string;
  status?: string;
}

/**
 * Checks and normalises what an operator typed. `sources` are the configured sources (id and provider):
 * an unknown `--source` is refused rather than answered with nothing.
 */
export function parseFindFilters(
  raw: RawFindFilters,
  sources: readonly { id: string; provider: ProviderName }[],
  /** The provider names `--provider` accepts; default: those of `sources`. */
  providers: readonly string[] = [...new Set(sources.map((source) => source.provider))],
): FindFilters {
  const filters: FindFilters = {};
  if (raw.from !== undefined) filters.from = parseDay(raw.from, '--from');
  if (raw.to !== undefined) filters.to = parseDay(raw.to, '--to');
  if (filters.from && filters.to && filters.from > filters.to)
    throw new FilterError('--from', `${filters.from} is after --to ${filters.to}; the range is reversed`);
  if (raw.number !== undefined) {
    const number = normaliseNumber(raw.number);
    if (!number || !/^\+?\d{2,15}$/.test(number))
      throw new FilterError(
        '--number',
        `${JSON.stringify(raw.number)} is not a phone number (E.164 like +16505550101, or digits)`,
      );
    filters.number = number;
  }
  if (raw.person !== undefined) {
    if (!/^[A-Za-z0-9._@:~-]{1,200}$/.test(raw.person))
      throw new FilterError('--person', `${JSON.stringify(raw.person)} is not a person or extension id`);
    filters.person = raw.person;
  }
  if (raw.provider !== undefined) {
    if (!providers.includes(raw.provider))
      throw new FilterError(
        '--provider',
        `${JSON.stringify(raw.provider)} is not a provider (one of ${providers.join(', ')})`,
      );
    filters.provider = raw.provider as ProviderName;
  }
  if (raw.source !== undefined) {
    const source = sources.find((candidate) => candidate.id === raw.source);
    if (!source)
      throw new FilterError(
        '--source',
        `${JSON.stringify(raw.source)} is not a configured source (configured: ${sources.map((s) => s.id).join(', ') || 'none'})`,
      );
    if (filters.provider && filters.provider !== source.provider)
      throw new FilterError(
        '--source',
        `${source.id} is a ${source.provider} source, not ${filters.provider}`,
      );
    filters.sourceId = source.id;
    filters.provider = source.provider;
  }
  if (raw.status !== undefined) {
    const status = STATUS_ALIASES[raw.status];
    if (!status)
      throw new FilterError(
        '--status',
        `${JSON.stringify(raw.status)} is not a status (archived, gone, expired or deleted)`,
      );
    filters.status = status;
  }
  return filters;
}

function parseDay(text: string, flag: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  const date = match
    ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])))
    : undefined;
  if (!match || !date || date.toISOString().slice(0, 10) !== text.trim())
    throw new FilterError(flag, `${JSON.stringify(text)} is not a date (yyyy-mm-dd, a UTC day)`);
  return text.trim();
}

/** The columns a find answers with, in order: enough to identify, judge and play each hit. */
export const FIND_COLUMNS = [
  'status',
  'provider',
  'source',
  'date',
  'recording_id',
  'started_at',
  'duration_seconds',
  'direction',
  'from_number',
  'from_name',
  'from_person_id',
  'to_number',
  'to_name',
  'to_person_id',
  'extension_id',
  'size',
  'sha256',
  'content_type',
  'object_key',
  'sidecar_key',
  'event_at',
  'reason',
  'retention_run_id',
] as const;
export type FindColumn = (typeof FIND_COLUMNS)[number];
export type FindRow = Record<FindColumn, string | null>;

export interface CatalogueQuery {
  sql: string;
  /** One string per `?`, in order. */
  parameters: string[];
}

const quoteIdentifier = (name: string) => `"${name}"`;

/**
 * The one find question. `table` is what the engine reads: DuckDB's `read_json(…)` over the catalogue
 * folder, or Athena's `"database"."recordings"`. Rows are distinct because a closed day's records can be
 * in its compacted file and, until compaction finishes, in their own objects too.
 */
export function findQuery(
  filters: FindFilters,
  table: string,
  options: { limit?: number } = {},
): CatalogueQuery {
  const where: string[] = [];
  const parameters: string[] = [];
  // The partition column first: both engines prune days, sources and providers from these alone.
  if (filters.from !== undefined && filters.to !== undefined) {
    where.push('"date" BETWEEN ? AND ?');
    parameters.push(filters.from, filters.to);
  } else if (filters.from !== undefined) {
    where.push('"date" >= ?');
    parameters.push(filters.from);
  } else if (filters.to !== undefined) {
    where.push('"date" <= ?');
    parameters.push(filters.to);
  }
  if (filters.provider !== undefined) {
    where.push('provider = ?');
    parameters.push(filters.provider);
  }
  if (filters.sourceId !== undefined) {
    where.push('source = ?');
    parameters.push(filters.sourceId);
  }
  if (filters.number !== undefined) {
    // A platform that reports bare digits (no `+`) is found by the same number typed in E.164.
    const digits = filters.number.replace(/^\+/, '');
    where.push('(contains(party_numbers, ?) OR contains(party_numbers, ?))');
    parameters.push(filters.number, digits);
  }
  if (filters.person !== undefined) {
    where.push('(contains(party_person_ids, ?) OR contains(party_extension_ids, ?) OR extension_id = ?)');
    parameters.push(filters.person, filters.person, filters.person);
  }
  if (filters.status !== undefined) {
    where.push('status = ?');
    parameters.push(filters.status);
  }
  const columns = FIND_COLUMNS.map(quoteIdentifier).join(', ');
  const order = 'ORDER BY "started_at", "recording_id", "status"';
  const filtered = [`FROM ${table}`, where.length > 0 ? `WHERE ${where.join('\n  AND ')}` : undefined];
  let sql: string;
  if (options.limit === undefined) {
    sql = [`SELECT DISTINCT ${columns}`, ...filtered, order].filter((line) => line !== undefined).join('\n');
  } else {
    // A record is in at most two objects (its own and its day's compacted file), identical in both, so
    // the first 2 × limit rows in order hold the first `limit` distinct ones: the engine keeps a bounded
    // top-N instead of de-duplicating every row of a long range.
    const limit = Math.max(1, Math.floor(options.limit));
    sql = [
      `SELECT DISTINCT ${columns}`,
      'FROM (',
      `SELECT ${columns}`,
      ...filtered,
      order,
      `LIMIT ${limit * 2}`,
      ')',
      order,
      `LIMIT ${limit}`,
    ]
      .filter((line) => line !== undefined)
      .join('\n');
  }
  return { sql, parameters };
}

/**
 * The common questions, saved in Athena as named queries (with `?` where a value goes). Built from
 * `findQuery` with placeholder values, so they are exactly what `npm run find` runs.
 */
export function namedQuestions(table: string): { name: string; description: string; sql: string }[] {
  const range = { from: '2026-01-01', to: '2026-01-31' };
  const question = (name: string, description: string, filters: FindFilters) => ({
    name,
    description,
    sql: findQuery(filters, table).sql,
  });
  return [
    question(
      'callvault-by-number',
      'Every recording with a number in a date range. Parameters: first day, last day (yyyy-mm-dd), number in E.164, the same number without +.',
      { ...range, number: '+10000000000' },
    ),
    question(
      'callvault-by-person',
      'Every recording of a person or extension in a date range. Parameters: first day, last day, then the person or extension id three times.',
      { ...range, person: 'id' },
    ),
    question(
      'callvault-by-date-range',
      'Every recording and outcome in a date range. Parameters: first day, last day (yyyy-mm-dd).',
      range,
    ),
    question(
      'callvault-by-status',
      'Recordings gone at the source, expired before the fetch or deleted at the source, in a date range. Parameters: first day, last day, status (gone-at-source, expired-before-fetch, deleted-at-source or archived).',
      { ...range, status: 'gone-at-source' },
    ),
  ];
}
