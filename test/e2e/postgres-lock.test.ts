import { afterEach, beforeEach, expect, it } from 'vitest';
import { makePostgresExample, type PostgresExample } from '../support/postgres-example.js';
import { describePostgres } from '../support/postgres.js';

describePostgres('one run per sync across processes (PostgreSQL state)', () => {
  let example: PostgresExample;
  beforeEach(async () => {
    example = await makePostgresExample({ batchSize: 2 });
    await example.writeProfile();
  });
  afterEach(async () => {
    await example.cleanup();
  });

  it('two processes start the same sync at once: exactly one runs, the other exits with the lock message', async () => {
    // Slow answers keep the first run holding its lease while the second one starts.
    example.receiver.respondWith(() => ({ status: 200, body: 'ok', delayMs: 100 }));
    const first = example.project.spawnCli(['run', '-s', 'crm_contacts']);
    const second = example.project.spawnCli(['run', '-s', 'crm_contacts']);
    const results = await Promise.all([first.done, second.done]);

    const winners = results.filter((r) => r.code === 0);
    const losers = results.filter((r) => r.code !== 0);
    expect(winners, results.map((r) => r.stderr).join('\n---\n')).toHaveLength(1);
    expect(losers).toHaveLength(1);
    expect(losers[0]!.code).toBe(1);
    expect(losers[0]!.stdout + losers[0]!.stderr).toMatch(/sync crm_contacts is already running \(run [0-9a-f-]+, held by .+:\d+ until /);

    // Every record went out once: the loser sent nothing.
    const keys = example.receiver.deliveries.flatMap((d) => (d.json as { records: { key: string }[] }).records.map((r) => r.key));
    expect(keys).toHaveLength(20);
    expect(new Set(keys).size).toBe(20);
  });
});
