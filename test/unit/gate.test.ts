import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readRunResults } from '../../src/dbt/run-results.js';
import { ConfigError, EXIT_BAD_INPUT } from '../../src/errors.js';
import { gateSyncs, type GateOptions } from '../../src/project/gate.js';
import { makeTempDir, manifestsDir } from '../support/fixtures.js';
import { recordingLogger } from './helpers.js';
import { hook, rawManifest, rawRunResults, resultFor, runResultsOf, withSyncs, type RawRunResults } from './real-artifacts.js';

const BIGQUERY = 'v12_dbt-artifacts-parser-bigquery'; // dbt 1.9 `dbt build`
const DUCKDB = 'v12_dbt-artifacts-parser-duckdb'; // dbt 1.12 `dbt docs generate`
const POSTGRES_V7 = 'v7_openlineage-postgres'; // dbt 1.3 `dbt run`, no attached_node
const BIGQUERY_V11 = 'v11_dbt-artifacts-parser-bigquery'; // dbt 1.7 `dbt build`, run_results v5

const tmp = makeTempDir('gate');
afterAll(() => tmp.remove());

/** Syncs on the jaffle_shop models of the bigquery build: two on orders, one each on customers, stg_orders, daily_orders. */
function bigquery() {
  return withSyncs(rawManifest(BIGQUERY), {
    orders: [hook(), hook({ name: 'orders_crm', destination: 'crm_webhook' })],
    customers: true,
    stg_orders: true,
    daily_orders: true,
  });
}

function gate(prefix: string, project: ReturnType<typeof bigquery>, raw: RawRunResults | undefined, options: GateOptions = {}) {
  const log = recordingLogger();
  const result = gateSyncs(project.syncs, project.manifest, raw ? runResultsOf(raw) : undefined, options, log);
  const at = (level: string) => log.lines.filter((l) => l.level === level).map((l) => l.message);
  return {
    ...result,
    allowedIds: project.ids(result.allowed),
    skippedIds: project.ids(result.skipped.map((s) => s.spec)),
    reasons: Object.fromEntries(result.skipped.map((s) => [s.spec.id, s.reason])),
    warnings: at('warn'),
    infos: at('info'),
    debugs: at('debug'),
  };
}

const ALL = ['customers__hook', 'orders__hook', 'orders_crm', 'stg_orders__hook', 'daily_orders__hook'];

describe('gateSyncs over a real `dbt build` (bigquery, dbt 1.9)', () => {
  it('lets every sync through when every model succeeded and every test passed', () => {
    const project = bigquery();
    expect(project.ids(project.syncs)).toEqual(['daily_orders__hook', 'customers__hook', 'orders__hook', 'orders_crm', 'stg_orders__hook']);
    const g = gate(BIGQUERY, project, rawRunResults(BIGQUERY));
    expect(g.verdict).toBe('applied');
    expect(g.skipped).toEqual([]);
    expect(g.allowedIds.sort()).toEqual([...ALL].sort());
    expect(g.warnings).toEqual([]);
    expect(g.infos).toEqual(["dbt's verdict from dbt build (invocation cfbc1db9): 5 syncs pass"]);
  });

  it('skips the syncs of a model whose attached test failed, and runs the others', () => {
    const project = bigquery();
    const raw = rawRunResults(BIGQUERY);
    Object.assign(resultFor(raw, 'test.jaffle_shop.not_null_orders_order_id.cf6c17daed'), {
      status: 'fail',
      failures: 3,
      message: 'Got 3 results, configured to fail if != 0',
    });
    const g = gate(BIGQUERY, project, raw);
    expect(g.skippedIds).toEqual(['orders__hook', 'orders_crm']);
    expect(g.allowedIds).toEqual(['daily_orders__hook', 'customers__hook', 'stg_orders__hook']);
    expect(g.reasons).toEqual({
      orders__hook: 'test not_null_orders_order_id failed in dbt build (3 failing rows)',
      orders_crm: 'test not_null_orders_order_id failed in dbt build (3 failing rows)',
    });
    expect(g.warnings).toEqual([
      'Skipping orders__hook: test not_null_orders_order_id failed in dbt build (3 failing rows)',
      'Skipping orders_crm: test not_null_orders_order_id failed in dbt build (3 failing rows)',
    ]);
    expect(g.infos.at(-1)).toBe("dbt's verdict from dbt build (invocation cfbc1db9): 3 syncs pass, 2 skipped");
  });

  it('a failed relationships test gates the model that defines it (attached_node), not the model it refers to', () => {
    const project = bigquery();
    const raw = rawRunResults(BIGQUERY);
    resultFor(raw, 'test.jaffle_shop.relationships_orders_customer_id__customer_id__ref_customers_.c6ec7f58f2').status = 'fail';
    const g = gate(BIGQUERY, project, raw);
    expect(g.skippedIds).toEqual(['orders__hook', 'orders_crm']);
    expect(g.allowedIds).toContain('customers__hook');
    // failures: 0 in the fixture: no row count is claimed.
    expect(g.reasons.orders__hook).toBe('test relationships_orders_customer_id__customer_id__ref_customers_ failed in dbt build');
  });

  it('skips syncs of a model that errored, with the first line of dbt message, and of the models dbt skipped after it', () => {
    const project = bigquery();
    const raw = rawRunResults(BIGQUERY);
    Object.assign(resultFor(raw, 'model.jaffle_shop.orders'), {
      status: 'error',
      message: 'Database Error in model orders (models/orders.sql)\n  Unrecognized name: amount at [12:5]',
    });
    resultFor(raw, 'model.jaffle_shop.daily_orders').status = 'skipped';
    const g = gate(BIGQUERY, project, raw);
    expect(g.skippedIds).toEqual(['daily_orders__hook', 'orders__hook', 'orders_crm']);
    expect(g.reasons.orders__hook).toBe('model orders errored in dbt build: Database Error in model orders (models/orders.sql)');
    expect(g.reasons.daily_orders__hook).toBe(
      'dbt build skipped model daily_orders (something it depends on failed, or the run stopped early)',
    );
    expect(g.allowedIds).toEqual(['customers__hook', 'stg_orders__hook']);
  });

  it('treats "partial success" (microbatch) as not good', () => {
    const project = bigquery();
    const raw = rawRunResults(BIGQUERY);
    resultFor(raw, 'model.jaffle_shop.daily_orders').status = 'partial success';
    const g = gate(BIGQUERY, project, raw);
    expect(g.skippedIds).toEqual(['daily_orders__hook']);
    expect(g.reasons.daily_orders__hook).toContain('partial success');
  });

  it('a test that errored gates too', () => {
    const project = bigquery();
    const raw = rawRunResults(BIGQUERY);
    Object.assign(resultFor(raw, 'test.jaffle_shop.unique_customers_customer_id.c5af1ff4b1'), {
      status: 'error',
      message: 'Compilation Error in test unique_customers_customer_id',
    });
    const g = gate(BIGQUERY, project, raw);
    expect(g.reasons).toEqual({
      customers__hook: 'test unique_customers_customer_id errored in dbt build: Compilation Error in test unique_customers_customer_id',
    });
  });

  it('a warning passes, unless failOnTestWarnings', () => {
    const raw = rawRunResults(BIGQUERY);
    Object.assign(resultFor(raw, 'test.jaffle_shop.accepted_values_orders_status__placed__shipped__completed__return_pending__returned.be6b5b5ec3'), {
      status: 'warn',
      failures: 1,
    });
    const lenient = gate(BIGQUERY, bigquery(), raw);
    expect(lenient.skipped).toEqual([]);
    expect(lenient.infos).toContain(
      'test accepted_values_orders_status__placed__shipped__completed__return_pending__returned warned in dbt build (1 failing row); syncing anyway (--fail-on-test-warnings would skip)',
    );
    const strict = gate(BIGQUERY, bigquery(), raw, { failOnTestWarnings: true });
    expect(strict.skippedIds).toEqual(['orders__hook', 'orders_crm']);
    expect(strict.reasons.orders__hook).toBe(
      'test accepted_values_orders_status__placed__shipped__completed__return_pending__returned warned in dbt build (1 failing row) and --fail-on-test-warnings is set',
    );
  });

  it('a skipped test skips nothing but says its check did not run', () => {
    const raw = rawRunResults(BIGQUERY);
    resultFor(raw, 'test.jaffle_shop.unique_orders_order_id.fed79b3a6e').status = 'skipped';
    const g = gate(BIGQUERY, bigquery(), raw);
    expect(g.skipped).toEqual([]);
    expect(g.warnings).toEqual(['test unique_orders_order_id was skipped by dbt build (something it depends on failed), so it did not check the data']);
  });

  it('lists at most three reasons', () => {
    const raw = rawRunResults(BIGQUERY);
    for (const r of raw.results) if (r.unique_id.startsWith('test.jaffle_shop.not_null_orders_')) r.status = 'fail';
    const g = gate(BIGQUERY, bigquery(), raw);
    const reason = g.reasons.orders__hook!;
    expect(reason.split('; ')).toHaveLength(4);
    expect(reason).toMatch(/; and 4 more$/); // 7 not_null tests on orders
  });

  it('a model that was not part of this build runs (built earlier), noted at debug level', () => {
    const raw = rawRunResults(BIGQUERY);
    // As after `dbt build --exclude orders`: neither orders nor its tests have results.
    raw.results = raw.results.filter((r) => !r.unique_id.includes('orders') || r.unique_id.includes('stg_orders'));
    const g = gate(BIGQUERY, bigquery(), raw);
    expect(g.skipped).toEqual([]);
    expect(g.debugs).toContain('Model orders has no result in this dbt build; its syncs use the relation an earlier run built');
    expect(g.debugs).toContain('Model daily_orders has no result in this dbt build; its syncs use the relation an earlier run built');
    expect(g.debugs.filter((d) => d.includes('Model orders '))).toHaveLength(1); // once per model, not per sync
  });

  it('a model status it does not know is logged and does not skip', () => {
    const raw = rawRunResults(BIGQUERY);
    resultFor(raw, 'model.jaffle_shop.customers').status = 'reused';
    const g = gate(BIGQUERY, bigquery(), raw);
    expect(g.skipped).toEqual([]);
    expect(g.warnings).toEqual(['dbt build reported model customers as "reused", a status activate does not know; its syncs run']);
  });

  it('ignores stale results (another invocation) with a warning: nothing is skipped', () => {
    const raw = rawRunResults(BIGQUERY);
    raw.metadata.invocation_id = '00000000-1111-2222-3333-444444444444';
    resultFor(raw, 'test.jaffle_shop.not_null_orders_order_id.cf6c17daed').status = 'fail';
    resultFor(raw, 'model.jaffle_shop.customers').status = 'error';
    const g = gate(BIGQUERY, bigquery(), raw);
    expect(g.verdict).toBe('stale');
    expect(g.skipped).toEqual([]);
    expect(g.allowedIds).toHaveLength(5);
    expect(g.warnings).toHaveLength(1);
    expect(g.warnings[0]).toContain('target/run_results.json is from another dbt invocation (00000000-1111-2222-3333-444444444444)');
    expect(g.warnings[0]).toContain('target/manifest.json (cfbc1db9-66c1-46c2-a94b-8c0cef32314f)');
    expect(g.warnings[0]).toContain('stale');
    expect(g.note).toBe(g.warnings[0]);
  });

  it('cannot confirm the invocation without invocation ids: stale', () => {
    const project = bigquery();
    const raw = rawRunResults(BIGQUERY);
    delete (raw.metadata as Record<string, unknown>).invocation_id;
    expect(gate(BIGQUERY, project, raw).verdict).toBe('stale');
  });

  it('without run_results: every sync runs, after one notice', () => {
    const g = gate(BIGQUERY, bigquery(), undefined);
    expect(g.verdict).toBe('missing');
    expect(g.allowedIds).toHaveLength(5);
    expect(g.infos).toEqual([
      "No run_results.json: syncing without dbt's verdict (run activate after dbt build to skip models that failed).",
    ]);
    expect(g.warnings).toEqual([]);
  });
});

describe('results that are no verdict', () => {
  function duckdb() {
    return withSyncs(rawManifest(DUCKDB), { orders: true, customers: true, order_items: true });
  }

  it('`dbt docs generate` results (args.which = generate) are not taken for a build, even with its tests all "success"', () => {
    const raw = rawRunResults(DUCKDB);
    expect(raw.args.which).toBe('generate');
    expect(raw.metadata.invocation_id).toBe(rawManifest(DUCKDB).metadata.invocation_id);
    expect(raw.results.filter((r) => r.unique_id.startsWith('test.')).every((r) => r.status === 'success')).toBe(true);
    const g = gate(DUCKDB, duckdb(), raw);
    expect(g.verdict).toBe('not-a-build');
    expect(g.allowedIds).toEqual(['customers__hook', 'orders__hook', 'order_items__hook']);
    expect(g.warnings).toHaveLength(1);
    expect(g.warnings[0]).toContain('was written by dbt docs generate, which builds and tests nothing');
    expect(g.infos.join('\n')).not.toContain('pass'); // no "tests passed"-like verdict line
  });

  it('a compile error seen by docs generate gates nothing either: it says nothing about the built relation', () => {
    const raw = rawRunResults(DUCKDB);
    resultFor(raw, 'model.jaffle_shop.orders').status = 'error';
    expect(gate(DUCKDB, duckdb(), raw).skipped).toEqual([]);
  });

  it('results that do not name their command are no verdict', () => {
    const raw = rawRunResults(DUCKDB);
    delete raw.args.which;
    const g = gate(DUCKDB, duckdb(), raw);
    expect(g.verdict).toBe('not-a-build');
    expect(g.warnings[0]).toContain('does not say which dbt command wrote it');
  });

  it('the same project after a real build: a failing unit test (unit_tests, dbt 1.8+) gates the model it tests', () => {
    const raw = rawRunResults(DUCKDB);
    raw.args.which = 'build';
    for (const r of raw.results) if (r.unique_id.startsWith('test.')) r.status = 'pass';
    raw.results.push({
      unique_id: 'unit_test.jaffle_shop.orders.test_order_items_compute_to_bools_correctly',
      status: 'fail',
      message: null,
      failures: 1,
    });
    // dbt build then skips the model the unit test guards.
    resultFor(raw, 'model.jaffle_shop.orders').status = 'skipped';
    const g = gate(DUCKDB, duckdb(), raw);
    expect(g.verdict).toBe('applied');
    expect(g.skippedIds).toEqual(['orders__hook']);
    expect(g.reasons.orders__hook).toBe(
      'dbt build skipped model orders (something it depends on failed, or the run stopped early); unit test test_order_items_compute_to_bools_correctly failed in dbt build',
    );
    expect(g.allowedIds).toEqual(['customers__hook', 'order_items__hook']);
  });

  it('`dbt test` alone: models have no result, a failing unit test still gates', () => {
    const raw = rawRunResults(DUCKDB);
    raw.args.which = 'test';
    raw.results = [
      { unique_id: 'unit_test.jaffle_shop.order_items.test_supply_costs_sum_correctly', status: 'fail', message: null, failures: null },
      { unique_id: 'test.jaffle_shop.not_null_orders_order_id.cf6c17daed', status: 'pass', message: null, failures: 0 },
    ];
    const g = gate(DUCKDB, duckdb(), raw);
    expect(g.skippedIds).toEqual(['order_items__hook']);
    expect(g.reasons.order_items__hook).toBe('unit test test_supply_costs_sum_correctly failed in dbt test');
  });
});

describe('older artifacts', () => {
  it('dbt 1.3 (`dbt run`, run_results v4): an errored model is skipped', () => {
    const project = withSyncs(rawManifest(POSTGRES_V7), { customers: true, orders: true });
    const raw = rawRunResults(POSTGRES_V7);
    expect(raw.args.which).toBe('run');
    resultFor(raw, 'model.jaffle_shop.customers').status = 'error';
    const g = gate(POSTGRES_V7, project, raw);
    expect(g.skippedIds).toEqual(['customers__hook']);
    expect(g.allowedIds).toEqual(['orders__hook']);
  });

  it('dbt 1.3 tests have no attached_node: depends_on.nodes decides, so a relationships test gates both models', () => {
    const project = withSyncs(rawManifest(POSTGRES_V7), { customers: true, orders: true, stg_orders: true });
    const raw = rawRunResults(POSTGRES_V7);
    raw.args.which = 'test';
    raw.results = [
      { unique_id: 'test.jaffle_shop.relationships_orders_customer_id__customer_id__ref_customers_.c6ec7f58f2', status: 'fail', message: null, failures: 2 },
    ];
    const g = gate(POSTGRES_V7, project, raw);
    expect(g.skippedIds).toEqual(['customers__hook', 'orders__hook']);
    expect(g.allowedIds).toEqual(['stg_orders__hook']);
  });

  it('dbt 1.7 (run_results v5): a failed test gates', () => {
    const project = withSyncs(rawManifest(BIGQUERY_V11), { customers: true, orders: true });
    const raw = rawRunResults(BIGQUERY_V11);
    resultFor(raw, 'test.jaffle_shop.unique_customers_customer_id.c5af1ff4b1').status = 'fail';
    const g = gate(BIGQUERY_V11, project, raw);
    expect(g.verdict).toBe('applied');
    expect(g.skippedIds).toEqual(['customers__hook']);
  });
});

describe('readRunResults', () => {
  it.each([
    [BIGQUERY, 6, 'build', 61],
    [BIGQUERY_V11, 5, 'build', 58],
    [DUCKDB, 6, 'generate', 46],
    [POSTGRES_V7, 4, 'run', 5],
  ])('%s_run_results.json: schema v%i, written by %s, %i results', async (prefix, version, which, count) => {
    const rr = await readRunResults(join(manifestsDir, `${prefix}_run_results.json`), 'target/run_results.json');
    expect(rr).toMatchObject({ path: 'target/run_results.json', schemaVersion: version, command: which });
    expect(rr!.results).toHaveLength(count);
    expect(rr!.invocationId).toBe(rawManifest(prefix).metadata.invocation_id);
    expect(rr!.results.every((r) => typeof r.uniqueId === 'string' && typeof r.status === 'string')).toBe(true);
  });

  it('keeps status, message and failures of a result', async () => {
    const rr = await readRunResults(join(manifestsDir, `${BIGQUERY}_run_results.json`));
    expect(rr!.results.find((r) => r.uniqueId === 'model.jaffle_shop.orders')).toEqual({
      uniqueId: 'model.jaffle_shop.orders',
      status: 'success',
      message: 'CREATE TABLE (99.0 rows, 6.5 KiB processed)',
      failures: undefined,
    });
    expect(rr!.invocationCommand).toBe('dbt build');
  });

  it('is undefined when the file does not exist', async () => {
    expect(await readRunResults(join(tmp.dir, 'nope', 'run_results.json'))).toBeUndefined();
  });

  it('a corrupt file is bad input (exit 2) naming the file', async () => {
    const file = join(tmp.dir, 'corrupt.json');
    writeFileSync(file, '{"metadata": {"invocation_id": "x"}, "results": [');
    const error = await readRunResults(file, 'target/run_results.json').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(EXIT_BAD_INPUT);
    expect((error as ConfigError).message).toMatch(/^target\/run_results\.json: is not valid JSON/);
  });

  it('a file of the wrong shape or another artifact is bad input', async () => {
    const wrong = join(tmp.dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ metadata: {}, results: {} }));
    await expect(readRunResults(wrong, 'target/run_results.json')).rejects.toThrow(/target\/run_results\.json.*results/);
    const manifest = join(tmp.dir, 'manifest-as-results.json');
    writeFileSync(manifest, JSON.stringify({ metadata: { dbt_schema_version: 'https://schemas.getdbt.com/dbt/manifest/v12.json' }, results: [] }));
    await expect(readRunResults(manifest, 'target/run_results.json')).rejects.toThrow(
      'target/run_results.json: is a dbt manifest artifact, not run_results.json',
    );
  });
});
