import { spawn } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LockedError } from '../../src/errors.js';
import { StateStore } from '../../src/state/state-store.js';
import { openDuckDB } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import type { Connection, Warehouse } from '../../src/warehouse/types.js';

let warehouse: Warehouse;
let connection: Connection;
let store: StateStore;

beforeEach(async () => {
  warehouse = await openDuckDB({ file: 'profiles.yml', profile: 'p', target: 't', output: { type: 'duckdb', path: ':memory:' } }, process.cwd());
  connection = await warehouse.connect();
  store = new StateStore(connection, warehouse.dialect, 'activate');
  await store.migrate();
});

afterEach(async () => {
  await connection.close();
  await warehouse.close();
});

/** The pid of a process that has exited, so its lease can never be released by it. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

describe('one run per sync: the lease in activate_locks', () => {
  it('refuses a second holder, naming the holder and when its lease expires', async () => {
    const lease = await store.acquireLease('crm_contacts', 'run-a');
    const second = store.acquireLease('crm_contacts', 'run-b');
    await expect(second).rejects.toBeInstanceOf(LockedError);
    await expect(second).rejects.toThrow(/sync crm_contacts is already running \(run run-a, held by .+:\d+ until \d{4}-/);
    // Other syncs are not affected.
    const other = await store.acquireLease('other_sync', 'run-c');
    await other.release();
    await lease.release();
    const again = await store.acquireLease('crm_contacts', 'run-b');
    await again.release();
  });

  it('takes over an expired lease and marks the holder run abandoned', async () => {
    await store.acquireLease('crm_contacts', 'run-old', 1);
    await connection.execute(
      `INSERT INTO activate.activate_runs (run_id, sync_id, model_unique_id, destination, mode, status, started_at) VALUES ('run-old', 'crm_contacts', 'm', 'd', 'upsert', 'running', now())`,
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    const lease = await store.acquireLease('crm_contacts', 'run-new');
    const [run] = await connection.query<{ status: string; message: string }>(`SELECT status, message FROM activate.activate_runs WHERE run_id = 'run-old'`);
    expect(run!.status).toBe('abandoned');
    expect(run!.message).toContain('lease taken over by run run-new');
    await lease.release();
  });

  it('takes over at once a lease whose holder process on this host is gone', async () => {
    const pid = await deadPid();
    const host = (await import('node:os')).hostname();
    await connection.execute(
      `INSERT INTO activate.activate_locks VALUES ('crm_contacts', 'run-dead', '${host}:${pid}', now(), now() + INTERVAL 1 HOUR)`,
    );
    const lease = await store.acquireLease('crm_contacts', 'run-new');
    const [lock] = await connection.query<{ run_id: string }>(`SELECT run_id FROM activate.activate_locks`);
    expect(lock!.run_id).toBe('run-new');
    await lease.release();
  });

  it('does not take over a live holder on another host before expiry', async () => {
    await connection.execute(
      `INSERT INTO activate.activate_locks VALUES ('crm_contacts', 'run-remote', 'ci-runner-7:12345', now(), now() + INTERVAL 1 HOUR)`,
    );
    await expect(store.acquireLease('crm_contacts', 'run-new')).rejects.toThrow(/held by ci-runner-7:12345/);
  });

  it('renew pushes the expiry forward; release removes only its own lease', async () => {
    const lease = await store.acquireLease('crm_contacts', 'run-a', 60_000);
    const [before] = await connection.query<{ e: string }>(`SELECT CAST(expires_at AS VARCHAR) AS e FROM activate.activate_locks`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await lease.renew();
    const [after] = await connection.query<{ e: string }>(`SELECT CAST(expires_at AS VARCHAR) AS e FROM activate.activate_locks`);
    expect(after!.e > before!.e).toBe(true);
    await lease.release();
    expect(await connection.query(`SELECT * FROM activate.activate_locks`)).toEqual([]);
  });
});
