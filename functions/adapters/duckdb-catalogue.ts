/**
 * The local query engine: DuckDB, embedded, reading the catalogue's partitioned newline-delimited JSON
 * (`{archiveDir}/catalog/recordings/provider=…/source=…/date=…/*.json[.gz]`) in place. The columns are
 * given, not inferred, so every file is read alike; the partition columns come from the folder names
 * and DuckDB skips the folders a query's `"date"`, `provider` and `source` predicates exclude
 * (https://duckdb.org/docs/stable/data/partitioning/hive_partitioning).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { CATALOGUE_COLUMNS, CATALOGUE_PREFIX, type ColumnType } from '../core/catalogue';
import {
  type CatalogueQuery,
  FIND_COLUMNS,
  type FindFilters,
  type FindRow,
  findQuery,
} from '../core/catalogue-query';

const DUCKDB_TYPES: Record<ColumnType, string> = {
  string: 'VARCHAR',
  bigint: 'BIGINT',
  double: 'DOUBLE',
  'array<string>': 'VARCHAR[]',
};

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/**
 * The catalogue of an archive folder as a DuckDB table expression: every partition (a glob), or the
 * files given (the partitions a question selects, listed beforehand).
 */
export function duckdbCatalogueTable(archiveDir: string, files?: readonly string[]): string {
  const glob = join(archiveDir, ...CATALOGUE_PREFIX.split('/').filter(Boolean), '*', '*', '*', '*.json*');
  const columns = CATALOGUE_COLUMNS.map(([name, type]) => `${literal(name)}: ${literal(DUCKDB_TYPES[type])}`);
  const source = files ? `[${files.map(literal).join(', ')}]` : literal(glob);
  return [
    `read_json(${source}`,
    "format = 'newline_delimited'",
    // A record is a few KiB; DuckDB sizes each file's read buffer from this (default 16 MiB).
    'maximum_object_size = 1048576',
    'hive_partitioning = true',
    "hive_types = {'provider': 'VARCHAR', 'source': 'VARCHAR', 'date': 'VARCHAR'}",
    `columns = {${columns.join(', ')}})`,
  ].join(', ');
}

/** A query against an archive folder that has no catalogue yet. */
export class CatalogueMissingError extends Error {
  override name = 'CatalogueMissingError';
}

/** True when the folder holds at least one partition of the catalogue. */
export function hasLocalCatalogue(archiveDir: string): boolean {
  const root = join(archiveDir, ...CATALOGUE_PREFIX.split('/').filter(Boolean));
  return existsSync(root) && readdirSync(root).some((name) => name.startsWith('provider='));
}

export class DuckDbCatalogue {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    readonly archiveDir: string,
  ) {}

  /**
   * Opens an in-memory engine over the folder. Memory is capped (DuckDB spills or fails rather than
   * grow past it), and two threads suit a small machine shared with the archive itself.
   */
  static async open(
    archiveDir: string,
    options: { memoryLimit?: string; threads?: number } = {},
  ): Promise<DuckDbCatalogue> {
    if (!hasLocalCatalogue(archiveDir))
      throw new CatalogueMissingError(
        `${archiveDir} has no catalogue (${CATALOGUE_PREFIX}); build it from the sidecars with: npm run catalog -- --rebuild`,
      );
    const instance = await DuckDBInstance.create(':memory:', {
      memory_limit: options.memoryLimit ?? '256MB',
      threads: String(options.threads ?? 2),
      preserve_insertion_order: 'false',
    });
    const connection = await instance.connect();
    return new DuckDbCatalogue(instance, connection, archiveDir);
  }

  get table(): string {
    return duckdbCatalogueTable(this.archiveDir);
  }

  /** Runs one of the catalogue's questions (SQL and `?` values from `catalogue-query.ts`). */
  async run(query: CatalogueQuery): Promise<Record<string, unknown>[]> {
    const prepared = await this.connection.prepare(query.sql);
    query.parameters.forEach((value, index) => {
      prepared.bindVarchar(index + 1, value);
    });
    const reader = await prepared.runAndReadAll();
    return reader.getRowObjectsJson() as Record<string, unknown>[];
  }

  /**
   * Runs the find question over the files of the partitions it selects. The folders are listed here
   * first (a few directory reads for a short range), so DuckDB neither globs nor opens the rest; the
   * question keeps its own partition predicates, so the answer is the one the whole table gives.
   */
  async find(filters: FindFilters, options: { limit?: number } = {}): Promise<FindRow[]> {
    const files = selectedFiles(this.archiveDir, filters);
    if (files.length === 0) return [];
    const rows = await this.run(findQuery(filters, duckdbCatalogueTable(this.archiveDir, files), options));
    return rows.map(toFindRow);
  }

  /**
   * DuckDB's plan for a question, its values written in as literals: a prepared statement is planned
   * before its values are known, so only the literal form shows which files the predicates leave.
   */
  async explain(query: CatalogueQuery): Promise<string> {
    let index = 0;
    const sql = query.sql.replace(/\?/g, () => literal(query.parameters[index++] ?? ''));
    const reader = await this.connection.runAndReadAll(`EXPLAIN ${sql}`);
    return reader
      .getRows()
      .map((row) => String(row[1]))
      .join('\n');
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

/** The catalogue files in the partitions a question's provider, source and date range select. */
export function selectedFiles(archiveDir: string, filters: FindFilters): string[] {
  const base = join(archiveDir, ...CATALOGUE_PREFIX.split('/').filter(Boolean));
  const folders = (path: string, key: string, keep: (value: string) => boolean) =>
    readdirSync(path, { withFileTypes: true })
      .filter(
        (entry) =>
          entry.isDirectory() && entry.name.startsWith(`${key}=`) && keep(entry.name.slice(key.length + 1)),
      )
      .map((entry) => join(path, entry.name));
  const files: string[] = [];
  for (const provider of folders(
    base,
    'provider',
    (value) => !filters.provider || value === filters.provider,
  ))
    for (const source of folders(
      provider,
      'source',
      (value) => !filters.sourceId || value === filters.sourceId,
    ))
      for (const day of folders(
        source,
        'date',
        (value) => (!filters.from || value >= filters.from) && (!filters.to || value <= filters.to),
      ))
        for (const name of readdirSync(day)) if (/\.json(\.gz)?$/.test(name)) files.push(join(day, name));
  return files;
}

export function toFindRow(row: Record<string, unknown>): FindRow {
  const out = {} as FindRow;
  for (const column of FIND_COLUMNS) {
    const value = row[column];
    out[column] = value === null || value === undefined ? null : String(value);
  }
  return out;
}
