import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { buildExampleWarehouse } from '../../scripts/example-warehouse.js';
import { main } from '../../src/cli/main.js';
import { fromDuckDB } from '../../src/warehouse/duckdb/duckdb-values.js';

export const repoRoot = resolve(fileURLToPath(import.meta.url), '../../..');
export const exampleDir = join(repoRoot, 'dbt_example');
export const WEBHOOK_SECRET = 'whsec_dGVzdC1zZWNyZXQtZm9yLWFjdGl2YXRlLXRlc3Rz';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A private copy of dbt_example with its warehouse built, in a temp directory. */
export interface ExampleProject {
  readonly dir: string;
  readonly databasePath: string;
  /** Environment for activate: the receiver's URL and the signing secret. */
  env: Record<string, string>;
  /** Runs the CLI in this process (the real code path, minus process startup). */
  cli(...args: string[]): Promise<CliResult>;
  /** Runs bin/activate.js in a child process (needs `npm run build`). */
  spawnCli(args: readonly string[], options?: { onStdout?: (text: string) => void }): CliProcess;
  sql(statement: string): Promise<void>;
  query<T = Record<string, unknown>>(statement: string): Promise<T[]>;
  writeActivateYml(text: string): Promise<void>;
  cleanup(): Promise<void>;
}

export interface CliProcess {
  readonly pid: number;
  readonly done: Promise<CliResult & { readonly signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
}

export async function makeExampleProject(env: Record<string, string> = {}): Promise<ExampleProject> {
  const dir = await mkdtemp(join(tmpdir(), 'activate-e2e-'));
  await cp(exampleDir, dir, {
    recursive: true,
    filter: (src) => !/\.duckdb(\.wal)?$/.test(src) && !src.endsWith('run_results.json'),
  });
  const databasePath = join(dir, 'warehouse.duckdb');
  await buildExampleWarehouse({ projectDir: dir, databasePath });

  const withDb = async <T>(work: (run: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>) => {
    const instance = await DuckDBInstance.create(databasePath);
    const connection = await instance.connect();
    try {
      return await work(async (sql) => {
        const reader = await connection.runAndReadAll(sql);
        const names = reader.columnNames();
        return reader.getRows().map((row) => Object.fromEntries(names.map((n, i) => [n, fromDuckDB(row[i]!)])));
      });
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  };

  const project: ExampleProject = {
    dir,
    databasePath,
    env: { ACTIVATE_WEBHOOK_SECRET: WEBHOOK_SECRET, ...env },
    async cli(...args) {
      let stdout = '';
      let stderr = '';
      const code = await main(args, {
        stdout: (t) => void (stdout += t),
        stderr: (t) => void (stderr += t),
        env: { PATH: process.env.PATH, HOME: dir, ...project.env },
        cwd: dir,
      });
      return { code, stdout, stderr };
    },
    spawnCli(args, options = {}) {
      const child = spawn(process.execPath, [join(repoRoot, 'bin', 'activate.js'), ...args], {
        cwd: dir,
        env: { PATH: process.env.PATH, HOME: dir, ...project.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        options.onStdout?.(d.toString());
      });
      child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
      const done = new Promise<CliResult & { signal: NodeJS.Signals | null }>((resolveDone) =>
        child.on('close', (code, signal) => resolveDone({ code: code ?? -1, signal, stdout, stderr })),
      );
      return { pid: child.pid!, done, kill: (signal) => child.kill(signal) };
    },
    sql: (statement) => withDb(async (run) => void (await run(statement))),
    query: <T>(statement: string) => withDb(async (run) => (await run(statement)) as T[]),
    writeActivateYml: (text) => writeFile(join(dir, 'activate.yml'), text),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
  return project;
}

/** An activate.yml for tests: the example's webhook with small batches and quick retries. */
export function webhookActivateYml(options: { batchSize?: number; attempts?: number; extra?: string } = {}): string {
  return [
    'destinations:',
    '  crm_webhook:',
    '    type: webhook',
    `    url: "{{ env_var('ACTIVATE_WEBHOOK_URL') }}"`,
    `    secret: "{{ env_var('ACTIVATE_WEBHOOK_SECRET') }}"`,
    `    batch_size: ${options.batchSize ?? 5}`,
    '    concurrency: 2',
    '    rate_limit: { requests: 1000, per_seconds: 1 }',
    `    retry: { attempts: ${options.attempts ?? 2}, min_delay_seconds: 0.01, max_delay_seconds: 0.05 }`,
    ...(options.extra ? [options.extra] : []),
    'state:',
    '  schema: activate',
    '',
  ].join('\n');
}

/** Adds `count` generated customers (ids from `firstId`) to the example's customer_scores model. */
export async function addGeneratedCustomers(project: ExampleProject, count: number, firstId = 1000): Promise<void> {
  await project.sql(
    `INSERT INTO main.customer_scores (customer_id, email, first_name, last_name, plan, lifetime_value, order_count, last_order_date, churn_risk, is_active)
     SELECT ${firstId} + i, 'user' || i || '@example.com', 'First' || i, 'Last' || i, 'free', 10.5, 1, DATE '2025-01-01', 0.5, true FROM range(${count}) t(i)`,
  );
}
