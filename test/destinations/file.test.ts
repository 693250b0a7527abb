import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { csvField, encodeBatch } from '../../destinations/file/encode.js';
import { file, type FileOptions } from '../../destinations/file/index.js';
import { renderFileName, templateProblems, timeStamp } from '../../destinations/file/template.js';
import type { Change, Destination, WriteContext } from '../../destinations/types.js';
import { DestinationError } from '../../src/errors.js';
import { createHttpClient } from '../../src/http/http-client.js';
import { silentLogger } from '../../src/logger.js';
import { csvObjects, parseCsv } from '../support/csv-parse.js';
import { makeTempDir } from '../support/fixtures.js';

const http = createHttpClient({ limits: { requests: 1000, perSeconds: 1, concurrency: 1 } });
afterAll(() => http.close());

let temp: { dir: string; remove: () => void };
beforeEach(() => {
  temp = makeTempDir('file-dest');
});
afterEach(() => temp.remove());

function upsert(key: string, fields: Record<string, unknown>): Change {
  return { operation: 'upsert', kind: 'added', key, hash: `h${key}`, fields, identifier: { id: fields.id ?? null }, previous: null, destinationId: null };
}
function remove(key: string, fields: Record<string, unknown>): Change {
  return { ...upsert(key, fields), operation: 'delete', kind: 'removed', previous: fields };
}
const ctx = (runId = '0b5e7c1e-0000-4000-8000-000000000001'): WriteContext => ({ syncId: 'customers__exports', runId, mode: 'mirror' });

function connect(overrides: Record<string, unknown> = {}): Destination<FileOptions> {
  const config = file.config.parse({ type: 'file', path: temp.dir, ...overrides });
  return file.create(config, { http, log: silentLogger, name: 'exports', cwd: process.cwd() });
}

/** Every visible file under the directory (hidden temporary files excluded), relative paths sorted. */
async function visibleFiles(dir = temp.dir): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && !e.name.startsWith('.'))
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}
async function allFiles(dir = temp.dir): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
}

const TRICKY = [
  'plain',
  'comma, inside',
  'a "quoted" word',
  'line\nbreak',
  'carriage\r\nreturn',
  'lone\rcr',
  '',
  ' leading and trailing ',
  'Zoë Ångström – 東京 🚀',
  '"',
  ',',
  '""',
  'ends with quote"',
];

describe('CSV encoding (RFC 4180)', () => {
  it('quotes fields with a comma, quote, CR or LF, doubles inner quotes, and keeps NULL apart from the empty string', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('x\ny')).toBe('"x\ny"');
    expect(csvField('x\ry')).toBe('"x\ry"');
    expect(csvField('')).toBe('""');
    expect(csvField(null)).toBe('');
    expect(csvField(undefined)).toBe('');
    expect(csvField(10.5)).toBe('10.5');
    expect(csvField(true)).toBe('true');
    expect(csvField(12345678901234567890n)).toBe('12345678901234567890');
    expect(csvField({ a: 'x,y', b: [1, 2] })).toBe('"{""a"":""x,y"",""b"":[1,2]}"');
    expect(csvField('Zoë 🚀')).toBe('Zoë 🚀');
  });

  it('round-trips every tricky value through an independent parser', () => {
    const batch = TRICKY.map((text, i) => upsert(`${i}`, { id: i, text, n: i % 2 ? null : i * 1.5 }));
    const csv = encodeBatch(batch, { format: 'csv', operationColumn: undefined });
    expect(csv.endsWith('\r\n')).toBe(true);
    const parsed = csvObjects(csv);
    expect(parsed).toEqual(TRICKY.map((text, i) => ({ id: String(i), text, n: i % 2 ? null : String(i * 1.5) })));
  });
});

describe('file names', () => {
  it('replaces the placeholders and appends the part when the template has none', () => {
    const values = { sync: 's', run_id: 'r', date: '2025-06-30', timestamp: '20250630T120000Z', operation: 'upsert', part: '00001' };
    expect(renderFileName('{{ sync }}/{{date}}/{{ run_id }}_{{ operation }}', values)).toBe('s/2025-06-30/r_upsert-00001');
    expect(renderFileName('{{ timestamp }}-{{ part }}-{{ operation }}', values)).toBe('20250630T120000Z-00001-upsert');
    expect(timeStamp(new Date('2025-06-30T12:34:56.789Z'))).toBe('20250630T123456Z');
  });

  it('refuses templates that would overwrite earlier runs, leave the directory, or use unknown names', () => {
    expect(templateProblems('{{ sync }}/{{ run_id }}-{{ operation }}', 'per_operation')).toEqual([]);
    expect(templateProblems('{{ sync }}-{{ timestamp }}', 'single')).toEqual([]);
    // What is left after activate.yml rendered {{ sync }} itself (to nothing): caught, with the fix.
    expect(templateProblems('-.csv', 'single').join()).toMatch(/must contain \{\{ run_id \}\} or \{\{ timestamp \}\}/);
    expect(templateProblems('{{ run_id }}', 'per_operation').join()).toMatch(/\{\{ operation \}\}/);
    expect(templateProblems('{{ run_id }}-{{ user }}', 'single').join()).toMatch(/unknown placeholder \{\{ user \}\}/);
    expect(templateProblems('../{{ run_id }}', 'single').join()).toMatch(/\.\./);
    expect(templateProblems('/abs/{{ run_id }}', 'single').join()).toMatch(/relative/);
    expect(file.config.safeParse({ type: 'file', path: 'x', file_name: 'fixed.csv' }).success).toBe(false);
    expect(file.config.safeParse({ type: 'file', path: 'x', format: 'parquet' }).success).toBe(false);
    expect(file.config.parse({ type: 'file', path: 'x' })).toMatchObject({ format: 'csv', layout: 'per_operation', gzip: false, batch_size: 10_000 });
  });
});

describe('file destination', () => {
  it('writes each batch as one complete, visible file before acknowledging it, with no temporary file left', async () => {
    const dest = connect();
    const batch = [upsert('1', { id: 1, email: 'a@x.io' }), upsert('2', { id: 2, email: 'b@x.io' })];
    const results = await dest.write(batch, {}, ctx());
    const files = await visibleFiles();
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^customers__exports\/\d{8}T\d{6}Z-0b5e7c1e-0000-4000-8000-000000000001-upsert-00001\.csv$/);
    expect(results).toEqual(batch.map((c) => ({ key: c.key, status: 'synced', destinationId: files[0] })));
    expect(csvObjects(await readFile(join(temp.dir, files[0]!), 'utf8'))).toEqual([
      { id: '1', email: 'a@x.io' },
      { id: '2', email: 'b@x.io' },
    ]);
    expect(await allFiles()).toHaveLength(1);
  });

  it('per_operation layout: upserts and deletes in separate files, parts numbered per operation', async () => {
    const dest = connect();
    await dest.write([remove('9', { id: 9, email: 'gone@x.io' })], {}, ctx());
    await dest.write([upsert('1', { id: 1, email: 'a@x.io' })], {}, ctx());
    await dest.write([upsert('2', { id: 2, email: 'b@x.io' })], {}, ctx());
    const files = await visibleFiles();
    expect(files.map((f) => f.replace(/^.*-(\w+-\d+\.csv)$/, '$1'))).toEqual(['delete-00001.csv', 'upsert-00001.csv', 'upsert-00002.csv']);
    const deletes = csvObjects(await readFile(join(temp.dir, files[0]!), 'utf8'));
    expect(deletes).toEqual([{ id: '9', email: 'gone@x.io' }]);
  });

  it('single layout: an operation column, and a clear error when a field has its name', async () => {
    const dest = connect({ layout: 'single', file_name: '{{ sync }}-{{ run_id }}', format: 'jsonl' });
    await dest.write([remove('9', { id: 9 })], {}, ctx());
    await dest.write([upsert('1', { id: 1, big: 12345678901234567890n, tags: ['a'] })], {}, ctx());
    const files = await visibleFiles();
    expect(files).toEqual([
      'customers__exports-0b5e7c1e-0000-4000-8000-000000000001-00001.jsonl',
      'customers__exports-0b5e7c1e-0000-4000-8000-000000000001-00002.jsonl',
    ]);
    const lines = await Promise.all(files.map(async (f) => (await readFile(join(temp.dir, f), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown)));
    expect(lines).toEqual([[{ operation: 'delete', id: 9 }], [{ operation: 'upsert', id: 1, big: '12345678901234567890', tags: ['a'] }]]);

    await expect(dest.write([upsert('2', { id: 2, operation: 'x' })], {}, ctx())).rejects.toThrow(/operation_column/);
  });

  it('a field a record does not carry is left out of its JSON line, and written empty in CSV', async () => {
    const batch = [upsert('1', { id: 1, plan: 'pro' }), upsert('2', { id: 2, email: 'b@x.io', plan: null })];
    expect(encodeBatch(batch, { format: 'jsonl', operationColumn: undefined })).toBe('{"id":1,"plan":"pro"}\n{"id":2,"plan":null,"email":"b@x.io"}\n');
    expect(encodeBatch(batch, { format: 'csv', operationColumn: 'op' })).toBe('op,id,plan,email\r\nupsert,1,pro,\r\nupsert,2,,b@x.io\r\n');
  });

  it('gzip: each file is a complete gzip stream', async () => {
    const dest = connect({ gzip: true });
    const batch = TRICKY.map((text, i) => upsert(`${i}`, { id: i, text }));
    await dest.write(batch, {}, ctx());
    const [name] = await visibleFiles();
    expect(name).toMatch(/\.csv\.gz$/);
    const text = gunzipSync(await readFile(join(temp.dir, name!))).toString('utf8');
    expect(csvObjects(text).map((r) => r.text)).toEqual(TRICKY);
  });

  it('never replaces an existing file: a name already taken moves on to the next part', async () => {
    const dest = connect({ file_name: 'fixed-{{ run_id }}-{{ operation }}-{{ part }}' });
    const runId = 'r1';
    await writeFile(join(temp.dir, 'fixed-r1-upsert-00001.csv'), 'someone else\r\n');
    await dest.write([upsert('1', { id: 1 })], {}, ctx(runId));
    expect(await readFile(join(temp.dir, 'fixed-r1-upsert-00001.csv'), 'utf8')).toBe('someone else\r\n');
    expect(parseCsv(await readFile(join(temp.dir, 'fixed-r1-upsert-00002.csv'), 'utf8')).map((r) => r.map((f) => f.text))).toEqual([['id'], ['1']]);
  });

  it('stops the sync when the path cannot be a directory', async () => {
    const blocker = join(temp.dir, 'not-a-dir');
    await writeFile(blocker, 'x');
    const dest = connect({ path: join(blocker, 'exports') });
    await expect(dest.write([upsert('1', { id: 1 })], {}, ctx())).rejects.toThrow(DestinationError);
    expect(await dest.checkMapping!([], {})).toEqual([expect.stringMatching(/not-a-dir/)]);
  });

  it.skipIf(process.getuid?.() === 0)('stops the sync when the directory is not writable', async () => {
    const locked = join(temp.dir, 'locked');
    await mkdir(locked);
    await chmod(locked, 0o500);
    try {
      const dest = connect({ path: locked });
      await expect(dest.write([upsert('1', { id: 1 })], {}, ctx())).rejects.toThrow(/EACCES/);
    } finally {
      await chmod(locked, 0o700);
    }
  });
});
