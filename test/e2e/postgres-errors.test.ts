import { createServer, type AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { makePostgresExample, MARTS, type PostgresExample } from '../support/postgres-example.js';
import { describePostgres, pgAdmin, scratchName } from '../support/postgres.js';
import { startPasswordServer, type PasswordServer } from '../twins/postgres-password-server.js';

const TARGET = 'profiles.yml: jaffle_activate.outputs.pg';

/** A port on 127.0.0.1 nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describePostgres('PostgreSQL connection and permission errors: one clear message, exit 2, nothing sent', () => {
  let example: PostgresExample;
  /** Deliveries a test expected (only after a fix); every failing run must add none. */
  let expectedDeliveries = 0;
  beforeAll(async () => {
    example = await makePostgresExample();
  });
  afterAll(async () => {
    await example?.cleanup();
  });
  beforeEach(async () => {
    await example.writeProfile();
    for (const mart of MARTS) await example.pointModel(mart, example.database, example.models.name);
  });
  afterEach(() => {
    expect(example.receiver.deliveries).toHaveLength(expectedDeliveries);
  });

  /** `activate run`: exit 2, one error message (returned), nothing sent. */
  async function failingRun(): Promise<string> {
    const run = await example.project.cli('run');
    expect(run.code, run.stdout + run.stderr).toBe(2);
    return run.stderr;
  }

  it('a wrong password names the target and the key to fix, and never shows the password', async () => {
    const server: PasswordServer = await startPasswordServer();
    try {
      example.project.env.PG_PASSWORD = 'not-the-password-42';
      await example.writeProfile({ host: '127.0.0.1', port: server.port, password: "{{ env_var('PG_PASSWORD') }}" });
      const stderr = await failingRun();
      expect(stderr).toContain(
        `${TARGET} (postgres, postgres@127.0.0.1:${server.port}/${example.database}): ` +
          'password authentication failed for user "postgres": check password (or pass) in the target, or the environment variable it reads',
      );
      expect(server.passwords).toEqual(['not-the-password-42']);
      // sslmode prefer (dbt's default) asked for SSL first and fell back when the server declined.
      expect(server.sslRequests).toBe(1);
      expect(stderr).not.toContain('not-the-password-42');
    } finally {
      delete example.project.env.PG_PASSWORD;
      await server.close();
    }
  });

  it('sslmode require against a server without SSL says so and how to change it', async () => {
    const server = await startPasswordServer();
    try {
      await example.writeProfile({ host: '127.0.0.1', port: server.port, sslmode: 'require' });
      const stderr = await failingRun();
      expect(stderr).toContain(`sslmode is require but the server at 127.0.0.1:${server.port} does not support SSL`);
      expect(server.passwords).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('an unreachable host names host and port and what to check', async () => {
    const port = await closedPort();
    await example.writeProfile({ host: '127.0.0.1', port });
    const stderr = await failingRun();
    expect(stderr).toContain(`${TARGET} (postgres, postgres@127.0.0.1:${port}/`);
    expect(stderr).toMatch(new RegExp(`cannot reach the server at 127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED.*\\): check host and port in the target`));
  });

  it('a database that does not exist names it and the key to fix', async () => {
    await example.writeProfile({ dbname: 'activate_no_such_database' });
    const stderr = await failingRun();
    expect(stderr).toContain('database "activate_no_such_database" does not exist');
    expect(stderr).toContain('check dbname in the target');
  });

  it("a model whose schema does not exist names the relation, the target, and says to build it", async () => {
    await example.pointModel('customer_scores', example.database, 'activate_no_such_schema');
    const stderr = await failingRun();
    expect(stderr).toContain(
      `model customer_scores cannot be read as "${example.database}"."activate_no_such_schema"."customer_scores" in postgres (profile jaffle_activate, target pg`,
    );
    expect(stderr).toContain('Run `dbt build` for it first');
  });

  it('a model in another database than the target connects to is refused before planning', async () => {
    await example.pointModel('at_risk_customers', 'analytics', example.models.name);
    const stderr = await failingRun();
    expect(stderr).toMatch(
      new RegExp(`is in database "analytics", but \\S*${TARGET.replaceAll('.', '\\.')} connects to database "${example.database}"`),
    );
  });

  it('without CREATE on the database, the state schema error gives the grant; a schema created for activate then works', async () => {
    const role = scratchName('noperm');
    const admin = await pgAdmin();
    try {
      // Earlier runs (as the superuser) created the state schema; this role must create its own.
      await admin.query(`DROP SCHEMA IF EXISTS "${example.stateSchema}" CASCADE`);
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      await admin.query(`GRANT USAGE ON SCHEMA "${example.models.name}" TO ${role}`);
      await admin.query(`GRANT SELECT ON ALL TABLES IN SCHEMA "${example.models.name}" TO ${role}`);
      await example.writeProfile({ user: role });

      const stderr = await failingRun();
      expect(stderr).toContain(`cannot create the state schema "${example.stateSchema}"`);
      expect(stderr).toContain(`permission denied for database ${example.database}`);
      expect(stderr).toContain(`GRANT CREATE ON DATABASE "${example.database}" TO "${role}"`);
      expect(stderr).toContain(`postgres (profile jaffle_activate, target pg, ${role}@127.0.0.1`);

      // The other way the message offers: the owner creates the schema and grants it.
      await admin.query(`CREATE SCHEMA "${example.stateSchema}"`);
      await admin.query(`GRANT USAGE, CREATE ON SCHEMA "${example.stateSchema}" TO ${role}`);
      const run = await example.project.cli('run');
      expect(run.code, run.stderr).toBe(0);
      expect(example.receiver.deliveries.length).toBeGreaterThan(expectedDeliveries);
      expectedDeliveries = example.receiver.deliveries.length;
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS "${example.stateSchema}" CASCADE`);
      await admin.query(`DROP OWNED BY ${role}`);
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });
});
