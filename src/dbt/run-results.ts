import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { readJsonArtifact } from './read-artifact.js';
import { formatZodIssues } from '../config/issues.js';

/**
 * Reads dbt's run_results.json (schema v4 for dbt 1.0-1.6, v5 for 1.7, v6 for 1.8+ and
 * Fusion). Only what gating uses is validated; unknown keys, statuses and result prefixes
 * (hooks, exposures' `no-op`, future node types) pass through. Absent and null are the same.
 */
const nullish = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? undefined);

const resultSchema = z.looseObject({
  unique_id: z.string(),
  status: z.string(),
  // Free text from the adapter or dbt; kept only when it is text.
  message: z.unknown().transform((v) => (typeof v === 'string' ? v : undefined)),
  failures: z.unknown().transform((v) => (typeof v === 'number' ? v : undefined)),
});

const runResultsSchema = z.looseObject({
  metadata: z.looseObject({
    dbt_schema_version: nullish(z.string()),
    dbt_version: nullish(z.string()),
    invocation_id: nullish(z.string()),
    generated_at: nullish(z.string()),
  }),
  results: z.array(resultSchema),
  elapsed_time: nullish(z.number()),
  args: nullish(
    z.looseObject({
      which: nullish(z.string()),
      invocation_command: nullish(z.string()),
    }),
  ),
});

export interface RunResult {
  readonly uniqueId: string;
  /** `success`, `error`, `skipped`, `partial success`, `no-op` (nodes); `pass`, `fail`, `warn`, `error`, `skipped` (tests). */
  readonly status: string;
  readonly message: string | undefined;
  /** Failing rows of a data test. */
  readonly failures: number | undefined;
}

export interface RunResults {
  /** As given for messages, e.g. `target/run_results.json`. */
  readonly path: string;
  readonly schemaVersion: number | undefined;
  readonly dbtVersion: string | undefined;
  readonly invocationId: string | undefined;
  readonly generatedAt: string | undefined;
  /** `args.which`: the dbt command that wrote the file (`build`, `run`, `test`, `generate` for `docs generate`, ...). */
  readonly command: string | undefined;
  /** `args.invocation_command` (dbt 1.7+), e.g. `dbt build -s orders`. */
  readonly invocationCommand: string | undefined;
  readonly results: readonly RunResult[];
}

/** The file, or undefined when it does not exist (dbt has not run a command that writes it). */
export async function readRunResults(path: string, displayPath = path): Promise<RunResults | undefined> {
  const json = await readJsonArtifact(
    path,
    displayPath,
    "Run `dbt build` again to rewrite it, or delete it to sync without dbt's verdict.",
  );
  return json === undefined ? undefined : parseRunResults(json, displayPath);
}

export function parseRunResults(json: unknown, displayPath: string): RunResults {
  const parsed = runResultsSchema.safeParse(json);
  if (!parsed.success) {
    throw new ConfigError(
      formatZodIssues(parsed.error, displayPath).map((p) => `${p} (is this a dbt run_results.json?)`),
    );
  }
  const data = parsed.data;
  const url = data.metadata.dbt_schema_version;
  const match = url === undefined ? null : /\/dbt\/([\w-]+)\/v(\d+)\.json$/.exec(url);
  if (url !== undefined && !match) {
    throw new ConfigError(`${displayPath}: metadata.dbt_schema_version: "${url}" is not a dbt artifact schema URL`);
  }
  if (match && match[1] !== 'run-results') {
    throw new ConfigError(`${displayPath}: is a dbt ${match[1]} artifact, not run_results.json`);
  }
  return {
    path: displayPath,
    schemaVersion: match ? Number(match[2]) : undefined,
    dbtVersion: data.metadata.dbt_version,
    invocationId: data.metadata.invocation_id,
    generatedAt: data.metadata.generated_at,
    command: data.args?.which,
    invocationCommand: data.args?.invocation_command,
    results: data.results.map((r) => ({
      uniqueId: r.unique_id,
      status: r.status,
      message: r.message,
      failures: r.failures,
    })),
  };
}
