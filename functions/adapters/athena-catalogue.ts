/**
 * The catalogue on AWS: the same questions through Athena, in the stack's workgroup (which enforces its
 * own results location, encryption and bytes-scanned cutoff) against the Glue table over `catalog/`.
 * StartQueryExecution with the question's `?` values as execution parameters, GetQueryExecution until it
 * ends (progress reported on the way), then GetQueryResults page by page.
 * https://docs.aws.amazon.com/athena/latest/ug/querying-with-prepared-statements.html
 */
import {
  type AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  type QueryExecutionState,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import type { CatalogueQuery, FindFilters, FindRow } from '../core/catalogue-query';
import { findQuery } from '../core/catalogue-query';
import { toFindRow } from './duckdb-catalogue';

/** The Glue table the stack creates over `catalog/recordings/`. */
export const CATALOGUE_TABLE_NAME = 'recordings';

export interface AthenaProgress {
  queryExecutionId: string;
  state: QueryExecutionState | string;
  elapsedMs: number;
  bytesScanned?: number;
}

export interface AthenaCatalogueOptions {
  client: AthenaClient;
  workgroup: string;
  database: string;
  onProgress?: (progress: AthenaProgress) => void;
  /** Between GetQueryExecution calls; Athena answers small queries in about a second. */
  pollIntervalMs?: number;
  /** Gives up (and says so) after this long. */
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export class AthenaQueryError extends Error {
  override name = 'AthenaQueryError';
}

/** Athena takes execution parameters as SQL literals: strings quoted, quotes doubled. */
export function athenaLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

export class AthenaCatalogue {
  constructor(private readonly options: AthenaCatalogueOptions) {}

  get table(): string {
    return `"${this.options.database}"."${CATALOGUE_TABLE_NAME}"`;
  }

  async find(
    filters: FindFilters,
    options: { limit?: number } = {},
  ): Promise<{ rows: FindRow[]; queryExecutionId: string; bytesScanned?: number }> {
    const answer = await this.run(findQuery(filters, this.table, options));
    return { ...answer, rows: answer.rows.map(toFindRow) };
  }

  async run(
    query: CatalogueQuery,
  ): Promise<{ rows: Record<string, string | null>[]; queryExecutionId: string; bytesScanned?: number }> {
    const { client } = this.options;
    const started = await client.send(
      new StartQueryExecutionCommand({
        QueryString: query.sql,
        WorkGroup: this.options.workgroup,
        QueryExecutionContext: { Database: this.options.database },
        ...(query.parameters.length > 0 ? { ExecutionParameters: query.parameters.map(athenaLiteral) } : {}),
      }),
    );
    const id = started.QueryExecutionId;
    if (!id) throw new AthenaQueryError('Athena accepted the query but returned no query execution id');
    const bytesScanned = await this.waitFor(id);
    const rows: Record<string, string | null>[] = [];
    let columns: string[] | undefined;
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new GetQueryResultsCommand({ QueryExecutionId: id, NextToken: nextToken, MaxResults: 1000 }),
      );
      columns ??= page.ResultSet?.ResultSetMetadata?.ColumnInfo?.map((column) => column.Name ?? '');
      const pageRows = page.ResultSet?.Rows ?? [];
      for (const [index, row] of pageRows.entries()) {
        const values = (row.Data ?? []).map((datum) => datum.VarCharValue ?? null);
        // The first row of the first page repeats the column names (SELECT queries).
        if (nextToken === undefined && index === 0 && columns && values.every((v, i) => v === columns?.[i]))
          continue;
        rows.push(Object.fromEntries((columns ?? []).map((name, i) => [name, values[i] ?? null])));
      }
      nextToken = page.NextToken;
    } while (nextToken);
    return { rows, queryExecutionId: id, bytesScanned };
  }

  private async waitFor(id: string): Promise<number | undefined> {
    const started = Date.now();
    const interval = this.options.pollIntervalMs ?? 500;
    const timeout = this.options.timeoutMs ?? 5 * 60_000;
    const sleep = this.options.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
    for (;;) {
      const answer = await this.options.client.send(new GetQueryExecutionCommand({ QueryExecutionId: id }));
      const execution = answer.QueryExecution;
      const state = execution?.Status?.State ?? 'UNKNOWN';
      const bytesScanned = execution?.Statistics?.DataScannedInBytes;
      this.options.onProgress?.({
        queryExecutionId: id,
        state,
        elapsedMs: Date.now() - started,
        bytesScanned,
      });
      if (state === 'SUCCEEDED') return bytesScanned;
      if (state === 'FAILED' || state === 'CANCELLED')
        throw new AthenaQueryError(
          `Athena query ${id} ${state.toLowerCase()}: ${execution?.Status?.StateChangeReason ?? 'no reason given'}`,
        );
      if (Date.now() - started > timeout)
        throw new AthenaQueryError(`Athena query ${id} still ${state} after ${Math.round(timeout / 1000)} s`);
      await sleep(interval);
    }
  }
}
