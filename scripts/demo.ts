/**
 * `npm run demo`: the whole loop on the example project, end to end, on this machine.
 *
 *  1. builds dbt_example/warehouse.duckdb from the committed manifest (a stand-in for `dbt build`),
 *  2. starts a local webhook receiver that verifies Standard Webhooks signatures,
 *  3. runs `activate run` three times in dbt_example/:
 *     - the first run delivers every row,
 *     - the second run, over unchanged data, delivers nothing,
 *     - after one customer's plan changes in the seed and the models are rebuilt, the third run
 *       delivers that customer only.
 *
 * Exits non-zero when any step does not behave that way.
 */
import { spawn } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildExampleWarehouse, execSql } from './example-warehouse.js';

/** Same default as dbt_example/activate.yml; set explicitly so an exported value cannot interfere. */
const WEBHOOK_SECRET = 'whsec_ZGVtby1zZWNyZXQtZm9yLWxvY2FsLXVzZS1vbmx5';
const TIMESTAMP_TOLERANCE_SECONDS = 300;
const RUN_TIMEOUT_MS = 180_000;
const CHANGED_CUSTOMER_ID = 3;

interface ReceivedRecord {
  readonly sync: string;
  readonly runId: string;
  readonly operation: string;
  readonly key: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

interface Receiver {
  readonly url: string;
  /** Records received since the last call, and problems seen (bad signatures, bad bodies). */
  take(): { records: ReceivedRecord[]; problems: string[]; requests: number; duplicates: number };
  close(): Promise<void>;
}

function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${start}`);
    dir = parent;
  }
}

const repoRoot = findRepoRoot(dirname(fileURLToPath(import.meta.url)));
const projectDir = join(repoRoot, 'dbt_example');
const databasePath = join(projectDir, 'warehouse.duckdb');
const cliPath = join(repoRoot, 'bin', 'activate.js');

function heading(text: string): void {
  process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);
}

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** Verifies a Standard Webhooks signature over the raw body; returns a problem or null. */
function verifySignature(req: IncomingMessage, body: Buffer, secret: string): string | null {
  const header = (name: string): string | undefined => {
    const v = req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const id = header('webhook-id');
  const timestamp = header('webhook-timestamp');
  const signatures = header('webhook-signature');
  if (!id || !timestamp || !signatures) return 'missing webhook-id, webhook-timestamp or webhook-signature';
  if (!/^\d+$/.test(timestamp)) return `webhook-timestamp is not UNIX seconds: ${timestamp}`;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS) {
    return `webhook-timestamp ${timestamp} is outside the ${TIMESTAMP_TOLERANCE_SECONDS} s tolerance`;
  }
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
  const valid = signatures.split(' ').some((entry) => {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') return false;
    const given = Buffer.from(entry.slice(comma + 1), 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  return valid ? null : 'no v1 signature matches the body';
}

function parseBody(body: Buffer): ReceivedRecord[] | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return 'body is not JSON';
  }
  const b = parsed as { sync?: unknown; run_id?: unknown; records?: unknown };
  if (typeof b.sync !== 'string' || !Array.isArray(b.records)) return 'body lacks "sync" or "records"';
  const out: ReceivedRecord[] = [];
  for (const r of b.records as { operation?: unknown; key?: unknown; fields?: unknown }[]) {
    if (typeof r?.operation !== 'string' || r.key === undefined || r.key === null) {
      return 'a record lacks "operation" or "key"';
    }
    out.push({
      sync: b.sync,
      runId: String(b.run_id ?? ''),
      operation: r.operation,
      key: typeof r.key === 'string' ? r.key : JSON.stringify(r.key),
      fields: r.fields && typeof r.fields === 'object' ? (r.fields as Record<string, unknown>) : {},
    });
  }
  return out;
}

async function startReceiver(secret: string): Promise<Receiver> {
  let records: ReceivedRecord[] = [];
  let problems: string[] = [];
  let requests = 0;
  let duplicates = 0;
  const seenIds = new Set<string>();

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      const body = Buffer.concat(chunks);
      const reply = (status: number, payload: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      if (req.method !== 'POST') {
        problems.push(`${req.method} ${req.url}: expected POST`);
        return reply(405, { error: 'method not allowed' });
      }
      const signatureProblem = verifySignature(req, body, secret);
      if (signatureProblem) {
        problems.push(`${req.url}: ${signatureProblem}`);
        return reply(401, { error: 'invalid signature' });
      }
      const webhookId = String(req.headers['webhook-id']);
      if (seenIds.has(webhookId)) {
        duplicates++; // a retry of a delivery that already arrived; acknowledge, count once
        return reply(200, { ok: true, duplicate: true });
      }
      const parsed = parseBody(body);
      if (typeof parsed === 'string') {
        problems.push(`${req.url}: ${parsed}`);
        return reply(400, { error: parsed });
      }
      seenIds.add(webhookId);
      records.push(...parsed);
      return reply(200, { ok: true, received: parsed.length });
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/crm`,
    take() {
      const taken = { records, problems, requests, duplicates };
      records = [];
      problems = [];
      requests = 0;
      duplicates = 0;
      return taken;
    },
    close: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections();
        server.close(() => resolveClose());
      }),
  };
}

/** Runs `activate run` in dbt_example with its output on this terminal; resolves to the exit code. */
function runActivate(receiverUrl: string): Promise<number> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ACTIVATE_WEBHOOK_URL: receiverUrl,
    ACTIVATE_WEBHOOK_SECRET: WEBHOOK_SECRET,
  };
  // dbt's own variables would point activate at another project, profile or target.
  for (const name of ['DBT_PROFILES_DIR', 'DBT_PROJECT_DIR', 'DBT_PROFILE', 'DBT_TARGET', 'DBT_TARGET_PATH']) {
    delete env[name];
  }
  say(`$ activate run        (cwd: dbt_example, webhook: ${receiverUrl})`);
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [cliPath, 'run'], { cwd: projectDir, env, stdio: 'inherit' });
    const timer = setTimeout(() => {
      say(`activate run did not finish within ${RUN_TIMEOUT_MS / 1000} s; stopping it`);
      child.kill('SIGTERM');
    }, RUN_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      say(`could not start activate: ${err.message}`);
      resolveRun(-1);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolveRun(code ?? (signal ? 128 : -1));
    });
  });
}

function bySync(records: readonly ReceivedRecord[]): Map<string, ReceivedRecord[]> {
  const groups = new Map<string, ReceivedRecord[]>();
  for (const r of records) {
    const list = groups.get(r.sync) ?? [];
    list.push(r);
    groups.set(r.sync, list);
  }
  return groups;
}

function showRecords(records: readonly ReceivedRecord[], samplesPerSync: number): void {
  for (const [sync, list] of bySync(records)) {
    const ops = new Map<string, number>();
    for (const r of list) ops.set(r.operation, (ops.get(r.operation) ?? 0) + 1);
    const opText = [...ops].map(([op, n]) => `${n} ${op}`).join(', ');
    say(`  ${sync}: ${list.length} record(s) (${opText})`);
    for (const r of list.slice(0, samplesPerSync)) {
      say(`    ${r.operation} key=${r.key} ${JSON.stringify(r.fields)}`);
    }
    if (list.length > samplesPerSync) say(`    ... and ${list.length - samplesPerSync} more`);
  }
}

async function countRows(relation: string): Promise<number> {
  const [row] = await execSql(databasePath, `select count(*)::int as n from ${relation}`);
  return Number(row?.['n']);
}

async function main(): Promise<number> {
  const failures: string[] = [];
  const check = (ok: boolean, message: string): void => {
    say(ok ? `  ok: ${message}` : `  FAILED: ${message}`);
    if (!ok) failures.push(message);
  };

  heading('Building dbt_example/warehouse.duckdb (seeds + models, as `dbt build` would)');
  await rm(databasePath, { force: true });
  await rm(`${databasePath}.wal`, { force: true });
  await buildExampleWarehouse({ projectDir, databasePath });
  const expected = new Map([
    ['crm_contacts', await countRows('"warehouse"."main"."customer_scores"')],
    ['at_risk_customers__crm_webhook', await countRows('"warehouse"."main"."at_risk_customers"')],
  ]);
  say(`  customer_scores: ${expected.get('crm_contacts')} rows, at_risk_customers: ${expected.get('at_risk_customers__crm_webhook')} rows`);

  const receiver = await startReceiver(WEBHOOK_SECRET);
  say(`  webhook receiver listening on ${receiver.url}`);
  try {
    // 1. First run: everything is new.
    heading('1. First run: every row is new');
    const code1 = await runActivate(receiver.url);
    const first = receiver.take();
    say(`\nThe receiver got ${first.records.length} record(s) in ${first.requests} request(s):`);
    showRecords(first.records, 3);
    check(code1 === 0, `activate run exited with ${code1}`);
    check(first.problems.length === 0, `valid signed deliveries${first.problems.length ? `: ${first.problems.join('; ')}` : ''}`);
    check(first.records.length > 0, `${first.records.length} record(s) delivered (expected more than 0)`);
    if (failures.length > 0) {
      heading('Stopping: the later steps depend on a successful first run');
      return 1;
    }
    const firstBySync = bySync(first.records);
    for (const [sync, rows] of expected) {
      const got = new Set((firstBySync.get(sync) ?? []).map((r) => r.key)).size;
      if (got !== rows) say(`  note: sync ${sync} delivered ${got} distinct key(s); the model has ${rows} row(s)`);
    }

    // 2. Second run over the same data: nothing changed, nothing is sent.
    heading('2. Second run over unchanged data');
    const code2 = await runActivate(receiver.url);
    const second = receiver.take();
    if (second.records.length === 0) say('\nNothing arrived at the receiver.');
    else {
      say(`\nThe receiver got ${second.records.length} record(s):`);
      showRecords(second.records, 5);
    }
    check(code2 === 0, `activate run exited with ${code2}`);
    check(second.problems.length === 0, `valid signed deliveries${second.problems.length ? `: ${second.problems.join('; ')}` : ''}`);
    check(second.records.length === 0, `${second.records.length} record(s) delivered (expected 0)`);

    // 3. One customer changes plan: only that customer is sent.
    heading(`3. Customer ${CHANGED_CUSTOMER_ID} moves to the enterprise plan; models rebuilt`);
    await execSql(databasePath, `update "warehouse"."main"."raw_customers" set plan = 'enterprise' where id = ${CHANGED_CUSTOMER_ID}`);
    await buildExampleWarehouse({ projectDir, databasePath, skipSeeds: true });
    say(`  update raw_customers set plan = 'enterprise' where id = ${CHANGED_CUSTOMER_ID}; models rebuilt`);
    const code3 = await runActivate(receiver.url);
    const third = receiver.take();
    say(`\nThe receiver got ${third.records.length} record(s):`);
    showRecords(third.records, 5);
    check(code3 === 0, `activate run exited with ${code3}`);
    check(third.problems.length === 0, `valid signed deliveries${third.problems.length ? `: ${third.problems.join('; ')}` : ''}`);
    const changed = third.records.filter((r) => r.key === String(CHANGED_CUSTOMER_ID));
    const others = third.records.filter((r) => r.key !== String(CHANGED_CUSTOMER_ID));
    check(
      changed.length === 1 && changed[0]?.sync === 'crm_contacts' && changed[0].fields['plan'] === 'enterprise',
      `exactly one record for customer ${CHANGED_CUSTOMER_ID} in crm_contacts with plan "enterprise" (got ${changed.length})`,
    );
    check(others.length === 0, `no records for other customers (got ${others.length})`);
  } finally {
    await receiver.close();
    heading(failures.length === 0 ? 'Demo passed' : `Demo failed: ${failures.length} check(s)`);
    for (const f of failures) say(`  - ${f}`);
  }
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
