/**
 * `activate run` from the example project (DuckDB) into tables of a real PostgreSQL database,
 * through the postgres destination: full, incremental, mirror deletes, a rejected row, and a
 * SIGKILL mid-run followed by a resume that leaves the table equal to the model.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { makeExampleProject, type ExampleProject } from '../support/example-project.js';
import { editActivation } from '../support/manifest-edit.js';
import { describePostgres, pgUrl, scratchSchema, type ScratchSchema } from '../support/postgres.js';

const CUSTOMERS = 20;
const FIELDS = ['email', 'first_name', 'last_name', 'plan', 'lifetime_value', 'order_count', 'last_order_date', 'churn_risk', 'is_active'];

function activateYml(options: { batchSize?: number; concurrency?: number } = {}): string {
  return [
    'destinations:',
    '  app_db:',
    '    type: postgres',
    `    url: "{{ env_var('ACTIVATE_TEST_PG_URL') }}"`,
    `    batch_size: ${options.batchSize ?? 5}`,
    `    concurrency: ${options.concurrency ?? 2}`,
    'state:',
    '  schema: activate',
    '',
  ].join('\n');
}

describePostgres('activate run into a PostgreSQL table (postgres destination)', () => {
  let scratch: ScratchSchema;
  let project: ExampleProject;
  let tableCount = 0;
  let customers: string;
  let atRisk: string;

  beforeAll(async () => {
    scratch = await scratchSchema('e2e_pgdest');
  });
  afterAll(async () => {
    await scratch?.drop();
  });

  beforeEach(async () => {
    tableCount++;
    customers = `${scratch.name}.customers_${tableCount}`;
    atRisk = `${scratch.name}.at_risk_${tableCount}`;
    project = await makeExampleProject({ ACTIVATE_TEST_PG_URL: pgUrl! });
    await project.writeActivateYml(activateYml());
    await editActivation(project.dir, 'customer_scores', () => ({
      name: 'crm_contacts',
      destination: 'app_db',
      mode: 'upsert',
      primary_key: 'customer_id',
      identifier: { customer_id: 'customer_id' },
      fields: Object.fromEntries(FIELDS.map((f) => [f, f])),
      table: customers,
      create_table: true,
    }));
    await editActivation(project.dir, 'at_risk_customers', () => ({
      name: 'win_back',
      destination: 'app_db',
      mode: 'mirror',
      primary_key: 'customer_id',
      identifier: { customer_id: 'customer_id' },
      fields: { email: 'email', churn_risk: 'churn_risk' },
      table: atRisk,
    }));
  });

  afterEach(async () => {
    await project.cleanup();
  });

  const q = (table: string) => table.split('.').map((p) => `"${p}"`).join('.');

  async function modelRows(model: string, columns: readonly string[]): Promise<Record<string, unknown>[]> {
    return project.query(`SELECT customer_id, ${columns.join(', ')} FROM main.${model} ORDER BY customer_id`);
  }

  async function tableRows(table: string): Promise<Record<string, unknown>[]> {
    return (await scratch.query<{ r: Record<string, unknown> }>(`SELECT to_jsonb(t) AS r FROM ${q(table)} t ORDER BY customer_id`)).map((x) => x.r);
  }

  /** Row versions: a row rewritten by an UPDATE gets a new xmin, an untouched one keeps its own. */
  async function versions(table: string): Promise<Map<number, string>> {
    const rows = await scratch.query<{ id: string; x: string }>(`SELECT customer_id::text AS id, xmin::text AS x FROM ${q(table)}`);
    return new Map(rows.map((r) => [Number(r.id), r.x]));
  }

  async function stateKeys(sync: string): Promise<string[]> {
    const rows = await project.query<{ k: string }>(`SELECT record_key AS k FROM activate.activate_state WHERE sync_id = '${sync}' ORDER BY 1`);
    return rows.map((r) => r.k);
  }

  async function createAtRiskTable(): Promise<void> {
    await scratch.query(`CREATE TABLE ${q(atRisk)} (customer_id bigint PRIMARY KEY, email text, churn_risk double precision)`);
  }

  it('full run creates the table equal to the model; an unchanged model sends nothing; a change rewrites only its row', async () => {
    await createAtRiskTable();
    const first = await project.cli('run');
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const model = await modelRows('customer_scores', FIELDS);
    expect(model).toHaveLength(CUSTOMERS);
    expect(await tableRows(customers)).toEqual(model);
    expect(await tableRows(atRisk)).toEqual(await modelRows('at_risk_customers', ['email', 'churn_risk']));
    const columns = await scratch.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
      customers.split('.'),
    );
    // Identifier first; the other columns in the order the engine hands the fields over.
    expect(columns[0]!.column_name).toBe('customer_id');
    expect(columns.map((c) => `${c.column_name} ${c.data_type}`).sort()).toEqual([
      'churn_risk double precision',
      'customer_id bigint',
      'email text',
      'first_name text',
      'is_active boolean',
      'last_name text',
      'last_order_date date',
      'lifetime_value double precision',
      'order_count bigint',
      'plan text',
    ]);

    const before = await versions(customers);
    const second = await project.cli('run');
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('+0 ~0 -0');
    expect(await versions(customers)).toEqual(before);

    await project.sql(`UPDATE main.customer_scores SET plan = 'enterprise', first_name = 'Mía, "the" Ω' WHERE customer_id = 3`);
    const third = await project.cli('run', '-s', 'crm_contacts');
    expect(third.code, third.stderr).toBe(0);
    expect(await tableRows(customers)).toEqual(await modelRows('customer_scores', FIELDS));
    const after = await versions(customers);
    const rewritten = [...after].filter(([id, x]) => before.get(id) !== x).map(([id]) => id);
    expect(rewritten).toEqual([3]);
  });

  it('mirror deletes rows that left the model, and only rows this sync wrote: a row inserted by someone else survives', async () => {
    await createAtRiskTable();
    await scratch.query(`INSERT INTO ${q(atRisk)} VALUES (90001, 'added-by-the-app@example.com', 0.99)`);
    expect((await project.cli('run', '-s', 'win_back')).code).toBe(0);
    const synced = await modelRows('at_risk_customers', ['email', 'churn_risk']);
    expect(synced.length).toBeGreaterThanOrEqual(5);
    const appRow = { customer_id: 90001, email: 'added-by-the-app@example.com', churn_risk: 0.99 };
    expect(await tableRows(atRisk)).toEqual([...synced, appRow]);

    const leaving = synced[0]!.customer_id as number;
    await project.sql(`DELETE FROM main.at_risk_customers WHERE customer_id = ${leaving}`);
    const run = await project.cli('run', '-s', 'win_back');
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/win_back\s+mirror\s+\+0 ~0 -1/);
    expect(await tableRows(atRisk)).toEqual([...(await modelRows('at_risk_customers', ['email', 'churn_risk'])), appRow]);
    expect(await stateKeys('win_back')).not.toContain(String(leaving));
  });

  it('a constraint violation rejects that row with the database message; the others commit, and it is sent again once fixed', async () => {
    const ddl = [
      'customer_id bigint PRIMARY KEY',
      'email text',
      'first_name text',
      'last_name text',
      "plan text CONSTRAINT no_enterprise CHECK (plan <> 'enterprise')",
      'lifetime_value numeric(18,2)',
      'order_count integer',
      'last_order_date date',
      'churn_risk double precision',
      'is_active boolean',
    ];
    await scratch.query(`CREATE TABLE ${q(customers)} (${ddl.join(', ')})`);
    await project.sql(`UPDATE main.customer_scores SET plan = 'enterprise' WHERE customer_id = 7`);

    const first = await project.cli('run', '-s', 'crm_contacts');
    expect(first.code).toBe(1);
    expect(first.stdout).toContain('rejected 1');
    const rejections = await project.query<{ record_key: string; error: string; retryable: boolean }>(
      `SELECT record_key, error, retryable FROM activate.activate_rejections WHERE sync_id = 'crm_contacts'`,
    );
    expect(rejections).toEqual([
      { record_key: '7', error: expect.stringMatching(/new row for relation "customers_\d+" violates check constraint "no_enterprise"/), retryable: false },
    ]);
    const ids = (await tableRows(customers)).map((r) => r.customer_id);
    expect(ids).toEqual(Array.from({ length: CUSTOMERS }, (_, i) => i + 1).filter((i) => i !== 7));
    expect(await stateKeys('crm_contacts')).not.toContain('7');
    expect(await stateKeys('crm_contacts')).toHaveLength(CUSTOMERS - 1);

    await scratch.query(`ALTER TABLE ${q(customers)} DROP CONSTRAINT no_enterprise`);
    const before = await versions(customers);
    const second = await project.cli('run', '-s', 'crm_contacts');
    expect(second.code, second.stderr + second.stdout).toBe(0);
    expect(second.stdout).toMatch(/crm_contacts\s+upsert\s+\+1 ~0 -0/);
    const after = await versions(customers);
    expect([...after.keys()].filter((id) => before.get(id) !== after.get(id))).toEqual([7]);
    const table = (await tableRows(customers)).map((r) => ({ ...r, lifetime_value: Number(r.lifetime_value) }));
    expect(table).toEqual(await modelRows('customer_scores', FIELDS));
  });

  it('SIGKILL mid-run, then a resume: nothing counted synced is missing, and the table ends equal to the model', async () => {
    const extra = 1500;
    await project.writeActivateYml(activateYml({ batchSize: 10, concurrency: 2 }));
    await project.sql(
      `INSERT INTO main.customer_scores (customer_id, email, first_name, last_name, plan, lifetime_value, order_count, last_order_date, churn_risk, is_active)
       SELECT 1000 + i, 'user' || i || '@example.com', 'First' || i, 'Last, "' || i || '"', 'free', 10.5 + i, i, DATE '2025-01-01' + CAST(i AS INTEGER), 0.5, i % 2 = 0 FROM range(${extra}) t(i)`,
    );
    // The table exists with a trigger that makes each row take a little time, so the kill lands mid-run.
    await scratch.query(
      `CREATE TABLE ${q(customers)} (customer_id bigint PRIMARY KEY, email text, first_name text, last_name text, plan text,
        lifetime_value double precision, order_count bigint, last_order_date date, churn_risk double precision, is_active boolean)`,
    );
    await scratch.query(`CREATE FUNCTION "${scratch.name}".slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.002); RETURN NEW; END $$`);
    await scratch.query(`CREATE TRIGGER slow BEFORE INSERT ON ${q(customers)} FOR EACH ROW EXECUTE FUNCTION "${scratch.name}".slow()`);
    const total = CUSTOMERS + extra;

    const child = project.spawnCli(['run', '-s', 'crm_contacts']);
    let exited = false;
    void child.done.then(() => (exited = true));
    let atKill = 0;
    for (;;) {
      if (exited) throw new Error(`activate run ended before it could be killed: ${JSON.stringify(await child.done)}`);
      const [row] = await scratch.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${q(customers)}`);
      atKill = Number(row!.n);
      if (atKill >= 300) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    const killed = await child.done;
    expect(killed.signal).toBe('SIGKILL');

    const inTable = new Set((await tableRows(customers)).map((r) => String(r.customer_id)));
    const stateAfterCrash = await stateKeys('crm_contacts');
    expect(inTable.size).toBeGreaterThanOrEqual(atKill);
    expect(inTable.size).toBeLessThan(total);
    // Nothing counts as synced that the table does not hold.
    expect(stateAfterCrash.filter((k) => !inTable.has(k))).toEqual([]);
    expect(stateAfterCrash.length).toBeGreaterThan(0);
    console.info(
      `postgres crash/resume: ${inTable.size} of ${total} rows in the table at the kill, ${stateAfterCrash.length} in state; ` +
        `${inTable.size - stateAfterCrash.length} written but not yet committed (re-sent, harmless upserts)`,
    );

    const resumed = await project.cli('run', '-s', 'crm_contacts');
    expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0);
    expect(resumed.stdout).toMatch(new RegExp(`crm_contacts\\s+upsert\\s+\\+${total - stateAfterCrash.length} ~0 -0`));
    expect(await tableRows(customers)).toEqual(await modelRows('customer_scores', FIELDS));
    expect(await stateKeys('crm_contacts')).toHaveLength(total);
    const runs = await project.query<{ status: string }>(`SELECT status FROM activate.activate_runs WHERE sync_id = 'crm_contacts' ORDER BY started_at`);
    expect(runs.map((r) => r.status)).toEqual(['abandoned', 'success']);
    expect((await project.cli('plan', '-s', 'crm_contacts')).stdout).toMatch(/crm_contacts\s+upsert\s+\+0 ~0 -0/);
  });

  it('a missing table without create_table stops the sync before anything is sent', async () => {
    const run = await project.cli('run', '-s', 'win_back');
    expect(run.code).toBe(1);
    expect(run.stdout + run.stderr).toMatch(/table activate_test_e2e_pgdest_\w+\.at_risk_\d+ does not exist.*create_table: true/);
    expect(await stateKeys('win_back')).toEqual([]);
    const [exists] = await scratch.query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [q(atRisk)]);
    expect(exists!.t).toBeNull();
  });
});
