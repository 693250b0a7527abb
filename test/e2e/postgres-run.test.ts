import { afterEach, beforeEach, expect, it } from 'vitest';
import { makePostgresExample, type PostgresExample } from '../support/postgres-example.js';
import { describePostgres } from '../support/postgres.js';

interface SentRecord {
  readonly operation: 'upsert' | 'delete';
  readonly key: string;
  readonly fields: Record<string, unknown>;
}

const CUSTOMERS = 20;
const AT_RISK = 'at_risk_customers__crm_webhook';

describePostgres('activate run on the example project (PostgreSQL + webhook)', () => {
  let example: PostgresExample;
  beforeEach(async () => {
    example = await makePostgresExample();
  });
  afterEach(async () => {
    example.receiver.assertNoViolations();
    await example.cleanup();
  });

  const pg = <T extends Record<string, unknown>>(sql: string) => example.models.query<T>(sql);
  const models = () => `"${example.models.name}"`;
  const state = () => `"${example.stateSchema}"`;

  function accepted(sync: string, from = 0): SentRecord[] {
    return example.receiver.deliveries
      .slice(from)
      .filter((d) => typeof d.answer === 'number' && d.answer < 300)
      .filter((d) => (d.json as { sync: string }).sync === sync)
      .flatMap((d) => (d.json as { records: SentRecord[] }).records);
  }
  async function stateKeys(sync: string): Promise<string[]> {
    const rows = await pg<{ record_key: string }>(
      `SELECT record_key FROM ${state()}.activate_state WHERE sync_id = '${sync}' ORDER BY record_key`,
    );
    return rows.map((r) => r.record_key);
  }

  it('sends every row first, nothing when unchanged, then only what changed', async () => {
    const first = await example.project.cli('run');
    expect(first.code, first.stderr).toBe(0);
    const contacts = accepted('crm_contacts');
    expect(contacts).toHaveLength(CUSTOMERS);
    expect(new Set(contacts.map((r) => r.key)).size).toBe(CUSTOMERS);
    const ava = contacts.find((r) => r.key === '1')!;
    expect(ava.fields).toMatchObject({ email: 'ava.thompson@example.com', first_name: 'Ava', plan: 'pro' });
    expect(typeof ava.fields.lifetime_value).toBe('number');
    expect(ava.fields.last_order_date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const [atRisk] = await pg<{ n: number }>(`SELECT count(*)::int AS n FROM ${models()}.at_risk_customers`);
    expect(accepted(AT_RISK)).toHaveLength(atRisk!.n);
    expect(await stateKeys('crm_contacts')).toHaveLength(CUSTOMERS);

    const mark = example.receiver.deliveries.length;
    const second = await example.project.cli('run');
    expect(second.code, second.stderr).toBe(0);
    expect(example.receiver.deliveries.length).toBe(mark);
    expect(second.stdout).toContain('+0 ~0 -0');

    await pg(`UPDATE ${models()}.customer_scores SET plan = 'enterprise' WHERE customer_id = 3`);
    const third = await example.project.cli('run');
    expect(third.code, third.stderr).toBe(0);
    const changed = accepted('crm_contacts', mark);
    expect(changed).toEqual([expect.objectContaining({ operation: 'upsert', key: '3', fields: expect.objectContaining({ plan: 'enterprise' }) })]);
    expect(accepted(AT_RISK, mark)).toHaveLength(0);
    const runs = await pg<{ status: string }>(
      `SELECT status FROM ${state()}.activate_runs WHERE sync_id = 'crm_contacts' ORDER BY started_at`,
    );
    expect(runs.map((r) => r.status)).toEqual(['success', 'success', 'success']);
  });

  it('deletes a removed row in mirror mode and sends nothing for it in upsert mode', async () => {
    expect((await example.project.cli('run')).code).toBe(0);
    const [leaving] = await pg<{ customer_id: number; email: string }>(
      `SELECT customer_id, email FROM ${models()}.at_risk_customers ORDER BY customer_id LIMIT 1`,
    );
    const key = String(leaving!.customer_id);
    await pg(`DELETE FROM ${models()}.at_risk_customers WHERE customer_id = ${key}`);
    await pg(`DELETE FROM ${models()}.customer_scores WHERE customer_id = ${key}`);
    const mark = example.receiver.deliveries.length;

    const run = await example.project.cli('run');
    expect(run.code, run.stderr).toBe(0);
    expect(accepted(AT_RISK, mark)).toEqual([{ operation: 'delete', key, fields: expect.objectContaining({ email: leaving!.email }) }]);
    expect(accepted('crm_contacts', mark)).toEqual([]);
    expect(await stateKeys(AT_RISK)).not.toContain(key);
  });
});

describePostgres('a run on PostgreSQL killed mid-way (SIGKILL)', () => {
  const EXTRA_ROWS = 2000;
  const BATCH = 20;
  let example: PostgresExample;
  beforeEach(async () => {
    example = await makePostgresExample({ batchSize: BATCH });
    await example.models.query(
      `INSERT INTO "${example.models.name}".customer_scores (customer_id, email, first_name, last_name, plan, lifetime_value, order_count, last_order_date, churn_risk, is_active)
       SELECT 1000 + i, 'user' || i || '@example.com', 'First' || i, 'Last' || i, 'free', 10.5, 1, DATE '2025-01-01', 0.5, true FROM generate_series(0, ${EXTRA_ROWS - 1}) AS s(i)`,
    );
  });
  afterEach(async () => {
    example.receiver.assertNoViolations();
    await example.cleanup();
  });

  it('loses nothing: the next run delivers every unacknowledged record, and the dead holder\'s lease is taken over', async () => {
    const { receiver, project } = example;
    const state = `"${example.stateSchema}"`;
    const acknowledged = () =>
      receiver.deliveries.filter((d) => d.answer === 200).flatMap((d) => (d.json as { records: { key: string }[] }).records.map((r) => r.key));
    const modelKeys = (await example.models.query<{ k: string }>(`SELECT customer_id::text AS k FROM "${example.models.name}".customer_scores`)).map(
      (r) => r.k,
    );
    expect(modelKeys).toHaveLength(EXTRA_ROWS + 20);

    const child = project.spawnCli(['run', '-s', 'crm_contacts']);
    receiver.respondWith((_d, index) => {
      if (index === 30) child.kill('SIGKILL');
      return { status: 200, body: 'ok', delayMs: 15 };
    });
    const killed = await child.done;
    expect(killed.signal).toBe('SIGKILL');

    const beforeCrash = new Set(acknowledged());
    expect(beforeCrash.size).toBeGreaterThan(0);
    expect(beforeCrash.size).toBeLessThan(modelKeys.length);
    const stateAfterCrash = (
      await example.models.query<{ record_key: string }>(`SELECT record_key FROM ${state}.activate_state WHERE sync_id = 'crm_contacts'`)
    ).map((r) => r.record_key);
    for (const key of stateAfterCrash) expect(beforeCrash.has(key)).toBe(true);

    receiver.respondWith(undefined);
    const mark = receiver.deliveries.length;
    const resumed = await project.cli('run', '-s', 'crm_contacts');
    expect(resumed.code, resumed.stderr).toBe(0);

    expect(new Set(acknowledged())).toEqual(new Set(modelKeys));
    const resent = receiver.deliveries.slice(mark).flatMap((d) => (d.json as { records: { key: string }[] }).records.map((r) => r.key));
    expect(new Set(resent)).toEqual(new Set(modelKeys.filter((k) => !stateAfterCrash.includes(k))));
    const [count] = await example.models.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${state}.activate_state WHERE sync_id = 'crm_contacts'`);
    expect(count!.n).toBe(modelKeys.length);
    const runs = await example.models.query<{ status: string }>(
      `SELECT status FROM ${state}.activate_runs WHERE sync_id = 'crm_contacts' ORDER BY started_at`,
    );
    expect(runs.map((r) => r.status)).toEqual(['abandoned', 'success']);
    const plan = await project.cli('plan', '-s', 'crm_contacts');
    expect(plan.stdout).toMatch(/crm_contacts\s+upsert\s+\+0 ~0 -0/);
  });
});
