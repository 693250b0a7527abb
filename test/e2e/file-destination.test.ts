/**
 * `activate run` from the example project into CSV and JSON Lines files (file destination):
 * the files are parsed back (with a reader written independently of the writer) and compared
 * with the model's changes, run after run; a SIGKILL mid-run leaves only complete files and a
 * resume that loses nothing.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { csvObjects } from '../support/csv-parse.js';
import { makeExampleProject, type ExampleProject } from '../support/example-project.js';
import { makeTempDir } from '../support/fixtures.js';
import { editActivation } from '../support/manifest-edit.js';

const CUSTOMERS = 20;
const FIELDS = ['email', 'first_name', 'last_name', 'plan', 'lifetime_value', 'order_count', 'last_order_date', 'churn_risk', 'is_active'];
const TRICKY_NAME = 'Zoë "Z", O\'Brien\r\nÅngström – 東京 🚀';

let project: ExampleProject;
let out: { dir: string; remove: () => void };

function activateYml(extra: readonly string[] = []): string {
  return [
    'destinations:',
    '  exports:',
    '    type: file',
    `    path: "{{ env_var('EXPORT_DIR') }}"`,
    ...extra.map((line) => `    ${line}`),
    'state:',
    '  schema: activate',
    '',
  ].join('\n');
}

beforeEach(async () => {
  out = makeTempDir('file-e2e');
  project = await makeExampleProject({ EXPORT_DIR: out.dir });
  await project.writeActivateYml(activateYml());
  await editActivation(project.dir, 'customer_scores', () => ({
    name: 'crm_contacts',
    destination: 'exports',
    mode: 'upsert',
    primary_key: 'customer_id',
    identifier: { customer_id: 'customer_id' },
    fields: Object.fromEntries(FIELDS.map((f) => [f, f])),
  }));
  await editActivation(project.dir, 'at_risk_customers', () => ({
    name: 'win_back',
    destination: 'exports',
    mode: 'mirror',
    primary_key: 'customer_id',
    identifier: { customer_id: 'customer_id' },
    fields: { email: 'email', churn_risk: 'churn_risk' },
  }));
});

afterEach(async () => {
  await project.cleanup();
  out.remove();
});

/** Visible files (hidden temporary files left out), relative to the export directory, in name order. */
async function visibleFiles(): Promise<string[]> {
  const entries = await readdir(out.dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && !e.name.startsWith('.'))
    .map((e) => relative(out.dir, join(e.parentPath, e.name)))
    .sort();
}

async function readCsv(name: string): Promise<Record<string, string | null>[]> {
  return csvObjects(await readFile(join(out.dir, name), 'utf8'));
}

/** The model's rows as CSV text: what the files must say. */
async function modelAsText(model: string, columns: readonly string[], where = 'TRUE'): Promise<Record<string, string | null>[]> {
  const rows = await project.query(`SELECT customer_id, ${columns.join(', ')} FROM main.${model} WHERE ${where} ORDER BY customer_id`);
  return rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v === null ? null : String(v)])));
}

const byId = (rows: Record<string, unknown>[]) => [...rows].sort((a, b) => Number(a.customer_id) - Number(b.customer_id));

describe('activate run into files (file destination)', () => {
  it('CSV: the first run writes every row, an unchanged model writes nothing, a change writes exactly that row (quoting intact)', async () => {
    const first = await project.cli('run', '-s', 'crm_contacts');
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const files = await visibleFiles();
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^crm_contacts\/\d{8}T\d{6}Z-[0-9a-f-]{36}-upsert-00001\.csv$/);
    const written = await readCsv(files[0]!);
    expect(byId(written)).toEqual(await modelAsText('customer_scores', FIELDS));
    expect(Object.keys(written[0]!)[0]).toBe('customer_id');

    const second = await project.cli('run', '-s', 'crm_contacts');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('+0 ~0 -0');
    expect(await visibleFiles()).toEqual(files);

    await project.sql(`UPDATE main.customer_scores SET first_name = '${TRICKY_NAME.replaceAll("'", "''")}', plan = 'a,b' WHERE customer_id = 3`);
    const third = await project.cli('run', '-s', 'crm_contacts');
    expect(third.code, third.stderr).toBe(0);
    const added = (await visibleFiles()).filter((f) => !files.includes(f));
    expect(added).toHaveLength(1);
    const changed = await readCsv(added[0]!);
    expect(changed).toEqual(await modelAsText('customer_scores', FIELDS, 'customer_id = 3'));
    expect(changed[0]!.first_name).toBe(TRICKY_NAME);
    // Every file of the directory reads back cleanly, and no temporary file is left.
    const all = await readdir(out.dir, { recursive: true });
    expect(all.filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('mirror: rows that left the model are written to a delete file with the values last sent', async () => {
    expect((await project.cli('run', '-s', 'win_back')).code).toBe(0);
    const [leaving] = await modelAsText('at_risk_customers', ['email', 'churn_risk']);
    const before = await visibleFiles();
    await project.sql(`DELETE FROM main.at_risk_customers WHERE customer_id = ${leaving!.customer_id}`);
    const run = await project.cli('run', '-s', 'win_back');
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const added = (await visibleFiles()).filter((f) => !before.includes(f));
    expect(added).toEqual([expect.stringMatching(/^win_back\/.*-delete-00001\.csv$/)]);
    expect(await readCsv(added[0]!)).toEqual([leaving]);
  });

  it('JSON Lines, gzip, one layout with an operation column, and a custom file name whose placeholders activate.yml leaves alone', async () => {
    await project.writeActivateYml(
      activateYml([
        'format: jsonl',
        'gzip: true',
        'layout: single',
        'batch_size: 7',
        `file_name: "exports/{{ date }}/{{ sync }}_{{ run_id }}_{{ part }}"`,
      ]),
    );
    const run = await project.cli('run', '-s', 'crm_contacts');
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const files = await visibleFiles();
    expect(files).toHaveLength(Math.ceil(CUSTOMERS / 7));
    for (const [i, f] of files.entries()) expect(f).toMatch(new RegExp(`^exports/\\d{4}-\\d{2}-\\d{2}/crm_contacts_[0-9a-f-]{36}_0000${i + 1}\\.jsonl\\.gz$`));
    const records = [];
    for (const f of files) {
      const text = gunzipSync(await readFile(join(out.dir, f))).toString('utf8');
      expect(text.endsWith('\n')).toBe(true);
      records.push(...text.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>));
    }
    expect(records.every((r) => r.operation === 'upsert')).toBe(true);
    const model = await project.query(`SELECT customer_id, ${FIELDS.join(', ')} FROM main.customer_scores ORDER BY customer_id`);
    // JSON keeps the types: numbers, booleans, null and dates as activate sends them.
    expect(byId(records.map(({ operation: _op, ...rest }) => rest))).toEqual(model);
  });

  it('SIGKILL mid-run leaves only complete files; every record counted synced is in one; the resume writes the rest', async () => {
    const extra = 1500;
    const batch = 20;
    await project.writeActivateYml(activateYml([`batch_size: ${batch}`]));
    await project.sql(
      `INSERT INTO main.customer_scores (customer_id, email, first_name, last_name, plan, lifetime_value, order_count, last_order_date, churn_risk, is_active)
       SELECT 1000 + i, 'user' || i || '@example.com', 'First "' || i || '", x', 'Last' || chr(10) || i, 'free', 10.5, 1, DATE '2025-01-01', 0.5, true FROM range(${extra}) t(i)`,
    );
    const total = CUSTOMERS + extra;
    const child = project.spawnCli(['run', '-s', 'crm_contacts']);
    let exited = false;
    void child.done.then(() => (exited = true));
    for (;;) {
      const count = (await visibleFiles().catch(() => [])).length;
      if (count >= 10) break;
      if (exited) throw new Error(`activate run ended before it could be killed: ${JSON.stringify(await child.done)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    expect((await child.done).signal).toBe('SIGKILL');

    const filesAtKill = await visibleFiles();
    const keysIn = async (names: readonly string[]) => {
      const keys: string[] = [];
      // A partial file would fail to parse or come up short: each must hold exactly its batch.
      for (const f of names) {
        const rows = await readCsv(f);
        expect(rows.length, f).toBeGreaterThan(0);
        expect(rows.length, f).toBeLessThanOrEqual(batch);
        keys.push(...rows.map((r) => r.customer_id!));
      }
      return keys;
    };
    const written = new Set(await keysIn(filesAtKill));
    expect(written.size).toBeLessThan(total);
    const state = (await project.query<{ k: string }>(`SELECT record_key AS k FROM activate.activate_state WHERE sync_id = 'crm_contacts'`)).map((r) => r.k);
    expect(state.length).toBeGreaterThan(0);
    expect(state.filter((k) => !written.has(k))).toEqual([]);
    const temporary = (await readdir(out.dir, { recursive: true })).filter((f) => f.endsWith('.tmp'));
    console.info(
      `file crash/resume: ${filesAtKill.length} complete files (${written.size} of ${total} records) at the kill, ${state.length} records in state, ` +
        `${temporary.length} unacknowledged temporary file(s) left`,
    );

    const resumed = await project.cli('run', '-s', 'crm_contacts');
    expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0);
    const newFiles = (await visibleFiles()).filter((f) => !filesAtKill.includes(f));
    const resent = await keysIn(newFiles);
    // The resume writes exactly what state did not record, once.
    expect(new Set(resent)).toEqual(new Set([...Array.from({ length: CUSTOMERS }, (_, i) => String(i + 1)), ...Array.from({ length: extra }, (_, i) => String(1000 + i))].filter((k) => !state.includes(k))));
    expect(resent.length).toBe(new Set(resent).size);
    const everything = new Set([...written, ...resent]);
    expect(everything.size).toBe(total);
    expect((await project.cli('plan', '-s', 'crm_contacts')).stdout).toMatch(/crm_contacts\s+upsert\s+\+0 ~0 -0/);
  });
});
