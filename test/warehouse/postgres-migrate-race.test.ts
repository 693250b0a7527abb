import { expect, it } from 'vitest';
import { StateStore } from '../../src/state/state-store.js';
import { openWarehouse } from '../../src/warehouse/registry.js';
import { describePostgres, pgAdmin, pgTarget, scratchName } from '../support/postgres.js';

describePostgres('state tables created by two first runs at once (PostgreSQL)', () => {
  it('both succeed: the migration lock serialises CREATE ... IF NOT EXISTS', async () => {
    for (let round = 0; round < 5; round++) {
      const schema = scratchName('migrate_race');
      const warehouses = await Promise.all([openWarehouse(pgTarget(), process.cwd()), openWarehouse(pgTarget(), process.cwd())]);
      const connections = await Promise.all(warehouses.map((w) => w.connect()));
      try {
        const results = await Promise.allSettled(connections.map((c, i) => new StateStore(c, warehouses[i]!.dialect, schema).migrate()));
        expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(['ok', 'ok']);
      } finally {
        for (const c of connections) await c.close();
        for (const w of warehouses) await w.close();
        const admin = await pgAdmin();
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => admin.end());
      }
    }
  });
});
