/**
 * `npm run bench`: activate's speed and memory next to the floors no tool can beat, measured in
 * the same run on the same data. Writes bench/RESULTS.md and bench/results.json.
 *
 * Scenarios (see bench/README.md):
 *   plan          activate plan over 1M and 10M rows (1% changed, 0.1% removed, 0.1% added)
 *                 vs one hand-written DuckDB query computing the same counts
 *   first-sync    1M rows to an instant local sink (batch 500) vs a bare undici loop
 *                 POSTing the same bodies with the same concurrency
 *   incremental   activate run after the first sync, 1% changed: records/s, time, state commits
 *   rate-limited  a twin allowing 100 requests / 10 s, 100 records per request: share of the
 *                 1,000 records/s limit and 429s received
 *   postgres      plan and incremental at 1M on PostgreSQL (ACTIVATE_TEST_PG_URL), when the
 *                 adapter is there
 *   pg-destination  PostgreSQL table of 10k and 100k rows to a PostgreSQL destination table,
 *                 full then 1% changed (issue 9), when destinations/postgres is there
 * Peak RSS of every activate process is recorded; the memory section compares 1M with 10M.
 *
 * Flags: --quick (100k and 1M rows, fewer repetitions), --sizes 1000000,10000000,
 * --scenarios plan,incremental,..., --reps N, --data-dir DIR (keep and reuse generated data),
 * --keep (keep the work directory), --no-write (print, do not write RESULTS.md), --render-only
 * (RESULTS.md again from results.json and NOTES.md, measuring nothing),
 * --duckdb-setting key=value (added to the benchmark profiles' DuckDB settings).
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { loadProject } from '../src/project/load-project.js';
import { StateStore } from '../src/state/state-store.js';
import { openWarehouse } from '../src/warehouse/registry.js';
import { buildDuckDb, expectedChanges, floorPlanQuery, MODEL_NAME, modelSelect, PG_SESSION, postgresBuild, type Expected } from './data.js';
import { runActivate, runNode, type ChildResult } from './proc.js';
import { benchDist, benchSource, repoRoot } from './paths.js';
import { DESTINATION, SYNC_ID, writeProject, type DestinationSpec, type WarehouseProfile } from './project.js';
import { writeReport, type Environment, type ScenarioReport, type TargetCheck } from './report.js';
import { startSink, type Sink } from './sink.js';
import { fmtMb, fmtNumber, fmtRatio, fmtRows, fmtSeconds, median } from './stats.js';

const SCENARIOS = ['startup', 'plan', 'first-sync', 'incremental', 'rate-limited', 'memory-limit', 'postgres', 'pg-destination'] as const;
/**
 * DuckDB's memory_limit for the memory-limit scenario (plan only: a run's state commits need the
 * state table's primary-key index in memory, which at 10M records does not fit; see NOTES.md).
 */
const MEMORY_LIMIT = '128MB';
type Scenario = (typeof SCENARIOS)[number];

interface Options {
  readonly sizes: readonly number[];
  readonly firstSyncRows: number;
  readonly rateLimitedRecords: number;
  readonly pgRows: number;
  readonly pgDestinationSizes: readonly number[];
  readonly scenarios: ReadonlySet<Scenario>;
  readonly repsOverride: number | undefined;
  readonly workDir: string;
  readonly dataDir: string;
  readonly keep: boolean;
  readonly write: boolean;
  readonly pgUrl: string | undefined;
  readonly duckdbSettings: Readonly<Record<string, string>>;
  readonly command: string;
}

const log = (message: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)}  ${message}\n`);

/** Repetitions per size: fewer for the big model, to keep the whole run near 15 minutes. */
function reps(options: Options, n: number): number {
  if (options.repsOverride !== undefined) return options.repsOverride;
  return n >= 5_000_000 ? 3 : 5;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      sizes: { type: 'string' },
      scenarios: { type: 'string' },
      reps: { type: 'string' },
      'data-dir': { type: 'string' },
      keep: { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      'render-only': { type: 'boolean', default: false },
      'duckdb-setting': { type: 'string', multiple: true },
    },
  });
  if (values['render-only']) {
    // RESULTS.md again from results.json, e.g. after editing NOTES.md; no measurement.
    const saved = JSON.parse(await readFile(join(benchSource, 'results.json'), 'utf8')) as { environment: Environment; scenarios: ScenarioReport[] };
    await writeReport(saved.scenarios, saved.environment, { write: true, notesPath: join(benchSource, 'NOTES.md'), outDir: benchSource });
    return;
  }
  const quick = values.quick ?? false;
  const sizes = values.sizes ? values.sizes.split(',').map(Number) : quick ? [100_000, 1_000_000] : [1_000_000, 10_000_000];
  const scenarios = new Set<Scenario>(
    values.scenarios ? (values.scenarios.split(',') as Scenario[]) : SCENARIOS,
  );
  for (const s of scenarios) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}; known: ${SCENARIOS.join(', ')}`);
  const workDir = await mkdtemp(join(tmpdir(), 'activate-bench-'));
  const dataDir = values['data-dir'] ?? join(workDir, 'data');
  await mkdir(dataDir, { recursive: true });
  const duckdbSettings = Object.fromEntries(
    (values['duckdb-setting'] ?? []).map((s) => {
      const at = s.indexOf('=');
      return [s.slice(0, at), s.slice(at + 1)];
    }),
  );
  const options: Options = {
    sizes,
    firstSyncRows: quick ? 200_000 : 1_000_000,
    rateLimitedRecords: quick ? 20_000 : 30_000,
    pgRows: quick ? 200_000 : 1_000_000,
    pgDestinationSizes: [10_000, 100_000],
    scenarios,
    repsOverride: values.reps !== undefined ? Number(values.reps) : quick ? 2 : undefined,
    workDir,
    dataDir,
    keep: values.keep ?? false,
    write: !(values['no-write'] ?? false),
    pgUrl: process.env.ACTIVATE_TEST_PG_URL || undefined,
    duckdbSettings,
    command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
  };

  const started = Date.now();
  const environment = await describeEnvironment(options);
  log(`work directory ${workDir}; data in ${dataDir}`);
  const sink = await startSink();
  const twin = await startSink({ rateLimit: { requests: 100, perMs: 10_000 } });
  const reports: ScenarioReport[] = [];
  try {
    const fingerprint = await webhookFingerprint(options, sink);
    const byName = (name: Scenario) => options.scenarios.has(name);
    if (byName('startup')) reports.push(await startupScenario(options, sink));
    if (byName('plan')) for (const n of options.sizes) reports.push(await planScenario(options, n, fingerprint, sink));
    if (byName('first-sync')) reports.push(await firstSyncScenario(options, sink));
    if (byName('incremental')) for (const n of options.sizes) reports.push(await incrementalScenario(options, n, fingerprint, sink));
    if (byName('rate-limited')) reports.push(await rateLimitedScenario(options, twin));
    if (byName('memory-limit')) {
      const n = Math.max(...options.sizes);
      reports.push(await planScenario(options, n, fingerprint, sink, { memory_limit: MEMORY_LIMIT }));
    }
    if (byName('postgres')) reports.push(...(await postgresScenarios(options, fingerprint, sink)));
    if (byName('pg-destination')) reports.push(...(await postgresDestinationScenario(options)));
    reports.push(memoryReport(reports, options));
  } finally {
    await sink.close();
    await twin.close();
    if (!options.keep) await rm(workDir, { recursive: true, force: true });
  }
  environment.loadAverageEnd = loadavg().map((l) => Number(l.toFixed(2)));
  environment.totalSeconds = Math.round((Date.now() - started) / 1000);
  await writeReport(reports, environment, { write: options.write, notesPath: join(benchSource, 'NOTES.md'), outDir: benchSource });
  log(`done in ${environment.totalSeconds} s`);
}

// ---------------------------------------------------------------------------------------------
// Environment

async function describeEnvironment(options: Options): Promise<Environment> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const reader = await connection.runAndReadAll('SELECT library_version, source_id FROM pragma_version()');
  const [duckdbVersion, duckdbSource] = reader.getRows()[0]!.map(String);
  connection.closeSync();
  instance.closeSync();
  const nodeApi = JSON.parse(await readFile(join(repoRoot, 'node_modules', '@duckdb', 'node-api', 'package.json'), 'utf8')) as { version: string };
  let postgresVersion: string | undefined;
  if (options.pgUrl) {
    try {
      const client = new pg.Client({ connectionString: options.pgUrl });
      await client.connect();
      postgresVersion = String((await client.query('SHOW server_version')).rows[0]?.server_version);
      await client.end();
    } catch (error) {
      postgresVersion = `unreachable (${(error as Error).message})`;
    }
  }
  let git = 'unknown';
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: repoRoot }).toString().trim().length > 0;
    git = `${head}${dirty ? ' + uncommitted changes' : ''}`;
  } catch {
    // Not a git checkout.
  }
  const cpu = cpus();
  return {
    date: new Date().toISOString(),
    command: options.command,
    cpu: `${cpu[0]?.model ?? 'unknown'} (${cpu.length} cores)`,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    duckdb: `${duckdbVersion} (${duckdbSource}), @duckdb/node-api ${nodeApi.version}`,
    postgres: postgresVersion,
    git,
    loadAverageStart: loadavg().map((l) => Number(l.toFixed(2))),
    loadAverageEnd: [],
    totalSeconds: 0,
    duckdbSettings: options.duckdbSettings,
  };
}

// ---------------------------------------------------------------------------------------------
// Projects and data

function sinkDestination(url: string, batchSize: number, requests: number, perSeconds: number): DestinationSpec {
  return {
    config: {
      type: 'webhook',
      url,
      batch_size: batchSize,
      concurrency: 4,
      timeout_seconds: 120,
      rate_limit: { requests, per_seconds: perSeconds },
    },
  };
}

const unthrottled = (sink: Sink) => sinkDestination(sink.url, 500, 1_000_000, 1);

function duckdbProfile(options: Options, path: string, database: string, extra: Readonly<Record<string, string>> = {}): WarehouseProfile {
  const merged = { ...options.duckdbSettings, ...extra };
  const settings = Object.keys(merged).length > 0 ? { settings: merged } : {};
  return { output: { type: 'duckdb', path, schema: 'main', threads: 1, ...settings }, database, schema: 'main', adapter: 'duckdb' };
}

const settingsLabel = (settings: Readonly<Record<string, string>>) =>
  Object.entries(settings).map(([k, v]) => `${k}=${v}`).join(', ');

/** The sync's fingerprint (part of every row hash), read the way activate reads the project. */
async function webhookFingerprint(options: Options, sink: Sink): Promise<string> {
  const dir = join(options.workDir, 'fingerprint');
  await writeProject(dir, duckdbProfile(options, 'unused.duckdb', 'unused'), unthrottled(sink));
  const project = await loadProject({ projectDir: dir, cwd: dir, env: {} });
  const spec = project.syncs.find((s) => s.id === SYNC_ID);
  if (!spec) throw new Error(`the generated project has no sync ${SYNC_ID}`);
  return spec.fingerprint;
}

/** A generated DuckDB file in the data directory (reused when --data-dir already holds it). */
async function duckData(options: Options, name: string, n: number, version: 'v1' | 'v2', seed?: { syncId: string; fingerprint: string }): Promise<string> {
  const path = join(options.dataDir, `${name}.duckdb`);
  const stampPath = `${path}.json`;
  const stamp = JSON.stringify({ n, version, seed: seed ?? null, generator: 2 });
  if (existsSync(path) && existsSync(stampPath) && (await readFile(stampPath, 'utf8')) === stamp) return path;
  await rm(path, { force: true });
  await rm(`${path}.wal`, { force: true });
  log(`generating ${name}: ${fmtRows(n)} rows (${version}${seed ? ', with state of v1' : ''})`);
  const seconds = await buildDuckDb({ path, n, version, seed });
  await writeFile(stampPath, stamp);
  const size = (await stat(path)).size;
  log(`generated ${name} in ${seconds.toFixed(1)} s (${Math.round(size / 2 ** 20)} MB)`);
  return path;
}

/** A private copy of a data file, as the warehouse of one `activate run` (which writes state). */
async function freshCopy(source: string, dir: string, name: string): Promise<string> {
  const target = join(dir, `${name}.duckdb`);
  await rm(`${target}.wal`, { force: true });
  await copyFile(source, target);
  return target;
}

interface SyncJson {
  readonly status: string;
  readonly counts: { readonly added: number; readonly changed: number; readonly removed: number; readonly modelRows: number };
  readonly delivered: number;
  readonly rejected: number;
  readonly seconds: number;
  readonly message: string | null;
}

function syncOf(result: ChildResult, what: string): SyncJson {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}:\n${result.stderr.slice(-4000)}\n${result.stdout.slice(-2000)}`);
  let parsed: { syncs?: SyncJson[] };
  try {
    parsed = JSON.parse(result.stdout) as { syncs?: SyncJson[] };
  } catch {
    throw new Error(`${what}: stdout is not JSON:\n${result.stdout.slice(0, 2000)}`);
  }
  const sync = parsed.syncs?.[0];
  if (!sync) throw new Error(`${what}: no sync in the JSON output`);
  return sync;
}

/**
 * Checkpoint commits from the run's debug log (the executor logs each one with its duration),
 * plus closing the warehouse: DuckDB writes the commits into its file then.
 */
function commitsOf(stderr: string): { count: number; ms: number; records: number } {
  let count = 0;
  let ms = 0;
  let records = 0;
  for (const line of stderr.split('\n')) {
    const closing = line.includes('warehouse closed');
    if (!line.includes('checkpoint committed') && !closing) continue;
    try {
      const entry = JSON.parse(line) as { ms?: number; records?: number };
      if (closing) {
        ms += entry.ms ?? 0;
        continue;
      }
      count++;
      ms += entry.ms ?? 0;
      records += entry.records ?? 0;
    } catch {
      // Not a JSON log line.
    }
  }
  return { count, ms, records };
}

function sameCounts(a: Expected, b: Expected): boolean {
  return a.added === b.added && a.changed === b.changed && a.removed === b.removed;
}

const countsText = (c: Expected) => `+${fmtNumber(c.added)} ~${fmtNumber(c.changed)} -${fmtNumber(c.removed)}`;
const samplesText = (values: readonly number[], format: (v: number) => string) => values.map(format).join(', ');

interface FloorOutput {
  readonly ms: number;
  readonly openMs: number;
  readonly rows: Record<string, unknown>[];
}

async function floorQuery(job: Record<string, unknown>, cwd: string): Promise<{ out: FloorOutput; child: ChildResult }> {
  const child = await runNode([join(benchDist, 'floor-query.js'), JSON.stringify(job)], { cwd });
  if (child.code !== 0) throw new Error(`floor query failed:\n${child.stderr.slice(-3000)}`);
  return { out: JSON.parse(child.stdout) as FloorOutput, child };
}

const countsFromRow = (row: Record<string, unknown> | undefined): Expected => ({
  added: Number(row?.added ?? NaN),
  changed: Number(row?.changed ?? NaN),
  removed: Number(row?.removed ?? NaN),
});

// ---------------------------------------------------------------------------------------------
// startup: what every activate process pays before any work

async function startupScenario(options: Options, sink: Sink): Promise<ScenarioReport> {
  const dir = join(options.workDir, 'startup');
  await writeProject(dir, duckdbProfile(options, 'unused.duckdb', 'unused'), unthrottled(sink));
  const version: ChildResult[] = [];
  const ls: ChildResult[] = [];
  const duck: { wallMs: number; openMs: number }[] = [];
  for (let r = 0; r < 5; r++) {
    version.push(await runActivate(['--version'], { cwd: dir }));
    ls.push(await runActivate(['ls'], { cwd: dir }));
    const { out, child } = await floorQuery({ kind: 'duckdb', path: ':memory:', sql: 'SELECT 1' }, dir);
    duck.push({ wallMs: child.wallMs, openMs: out.openMs });
  }
  log(`startup: activate --version ${fmtSeconds(median(version.map((v) => v.wallMs)))}, node + DuckDB ${fmtSeconds(median(duck.map((d) => d.wallMs)))}`);
  return {
    id: 'startup',
    title: 'process start (paid by every activate command)',
    lines: [
      `| | median | samples | peak RSS |`,
      `|---|---|---|---|`,
      `| \`activate --version\` (Node.js and activate's modules) | ${fmtSeconds(median(version.map((v) => v.wallMs)))} | ${samplesText(version.map((v) => v.wallMs), fmtSeconds)} | ${fmtMb(median(version.map((v) => v.peakRssMb ?? NaN)))} |`,
      `| \`activate ls\` (also reads the project and manifest) | ${fmtSeconds(median(ls.map((v) => v.wallMs)))} | ${samplesText(ls.map((v) => v.wallMs), fmtSeconds)} | ${fmtMb(median(ls.map((v) => v.peakRssMb ?? NaN)))} |`,
      `| a bare Node.js process loading DuckDB and running \`SELECT 1\` (the floors' processes) | ${fmtSeconds(median(duck.map((d) => d.wallMs)))} | ${samplesText(duck.map((d) => d.wallMs), fmtSeconds)} | |`,
      '',
      'The plan and sync floors below time their query or loop alone; activate is timed from spawn to exit, so these fixed costs count against it.',
    ],
    data: { version: version.map((v) => v.wallMs), ls: ls.map((v) => v.wallMs), duck },
    targets: [],
  };
}

// ---------------------------------------------------------------------------------------------
// plan

async function planScenario(options: Options, n: number, fingerprint: string, sink: Sink, extra: Readonly<Record<string, string>> = {}): Promise<ScenarioReport> {
  const name = `bench_${fmtRows(n).toLowerCase()}`;
  const path = await duckData(options, name, n, 'v2', { syncId: SYNC_ID, fingerprint });
  const capped = Object.keys(extra).length > 0;
  const label = capped ? ` (${settingsLabel(extra)})` : '';
  const dir = join(options.workDir, `plan-${name}${capped ? '-capped' : ''}`);
  await writeProject(dir, duckdbProfile(options, path, name, extra), unthrottled(sink));
  const settings = { ...options.duckdbSettings, ...extra };
  const expected = expectedChanges(n);
  const floorSql = floorPlanQuery('duckdb', `"main"."${MODEL_NAME}"`, '"activate"."activate_state"', SYNC_ID, fingerprint);
  const count = reps(options, n);
  const activate: { wallMs: number; rssMb: number | undefined; heapMb: number | undefined }[] = [];
  const floor: { ms: number; openMs: number; rssMb: number | undefined }[] = [];
  let activateCounts: Expected | undefined;
  let floorCounts: Expected | undefined;
  for (let r = 0; r < count; r++) {
    log(`plan ${fmtRows(n)}${label}: repetition ${r + 1}/${count}`);
    const run = await runActivate(['plan', '--json'], { cwd: dir });
    const sync = syncOf(run, `activate plan (${fmtRows(n)})`);
    activateCounts = sync.counts;
    activate.push({ wallMs: run.wallMs, rssMb: run.peakRssMb, heapMb: run.peakHeapMb });
    const { out, child } = await floorQuery({ kind: 'duckdb', path, sql: floorSql, settings }, dir);
    floorCounts = countsFromRow(out.rows[0]);
    floor.push({ ms: out.ms, openMs: out.openMs, rssMb: child.peakRssMb });
    log(`  activate ${fmtSeconds(run.wallMs)} (${fmtMb(run.peakRssMb)}), floor ${fmtSeconds(out.ms)} (${fmtMb(child.peakRssMb)})`);
  }
  const a = median(activate.map((s) => s.wallMs));
  const f = median(floor.map((s) => s.ms));
  const ratio = a / f;
  const correct = !!activateCounts && !!floorCounts && sameCounts(activateCounts, expected) && sameCounts(floorCounts, expected);
  const targets: TargetCheck[] = [];
  // The target is for the default configuration; a capped run is there for its memory.
  if (n >= 10_000_000 && !capped) {
    targets.push({ scenario: `plan, ${fmtRows(n)} rows`, target: 'activate plan <= 1.3x the floor', measured: fmtRatio(ratio), holds: ratio <= 1.3 && correct });
  }
  return {
    id: `plan-${n}${capped ? '-capped' : ''}`,
    title: `plan, DuckDB, ${fmtRows(n)} rows${label}`,
    lines: [
      `| | median | samples | peak RSS (median) |`,
      `|---|---|---|---|`,
      `| \`activate plan\` (process wall time) | ${fmtSeconds(a)} | ${samplesText(activate.map((s) => s.wallMs), fmtSeconds)} | ${fmtMb(median(activate.map((s) => s.rssMb ?? NaN)))} |`,
      `| floor: hand-written count query | ${fmtSeconds(f)} | ${samplesText(floor.map((s) => s.ms), fmtSeconds)} | ${fmtMb(median(floor.map((s) => s.rssMb ?? NaN)))} |`,
      '',
      `Ratio activate / floor: **${fmtRatio(ratio)}** (${count} repetitions, interleaved). ` +
        `Change set: activate ${activateCounts ? countsText(activateCounts) : '?'}, floor ${floorCounts ? countsText(floorCounts) : '?'}, ` +
        `expected ${countsText(expected)}${correct ? ' (all equal)' : ' — **MISMATCH**'}. ` +
        `The floor opens DuckDB in ${fmtSeconds(median(floor.map((s) => s.openMs)))}, not counted.`,
    ],
    data: { n, reps: count, activate, floor, ratio, activateCounts, floorCounts, expected, correct },
    targets,
    memory: { kind: `plan${label}`, n, rssMb: median(activate.map((s) => s.rssMb ?? NaN)), heapMb: median(activate.map((s) => s.heapMb ?? NaN)), floorRssMb: median(floor.map((s) => s.rssMb ?? NaN)) },
  };
}

// ---------------------------------------------------------------------------------------------
// first sync

async function firstSyncScenario(options: Options, sink: Sink): Promise<ScenarioReport> {
  const n = options.firstSyncRows;
  const name = `first_${fmtRows(n).toLowerCase()}`;
  const source = await duckData(options, name, n, 'v1');
  const dir = join(options.workDir, `first-sync-${name}`);
  await mkdir(dir, { recursive: true });
  await writeProject(dir, duckdbProfile(options, `${name}.duckdb`, name), unthrottled(sink));
  const bodiesFile = join(options.workDir, 'first-sync-bodies.ndjson');
  const count = options.repsOverride ?? 3;
  const activate: { wallMs: number; rssMb: number | undefined; heapMb: number | undefined; deliverySeconds: number; commits: number; commitMs: number; requests: number; records: number }[] = [];
  const floor: { ms: number; rssMb: number | undefined; requests: number }[] = [];
  const stateFloors: number[] = [];
  let stateRows = 0;
  for (let r = 0; r < count; r++) {
    log(`first sync ${fmtRows(n)}: repetition ${r + 1}/${count}`);
    const db = await freshCopy(source, dir, name);
    sink.reset({ capture: r === 0 });
    const run = await runActivate(['run', '--json', '--log-format', 'json', '--log-level', 'debug'], { cwd: dir });
    const sync = syncOf(run, `activate run (first sync, ${fmtRows(n)})`);
    const stats = sink.stats();
    const commits = commitsOf(run.stderr);
    stateRows = await duckCount(db, `SELECT count(*) FROM "activate"."activate_state" WHERE sync_id = '${SYNC_ID}'`);
    if (sync.delivered !== n || stats.records !== n || stateRows !== n) {
      throw new Error(`first sync: delivered ${sync.delivered}, sink received ${stats.records}, state holds ${stateRows}; expected ${n}`);
    }
    activate.push({ wallMs: run.wallMs, rssMb: run.peakRssMb, heapMb: run.peakHeapMb, deliverySeconds: sync.seconds, commits: commits.count, commitMs: commits.ms, requests: stats.accepted, records: stats.records });
    // The warehouse's floor for the state: the same rows written by DuckDB itself in one statement.
    const stateFloor = await floorQuery(
      {
        kind: 'duckdb',
        path: db,
        setup: [
          'CREATE TABLE activate.floor_state AS SELECT * FROM activate.activate_state LIMIT 0',
          'ALTER TABLE activate.floor_state ADD PRIMARY KEY (sync_id, record_key)',
        ],
        sql: 'INSERT INTO activate.floor_state SELECT * FROM activate.activate_state',
      },
      dir,
    );
    stateFloors.push(stateFloor.out.ms);
    if (r === 0) await writeFile(bodiesFile, sink.captured().join('\n') + '\n');
    sink.reset();
    const floorRun = await runNode([join(benchDist, 'floor-post.js'), sink.url, bodiesFile, '4'], { cwd: dir });
    if (floorRun.code !== 0) throw new Error(`floor POST loop failed:\n${floorRun.stderr}`);
    const out = JSON.parse(floorRun.stdout) as { ms: number; requests: number };
    if (sink.stats().records !== n) throw new Error(`floor POST loop delivered ${sink.stats().records} records, expected ${n}`);
    floor.push({ ms: out.ms, rssMb: floorRun.peakRssMb, requests: out.requests });
    log(`  activate ${fmtSeconds(run.wallMs)} (delivery ${sync.seconds.toFixed(1)} s, ${fmtMb(run.peakRssMb)}), floor ${fmtSeconds(out.ms)}`);
    await rm(db, { force: true });
  }
  const wall = median(activate.map((s) => s.wallMs));
  const delivery = median(activate.map((s) => s.deliverySeconds * 1000));
  const floorMs = median(floor.map((s) => s.ms));
  const rate = n / (wall / 1000);
  const deliveryRate = n / (delivery / 1000);
  const floorRate = n / (floorMs / 1000);
  const ratio = rate / floorRate;
  const commitMs = median(activate.map((s) => s.commitMs));
  return {
    id: 'first-sync',
    title: `first sync, DuckDB, ${fmtRows(n)} rows to an instant local sink (batch 500, 4 in flight)`,
    lines: [
      `| | time (median) | records/s | samples | peak RSS |`,
      `|---|---|---|---|---|`,
      `| \`activate run\`, whole process (plan + send + commit) | ${fmtSeconds(wall)} | ${fmtNumber(rate)} | ${samplesText(activate.map((s) => s.wallMs), fmtSeconds)} | ${fmtMb(median(activate.map((s) => s.rssMb ?? NaN)))} |`,
      `| of which delivery (stream, send, commit) | ${fmtSeconds(delivery)} | ${fmtNumber(deliveryRate)} | ${samplesText(activate.map((s) => s.deliverySeconds * 1000), fmtSeconds)} | |`,
      `| floor: bare undici loop, same ${fmtNumber(floor[0]?.requests ?? 0)} bodies, 4 in flight | ${fmtSeconds(floorMs)} | ${fmtNumber(floorRate)} | ${samplesText(floor.map((s) => s.ms), fmtSeconds)} | ${fmtMb(median(floor.map((s) => s.rssMb ?? NaN)))} |`,
      `| warehouse floor for the state: DuckDB inserting the same ${fmtNumber(n)} state rows in one statement | ${fmtSeconds(median(stateFloors))} | ${fmtNumber(n / (median(stateFloors) / 1000))} | ${samplesText(stateFloors, fmtSeconds)} | |`,
      '',
      `Ratio activate / floor (records/s, whole process): **${fmtRatio(ratio)}**; delivery phase alone: ${fmtRatio(deliveryRate / floorRate)}. ` +
        `State committed: ${fmtNumber(stateRows)} rows in \`activate_state\` after each run, ` +
        `in ${fmtNumber(median(activate.map((s) => s.commits)))} checkpoints taking ${fmtSeconds(commitMs)} of warehouse time (overlapping the sending).`,
    ],
    data: { n, reps: count, activate, floor, stateFloors, rate, deliveryRate, floorRate, ratio, stateRows },
    targets: [{ scenario: `first sync, ${fmtRows(n)} rows`, target: '>= 0.7x the floor records/s, state committed', measured: `${fmtRatio(ratio)} (${fmtNumber(rate)} vs ${fmtNumber(floorRate)} records/s)`, holds: ratio >= 0.7 && stateRows === n }],
    memory: { kind: 'first-sync', n, rssMb: median(activate.map((s) => s.rssMb ?? NaN)), heapMb: median(activate.map((s) => s.heapMb ?? NaN)) },
  };
}

async function duckCount(path: string, sql: string): Promise<number> {
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(sql);
    return Number(reader.getRows()[0]?.[0] ?? NaN);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

// ---------------------------------------------------------------------------------------------
// incremental

async function incrementalScenario(options: Options, n: number, fingerprint: string, sink: Sink, extra: Readonly<Record<string, string>> = {}): Promise<ScenarioReport> {
  const name = `bench_${fmtRows(n).toLowerCase()}`;
  const source = await duckData(options, name, n, 'v2', { syncId: SYNC_ID, fingerprint });
  const capped = Object.keys(extra).length > 0;
  const label = capped ? ` (${settingsLabel(extra)})` : '';
  const dir = join(options.workDir, `incremental-${name}${capped ? '-capped' : ''}`);
  await mkdir(dir, { recursive: true });
  await writeProject(dir, duckdbProfile(options, `${name}.duckdb`, name, extra), unthrottled(sink));
  const expected = expectedChanges(n);
  const total = expected.added + expected.changed + expected.removed;
  const count = reps(options, n);
  const samples: { wallMs: number; rssMb: number | undefined; heapMb: number | undefined; deliverySeconds: number; commits: number; commitMs: number; requests: number }[] = [];
  const stateFloors: number[] = [];
  for (let r = 0; r < count; r++) {
    log(`incremental ${fmtRows(n)}${label}: repetition ${r + 1}/${count}`);
    const db = await freshCopy(source, dir, name);
    sink.reset();
    const run = await runActivate(['run', '--json', '--log-format', 'json', '--log-level', 'debug'], { cwd: dir });
    const sync = syncOf(run, `activate run (incremental, ${fmtRows(n)})`);
    const stats = sink.stats();
    if (sync.delivered !== total || stats.records !== total) {
      throw new Error(`incremental ${fmtRows(n)}: delivered ${sync.delivered}, sink received ${stats.records}, expected ${total}`);
    }
    if (r === 0) {
      const rows = await duckCount(db, `SELECT count(*) FROM "activate"."activate_state" WHERE sync_id = '${SYNC_ID}'`);
      const want = n - expected.removed + expected.added;
      if (rows !== want) throw new Error(`incremental ${fmtRows(n)}: state holds ${rows} rows after the run, expected ${want}`);
    }
    const commits = commitsOf(run.stderr);
    samples.push({ wallMs: run.wallMs, rssMb: run.peakRssMb, heapMb: run.peakHeapMb, deliverySeconds: sync.seconds, commits: commits.count, commitMs: commits.ms, requests: stats.accepted });
    log(`  activate ${fmtSeconds(run.wallMs)} (delivery ${sync.seconds.toFixed(1)} s, commits ${fmtSeconds(commits.ms)} in ${commits.count}, ${fmtMb(run.peakRssMb)})`);
    // The warehouse's floor for these commits: DuckDB itself making as many state changes of
    // each kind, spread over the table the same way, one statement per kind, and writing them
    // into its file.
    const state = '"activate"."activate_state"';
    const bucket = (from: number, to: number) => `sync_id = '${SYNC_ID}' AND hash(record_key) % ${n} >= ${from} AND hash(record_key) % ${n} < ${to}`;
    const [changedEnd, removedEnd] = [expected.changed, expected.changed + expected.removed];
    const columns = 'sync_id, record_key, row_hash, sent_values, destination_id, synced_at, run_id';
    const stateFloor = await floorQuery(
      {
        kind: 'duckdb',
        path: db,
        settings: extra,
        sql: `UPDATE ${state} SET row_hash = md5(row_hash), synced_at = now() WHERE ${bucket(0, changedEnd)}`,
        timedAfter: [
          `DELETE FROM ${state} WHERE ${bucket(changedEnd, removedEnd)}`,
          `INSERT INTO ${state} (${columns}) SELECT sync_id, record_key || '+', row_hash, sent_values, destination_id, synced_at, run_id FROM ${state} WHERE ${bucket(removedEnd, removedEnd + expected.added)}`,
          'CHECKPOINT',
        ],
      },
      dir,
    );
    stateFloors.push(stateFloor.out.ms);
    await rm(db, { force: true });
  }
  const wall = median(samples.map((s) => s.wallMs));
  const delivery = median(samples.map((s) => s.deliverySeconds * 1000));
  const commitMs = median(samples.map((s) => s.commitMs));
  const share = median(samples.map((s) => s.commitMs / s.wallMs));
  const targets: TargetCheck[] =
    n >= 10_000_000
      ? [{ scenario: `incremental, ${fmtRows(n)} rows${label}`, target: 'state commits <= 10% of the run', measured: `${(share * 100).toFixed(1)}% (${fmtSeconds(commitMs)} of ${fmtSeconds(wall)})`, holds: share <= 0.1 }]
      : [];
  return {
    id: `incremental-${n}${capped ? '-capped' : ''}`,
    title: `incremental, DuckDB, ${fmtRows(n)} rows after the first sync (${countsText(expected)} = ${fmtNumber(total)} records)${label}`,
    lines: [
      `| | median | samples |`,
      `|---|---|---|`,
      `| \`activate run\`, whole process | ${fmtSeconds(wall)} | ${samplesText(samples.map((s) => s.wallMs), fmtSeconds)} |`,
      `| records/s, whole process | ${fmtNumber(total / (wall / 1000))} | |`,
      `| of which delivery (stream, send, commit) | ${fmtSeconds(delivery)} (${fmtNumber(total / (delivery / 1000))} records/s) | ${samplesText(samples.map((s) => s.deliverySeconds * 1000), fmtSeconds)} |`,
      `| warehouse time in state commits | ${fmtSeconds(commitMs)} = ${(share * 100).toFixed(1)}% of the run (${fmtNumber(median(samples.map((s) => s.commits)))} checkpoints) | ${samplesText(samples.map((s) => s.commitMs), fmtSeconds)} |`,
      `| warehouse floor for the commits: DuckDB making the same ${countsText(expected)} state changes, spread over the table, one statement each, then CHECKPOINT | ${fmtSeconds(median(stateFloors))} = ${((median(stateFloors) / wall) * 100).toFixed(1)}% of the run | ${samplesText(stateFloors, fmtSeconds)} |`,
      `| peak RSS | ${fmtMb(median(samples.map((s) => s.rssMb ?? NaN)))} | ${samples.map((s) => fmtMb(s.rssMb)).join(', ')} |`,
      '',
      `Each repetition starts from a copy of the same file (model v2, state of v1). The plan part of the run is the plan scenario above. ` +
        `State commits include closing the warehouse, where DuckDB writes them into its file.`,
    ],
    data: { n, reps: count, samples, expected, total, share, stateFloors },
    targets,
    memory: { kind: `incremental${label}`, n, rssMb: median(samples.map((s) => s.rssMb ?? NaN)), heapMb: median(samples.map((s) => s.heapMb ?? NaN)) },
  };
}

// ---------------------------------------------------------------------------------------------
// rate-limited

async function rateLimitedScenario(options: Options, twin: Sink): Promise<ScenarioReport> {
  const n = options.rateLimitedRecords;
  const name = `rl_${fmtRows(n).toLowerCase()}`;
  const source = await duckData(options, name, n, 'v1');
  const dir = join(options.workDir, `rate-limited-${name}`);
  await mkdir(dir, { recursive: true });
  const batch = 100;
  const limitRequests = 100;
  const perSeconds = 10;
  await writeProject(dir, duckdbProfile(options, `${name}.duckdb`, name), sinkDestination(twin.url, batch, limitRequests, perSeconds));
  const count = options.repsOverride ?? 3;
  const samples: { wallMs: number; windowMs: number; throttled: number; records: number; share: number; rssMb: number | undefined; heapMb: number | undefined }[] = [];
  const limitPerSecond = (limitRequests * batch) / perSeconds;
  for (let r = 0; r < count; r++) {
    log(`rate-limited ${fmtRows(n)}: repetition ${r + 1}/${count}`);
    await freshCopy(source, dir, name);
    twin.reset();
    const run = await runActivate(['run', '--json'], { cwd: dir });
    const sync = syncOf(run, 'activate run (rate-limited)');
    const stats = twin.stats();
    if (sync.delivered !== n || stats.records !== n) throw new Error(`rate-limited: delivered ${sync.delivered}, twin accepted ${stats.records}, expected ${n}`);
    const windowMs = (stats.lastAt ?? 0) - (stats.firstAt ?? 0);
    // The first window's requests go out at once (the limit is a rolling window); the rate is
    // what comes after them: the records of later requests over the time they took.
    const burst = limitRequests * batch;
    const steady = (n - burst) / (windowMs / 1000);
    samples.push({ wallMs: run.wallMs, windowMs, throttled: stats.throttled, records: stats.records, share: steady / limitPerSecond, rssMb: run.peakRssMb, heapMb: run.peakHeapMb });
    log(`  activate ${fmtSeconds(run.wallMs)}, first to last request ${fmtSeconds(windowMs)}, ${stats.throttled} x 429, share ${(steady / limitPerSecond).toFixed(3)}`);
  }
  const share = median(samples.map((s) => s.share));
  const throttled = Math.max(...samples.map((s) => s.throttled));
  const windowMs = median(samples.map((s) => s.windowMs));
  const ideal = ((Math.ceil(n / batch) - limitRequests) / limitRequests) * perSeconds * 1000;
  return {
    id: 'rate-limited',
    title: `rate-limited twin: ${limitRequests} requests / ${perSeconds} s, ${batch} records per request (HubSpot's default tier), ${fmtNumber(n)} records`,
    lines: [
      `| | median | samples |`,
      `|---|---|---|`,
      `| first request to last answer (twin's clock) | ${fmtSeconds(windowMs)} (ideal ${fmtSeconds(ideal)}) | ${samplesText(samples.map((s) => s.windowMs), fmtSeconds)} |`,
      `| records/s after the first window, share of the ${fmtNumber(limitPerSecond)}/s limit | ${fmtNumber(share * limitPerSecond)} = **${share.toFixed(3)}** | ${samples.map((s) => s.share.toFixed(3)).join(', ')} |`,
      `| 429s received (all repetitions, worst) | ${throttled} | ${samples.map((s) => s.throttled).join(', ')} |`,
      `| \`activate run\`, whole process | ${fmtSeconds(median(samples.map((s) => s.wallMs)))} | ${samplesText(samples.map((s) => s.wallMs), fmtSeconds)} |`,
      '',
      `The limit is a rolling window, so the first ${limitRequests} requests (${fmtNumber(limitRequests * batch)} records) may go at once; ` +
        `the share is computed over the records sent after them. The twin counts a request when it arrives and answers 429 with ` +
        `\`Retry-After\` when ${limitRequests} were accepted in the last ${perSeconds} s. activate.yml declares the same limit.`,
    ],
    data: { n, reps: count, samples, share, throttled },
    targets: [
      { scenario: 'rate-limited', target: 'achieved >= 0.95 of the 1,000 records/s limit', measured: share.toFixed(3), holds: share >= 0.95 },
      { scenario: 'rate-limited', target: '0 x 429 when the declared limit matches the twin', measured: String(throttled), holds: throttled === 0 },
    ],
    memory: { kind: 'rate-limited', n, rssMb: median(samples.map((s) => s.rssMb ?? NaN)), heapMb: median(samples.map((s) => s.heapMb ?? NaN)) },
  };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL warehouse

interface PgParts {
  readonly output: Record<string, unknown>;
  readonly database: string;
}

function pgParts(url: string, schema: string): PgParts {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.slice(1)) || 'postgres';
  return {
    database,
    output: {
      type: 'postgres',
      host: u.hostname,
      port: Number(u.port || 5432),
      user: decodeURIComponent(u.username) || 'postgres',
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      dbname: database,
      schema,
      threads: 1,
      sslmode: u.searchParams.get('sslmode') ?? 'prefer',
    },
  };
}

async function pgRun(url: string, statements: readonly string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}

/** Whether the PostgreSQL adapter is there: openWarehouse succeeds for a postgres profile. */
async function postgresAdapter(url: string, dir: string): Promise<string | undefined> {
  const parts = pgParts(url, 'public');
  try {
    const warehouse = await openWarehouse({ file: 'profiles.yml', profile: 'bench', target: 'bench', output: parts.output }, dir);
    await warehouse.close();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

async function migratePgState(url: string, dir: string, schema: string): Promise<void> {
  const parts = pgParts(url, schema);
  const warehouse = await openWarehouse({ file: 'profiles.yml', profile: 'bench', target: 'bench', output: parts.output }, dir);
  try {
    const connection = await warehouse.connect();
    try {
      await new StateStore(connection, warehouse.dialect, schema).migrate();
    } finally {
      await connection.close();
    }
  } finally {
    await warehouse.close();
  }
}

function skipped(id: string, title: string, why: string): ScenarioReport {
  return { id, title, lines: [`Skipped: ${why}`], data: { skipped: why }, targets: [] };
}

async function postgresScenarios(options: Options, fingerprint: string, sink: Sink): Promise<ScenarioReport[]> {
  const title = `PostgreSQL warehouse, ${fmtRows(options.pgRows)} rows`;
  if (!options.pgUrl) return [skipped('postgres', title, 'ACTIVATE_TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/activate_bench).')];
  const dir = join(options.workDir, 'postgres');
  await mkdir(dir, { recursive: true });
  const missing = await postgresAdapter(options.pgUrl, dir);
  if (missing) return [skipped('postgres', title, `the PostgreSQL warehouse adapter cannot open a postgres profile yet: ${missing}`)];

  const n = options.pgRows;
  const whSchema = 'activate_bench_wh';
  const stateSchema = 'activate_bench_state';
  const url = options.pgUrl;
  const parts = pgParts(url, whSchema);
  await writeProject(dir, { output: parts.output, database: parts.database, schema: whSchema, adapter: 'postgres' }, unthrottled(sink), stateSchema);
  const project = await loadProject({ projectDir: dir, cwd: dir, env: {} });
  const pgFingerprint = project.syncs[0]!.fingerprint;
  if (pgFingerprint !== fingerprint) log('note: the PostgreSQL sync has another fingerprint than the DuckDB one (expected the same)');
  log(`postgres: generating ${fmtRows(n)} rows and state`);
  const genStarted = performance.now();
  await pgRun(url, [`DROP SCHEMA IF EXISTS "${stateSchema}" CASCADE`]);
  await migratePgState(url, dir, stateSchema);
  await pgRun(url, [
    ...postgresBuild(whSchema, n, 'v2', { syncId: SYNC_ID, fingerprint: pgFingerprint, stateSchema }),
    `CREATE TABLE "${stateSchema}".state_seed AS SELECT * FROM "${stateSchema}".activate_state`,
  ]);
  log(`postgres: generated in ${((performance.now() - genStarted) / 1000).toFixed(1)} s`);
  const expected = expectedChanges(n);
  const total = expected.added + expected.changed + expected.removed;
  const floorSql = floorPlanQuery('postgres', `"${whSchema}"."${MODEL_NAME}"`, `"${stateSchema}"."activate_state"`, SYNC_ID, pgFingerprint);
  const count = options.repsOverride ?? 3;
  const plan: { wallMs: number; rssMb: number | undefined; heapMb: number | undefined }[] = [];
  const floor: { ms: number; rssMb: number | undefined }[] = [];
  const incremental: { wallMs: number; rssMb: number | undefined; heapMb: number | undefined; deliverySeconds: number; commitMs: number; commits: number }[] = [];
  let planCounts: Expected | undefined;
  let floorCounts: Expected | undefined;
  try {
    for (let r = 0; r < count; r++) {
      log(`postgres plan ${fmtRows(n)}: repetition ${r + 1}/${count}`);
      const run = await runActivate(['plan', '--json'], { cwd: dir });
      planCounts = syncOf(run, 'activate plan (postgres)').counts;
      plan.push({ wallMs: run.wallMs, rssMb: run.peakRssMb, heapMb: run.peakHeapMb });
      const { out, child } = await floorQuery({ kind: 'postgres', url, sql: floorSql, setup: PG_SESSION }, dir);
      floorCounts = countsFromRow(out.rows[0]);
      floor.push({ ms: out.ms, rssMb: child.peakRssMb });
      log(`  activate ${fmtSeconds(run.wallMs)}, floor ${fmtSeconds(out.ms)}`);
    }
    for (let r = 0; r < count; r++) {
      log(`postgres incremental ${fmtRows(n)}: repetition ${r + 1}/${count}`);
      await pgRun(url, [
        `TRUNCATE "${stateSchema}".activate_state`,
        `INSERT INTO "${stateSchema}".activate_state SELECT * FROM "${stateSchema}".state_seed`,
        `ANALYZE "${stateSchema}".activate_state`,
      ]);
      sink.reset();
      const run = await runActivate(['run', '--json', '--log-format', 'json', '--log-level', 'debug'], { cwd: dir });
      const sync = syncOf(run, 'activate run (postgres incremental)');
      if (sync.delivered !== total) throw new Error(`postgres incremental: delivered ${sync.delivered}, expected ${total}`);
      const commits = commitsOf(run.stderr);
      incremental.push({ wallMs: run.wallMs, rssMb: run.peakRssMb, heapMb: run.peakHeapMb, deliverySeconds: sync.seconds, commitMs: commits.ms, commits: commits.count });
      log(`  activate ${fmtSeconds(run.wallMs)} (delivery ${sync.seconds.toFixed(1)} s, commits ${fmtSeconds(commits.ms)})`);
    }
  } finally {
    await pgRun(url, [`DROP SCHEMA IF EXISTS "${whSchema}" CASCADE`, `DROP SCHEMA IF EXISTS "${stateSchema}" CASCADE`]);
  }
  const a = median(plan.map((s) => s.wallMs));
  const f = median(floor.map((s) => s.ms));
  const correct = !!planCounts && !!floorCounts && sameCounts(planCounts, expected) && sameCounts(floorCounts, expected);
  const wall = median(incremental.map((s) => s.wallMs));
  const commitMs = median(incremental.map((s) => s.commitMs));
  return [
    {
      id: 'postgres',
      title: `PostgreSQL warehouse (local server), ${fmtRows(n)} rows: plan and incremental`,
      lines: [
        `| | median | samples | peak RSS |`,
        `|---|---|---|---|`,
        `| \`activate plan\` | ${fmtSeconds(a)} | ${samplesText(plan.map((s) => s.wallMs), fmtSeconds)} | ${fmtMb(median(plan.map((s) => s.rssMb ?? NaN)))} |`,
        `| floor: hand-written count query | ${fmtSeconds(f)} | ${samplesText(floor.map((s) => s.ms), fmtSeconds)} | |`,
        `| \`activate run\`, incremental (${fmtNumber(total)} records) | ${fmtSeconds(wall)} (${fmtNumber(total / (wall / 1000))} records/s) | ${samplesText(incremental.map((s) => s.wallMs), fmtSeconds)} | ${fmtMb(median(incremental.map((s) => s.rssMb ?? NaN)))} |`,
        `| of which state commits | ${fmtSeconds(commitMs)} = ${((commitMs / wall) * 100).toFixed(1)}% of the run | ${samplesText(incremental.map((s) => s.commitMs), fmtSeconds)} | |`,
        '',
        `Plan ratio activate / floor: **${fmtRatio(a / f)}**. Change set: activate ${planCounts ? countsText(planCounts) : '?'}, floor ${floorCounts ? countsText(floorCounts) : '?'}, expected ${countsText(expected)}${correct ? ' (all equal)' : ' — **MISMATCH**'}.`,
      ],
      data: { n, reps: count, plan, floor, incremental, planCounts, floorCounts, expected, correct },
      targets: [],
      memory: { kind: 'postgres plan', n, rssMb: median(plan.map((s) => s.rssMb ?? NaN)), heapMb: median(plan.map((s) => s.heapMb ?? NaN)) },
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL -> PostgreSQL destination table (issue 9)

async function postgresDestinationScenario(options: Options): Promise<ScenarioReport[]> {
  const title = 'PostgreSQL warehouse to a PostgreSQL destination table';
  if (!existsSync(join(repoRoot, 'dist', 'destinations', 'postgres', 'index.js'))) {
    return [skipped('pg-destination', title, 'destinations/postgres does not exist yet.')];
  }
  if (!options.pgUrl) return [skipped('pg-destination', title, 'ACTIVATE_TEST_PG_URL is not set.')];
  const url = options.pgUrl;
  const dir = join(options.workDir, 'pg-destination');
  await mkdir(dir, { recursive: true });
  const missing = await postgresAdapter(url, dir);
  if (missing) return [skipped('pg-destination', title, `the PostgreSQL warehouse adapter cannot open a postgres profile yet: ${missing}`)];
  const whSchema = 'activate_bench_pgd_wh';
  const stateSchema = 'activate_bench_pgd_state';
  const destSchema = 'activate_bench_pgd_dest';
  const parts = pgParts(url, whSchema);
  const rows: string[] = [];
  const data: unknown[] = [];
  const count = options.repsOverride ?? 3;
  try {
    for (const n of options.pgDestinationSizes) {
      const table = `${destSchema}.customers_${n}`;
      const destination: DestinationSpec = {
        config: { type: 'postgres', url, batch_size: 1000, concurrency: 2 },
        options: { table, create_table: true },
      };
      await writeProject(dir, { output: parts.output, database: parts.database, schema: whSchema, adapter: 'postgres' }, destination, stateSchema);
      const expected = expectedChanges(n);
      const samples: { fullMs: number; incrementalMs: number; fullRss: number | undefined; incrementalRss: number | undefined; floorMs: number }[] = [];
      for (let r = 0; r < count; r++) {
        log(`postgres destination ${fmtRows(n)}: repetition ${r + 1}/${count}`);
        await pgRun(url, [
          ...PG_SESSION,
          `DROP SCHEMA IF EXISTS "${stateSchema}" CASCADE`,
          `DROP SCHEMA IF EXISTS "${destSchema}" CASCADE`,
          `DROP SCHEMA IF EXISTS "${whSchema}" CASCADE`,
          `CREATE SCHEMA "${whSchema}"`,
          `CREATE TABLE "${whSchema}".${MODEL_NAME} AS ${modelSelect('postgres', n, 'v1')}`,
          `ANALYZE "${whSchema}".${MODEL_NAME}`,
        ]);
        const full = await runActivate(['run', '--json'], { cwd: dir });
        const fullSync = syncOf(full, `activate run (postgres destination, full, ${fmtRows(n)})`);
        if (fullSync.delivered !== n) throw new Error(`postgres destination full: delivered ${fullSync.delivered}, expected ${n}`);
        // v2: 1% changed, 0.1% removed, 0.1% added.
        await pgRun(url, [
          ...PG_SESSION,
          `DROP TABLE "${whSchema}".${MODEL_NAME}`,
          `CREATE TABLE "${whSchema}".${MODEL_NAME} AS ${modelSelect('postgres', n, 'v2')}`,
          `ANALYZE "${whSchema}".${MODEL_NAME}`,
        ]);
        const incremental = await runActivate(['run', '--json'], { cwd: dir });
        const incSync = syncOf(incremental, `activate run (postgres destination, 1% changed, ${fmtRows(n)})`);
        const total = expected.added + expected.changed + expected.removed;
        if (incSync.delivered !== total) throw new Error(`postgres destination incremental: delivered ${incSync.delivered}, expected ${total}`);
        // Floor of the full sync: the same rows written by the server itself, into a table of the same shape.
        const floorSql = `INSERT INTO "${destSchema}".floor_${n} SELECT * FROM "${whSchema}".${MODEL_NAME}`;
        await pgRun(url, [
          `DROP TABLE IF EXISTS "${destSchema}".floor_${n}`,
          `CREATE TABLE "${destSchema}".floor_${n} (LIKE "${whSchema}".${MODEL_NAME})`,
          `CREATE UNIQUE INDEX ON "${destSchema}".floor_${n} (email)`,
        ]);
        const { out } = await floorQuery({ kind: 'postgres', url, sql: floorSql, setup: PG_SESSION }, dir);
        samples.push({ fullMs: full.wallMs, incrementalMs: incremental.wallMs, fullRss: full.peakRssMb, incrementalRss: incremental.peakRssMb, floorMs: out.ms });
        log(`  full ${fmtSeconds(full.wallMs)}, 1% changed ${fmtSeconds(incremental.wallMs)}, floor (INSERT ... SELECT) ${fmtSeconds(out.ms)}`);
      }
      const full = median(samples.map((s) => s.fullMs));
      const inc = median(samples.map((s) => s.incrementalMs));
      const total = expected.added + expected.changed + expected.removed;
      rows.push(
        `| ${fmtRows(n)} | full | ${fmtNumber(n)} | ${fmtSeconds(full)} | ${fmtNumber(n / (full / 1000))} | ${fmtSeconds(median(samples.map((s) => s.floorMs)))} | ${fmtMb(median(samples.map((s) => s.fullRss ?? NaN)))} |`,
        `| ${fmtRows(n)} | 1% changed (${countsText(expected)}) | ${fmtNumber(total)} | ${fmtSeconds(inc)} | ${fmtNumber(total / (inc / 1000))} | | ${fmtMb(median(samples.map((s) => s.incrementalRss ?? NaN)))} |`,
      );
      data.push({ n, reps: count, samples });
    }
  } finally {
    await pgRun(url, [
      `DROP SCHEMA IF EXISTS "${stateSchema}" CASCADE`,
      `DROP SCHEMA IF EXISTS "${destSchema}" CASCADE`,
      `DROP SCHEMA IF EXISTS "${whSchema}" CASCADE`,
    ]);
  }
  return [
    {
      id: 'pg-destination',
      title: `${title} (issue 9): full, then 1% changed`,
      lines: [
        `| model rows | run | records | \`activate run\` (median) | records/s | floor: server-side INSERT ... SELECT | peak RSS |`,
        `|---|---|---|---|---|---|---|`,
        ...rows,
        '',
        `Destination: \`type: postgres\`, batch 1000, 2 connections, mirror mode, \`create_table: true\` (unique index on the identifier). ` +
          `The floor copies the same rows inside the server in one statement (no client, no batches): the database's own time to write them.`,
      ],
      data,
      targets: [],
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// memory

function memoryReport(reports: readonly ScenarioReport[], options: Options): ScenarioReport {
  const entries = reports.flatMap((r) => (r.memory ? [r.memory] : []));
  const lines = [
    `| scenario | rows | activate peak RSS (median) | of which JavaScript heap (peak) | floor process peak RSS |`,
    `|---|---|---|---|---|`,
  ];
  for (const e of entries) {
    lines.push(`| ${e.kind} | ${fmtRows(e.n)} | ${fmtMb(e.rssMb)} | ${fmtMb(e.heapMb)} | ${e.floorRssMb !== undefined ? fmtMb(e.floorRssMb) : ''} |`);
  }
  const targets: TargetCheck[] = [];
  const biggest = Math.max(...options.sizes);
  const smallest = Math.min(...options.sizes);
  for (const kind of ['plan', 'incremental']) {
    const small = entries.find((e) => e.kind === kind && e.n === smallest);
    const big = entries.find((e) => e.kind === kind && e.n === biggest);
    if (!small || !big || small === big) continue;
    const growth = big.rssMb / small.rssMb;
    lines.push('', `${kind}: ${fmtRows(biggest)} / ${fmtRows(smallest)} peak RSS = ${fmtRatio(growth)}.`);
    if (biggest >= 10_000_000) {
      targets.push({ scenario: `memory, ${kind}`, target: `<= 300 MB at ${fmtRows(biggest)} rows`, measured: fmtMb(big.rssMb), holds: big.rssMb <= 300 });
      targets.push({ scenario: `memory, ${kind}`, target: `${fmtRows(smallest)} vs ${fmtRows(biggest)} within 20%`, measured: `${fmtMb(small.rssMb)} vs ${fmtMb(big.rssMb)} (${fmtRatio(growth)})`, holds: growth <= 1.2 });
    }
  }
  for (const e of entries.filter((x) => x.kind.includes('memory_limit') && x.n >= 10_000_000)) {
    targets.push({ scenario: `memory, ${e.kind}`, target: `<= 300 MB at ${fmtRows(e.n)} rows`, measured: fmtMb(e.rssMb), holds: e.rssMb <= 300 });
  }
  return { id: 'memory', title: 'memory: peak RSS of each activate process', lines, data: entries, targets };
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
