import { afterAll, beforeAll, expect, it } from 'vitest';
import { planSync } from '../../src/plan/planner.js';
import { openPostgres } from '../../src/warehouse/postgres/postgres-warehouse.js';
import type { Warehouse } from '../../src/warehouse/types.js';
import { describePostgres, pgTarget, scratchSchema, type ScratchSchema } from '../support/postgres.js';
import { syncSpec } from './specs.js';

const ROWS = 1_000_000;
const PEAK_RSS_LIMIT = 300 * 1024 * 1024;

describePostgres('PostgreSQL: a 1,000,000-row model', () => {
  let schema: ScratchSchema;
  let warehouse: Warehouse;
  beforeAll(async () => {
    schema = await scratchSchema('million');
    await schema.query(
      `CREATE TABLE "${schema.name}".customers AS
       SELECT i AS customer_id, 'user' || i || '@example.com' AS email, round((i % 100000) / 7.0, 2) AS lifetime_value,
              TIMESTAMPTZ '2024-01-01 00:00:00+00' + i * INTERVAL '1 second' AS updated_at
       FROM generate_series(1, ${ROWS}) AS s(i)`,
    );
    warehouse = await openPostgres(pgTarget(), process.cwd());
  });
  afterAll(async () => {
    await warehouse?.close();
    await schema?.drop();
  });

  it('is planned and streamed with the process staying under 300 MB of resident memory', async () => {
    const spec = syncSpec('customers', `"${schema.name}"."customers"`, {
      primary_key: 'customer_id',
      identifier: { email: 'email' },
      fields: { lifetime_value: 'lifetime_value', updated_at: 'updated_at' },
    });
    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    let streamed = 0;
    let last: unknown;
    try {
      const t0 = Date.now();
      const plan = await planSync(spec, warehouse, { state: undefined, allowLargeChanges: false });
      console.log('plan ms', Date.now() - t0);
      expect(plan.counts.added).toBe(ROWS);
      try {
        for await (const batch of plan.changes(1000)) {
          streamed += batch.length;
          last = batch[batch.length - 1];
        }
      } finally {
        await plan.close();
      }
      console.log('total ms', Date.now() - t0);
    } finally {
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    console.log(`1,000,000 rows planned and streamed: peak rss ${(peak / 1024 / 1024).toFixed(0)} MB`);
    expect(streamed).toBe(ROWS);
    expect(last).toMatchObject({ kind: 'added', fields: { email: expect.stringMatching(/^user\d+@example\.com$/) } });
    expect(peak).toBeLessThan(PEAK_RSS_LIMIT);
  });
});
