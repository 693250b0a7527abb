import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { isMap, isSeq, parseDocument, type Document, type Node } from 'yaml';
import type { RenderOptions } from '../config/render.js';
import { readManifest, type Manifest, type ModelNode } from '../dbt/manifest.js';
import { resolveProfileTarget } from '../dbt/profiles.js';
import { findProjectDir, readDbtProject, type DbtProject } from '../dbt/project.js';
import { ConfigError, EXIT_OK, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { didYouMean } from '../suggest.js';
import { openWarehouse } from '../warehouse/registry.js';
import {
  activateYmlTemplate,
  activationTemplate,
  DEFAULT_DESTINATION_NAMES,
  INIT_DESTINATION_TYPES,
  requiredEnvVars,
  type InitDestinationType,
} from './init-templates.js';
import type { TerminalStream } from './progress.js';

export interface InitFlags {
  projectDir?: string;
  profilesDir?: string;
  profile?: string;
  target?: string;
  targetPath?: string;
  destinationType?: string;
  destination?: string;
  model?: string;
  primaryKey?: string;
  fields?: string;
  force?: boolean;
  nonInteractive?: boolean;
}

export interface InitIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly stderrStream?: TerminalStream;
  readonly stdin?: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  readonly log: Logger;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Most fields the sample maps by default: a starting point, not a dump of a wide table. */
const MAX_DEFAULT_FIELDS = 8;

/**
 * `activate init`: writes a commented activate.yml for the project's warehouse and adds a sample
 * `meta.activation` to a model's YAML. Asks on a terminal; otherwise (or with --non-interactive)
 * uses the flags and defaults. Never overwrites activate.yml without --force, never replaces a
 * model's existing activation.
 */
export async function runInitCommand(flags: InitFlags, io: InitIO): Promise<number> {
  const render: RenderOptions = { env: io.env, onEnvValue: () => undefined };
  const dir = findProjectDir(flags.projectDir, io.env, io.cwd);
  const dbt = await readDbtProject(dir, { targetPath: flags.targetPath, env: io.env, render });
  const ask = !flags.nonInteractive && io.stdin?.isTTY === true && io.stderrStream?.isTTY === true ? new Prompter(io) : undefined;
  try {
    return await init(flags, io, dbt, render, ask);
  } finally {
    ask?.close();
  }
}

async function init(flags: InitFlags, io: InitIO, dbt: DbtProject, render: RenderOptions, ask: Prompter | undefined): Promise<number> {
  const out: string[] = [];
  const manifestPath = join(dbt.targetPath, 'manifest.json');
  let manifest: Manifest | undefined;
  try {
    manifest = await readManifest(manifestPath, relative(dbt.dir, manifestPath));
  } catch (error) {
    io.log.warn(`${errorMessage(error).split('\n')[0]} (the sample meta.activation needs the model list)`);
  }
  const warehouse = manifest?.adapterType ?? (await profileType(flags, dbt, io, render));

  // activate.yml
  const configPath = join(dbt.dir, 'activate.yml');
  const configShown = relative(io.cwd, configPath) || 'activate.yml';
  let destinationType = destinationTypeOf(flags.destinationType ?? 'webhook');
  let destinationName = flags.destination;
  let write = !existsSync(configPath) || flags.force === true;
  if (!write && ask) write = (await ask.question(`${configShown} exists. Replace it? [y/N]`, 'n')).toLowerCase().startsWith('y');
  if (write) {
    if (ask && flags.destinationType === undefined) {
      destinationType = destinationTypeOf(await ask.question(`Destination type (${INIT_DESTINATION_TYPES.join(', ')})`, destinationType));
    }
    destinationName ??= DEFAULT_DESTINATION_NAMES[destinationType];
    if (!IDENTIFIER.test(destinationName)) {
      throw new ConfigError(`--destination: "${destinationName}" must be letters, digits and underscores (a key of activate.yml destinations:)`);
    }
    await writeFile(configPath, activateYmlTemplate({ warehouse, destinationType, destinationName }), 'utf8');
    out.push(`Wrote ${configShown}: a ${destinationType} destination "${destinationName}"; sync state in the schema "activate" of ${warehouse ? `your ${warehouse} warehouse` : 'your warehouse'}.`);
  } else {
    const existing = await existingDestination(configPath, flags.destination);
    destinationName = existing?.name ?? destinationName ?? DEFAULT_DESTINATION_NAMES[destinationType];
    if (existing?.type && (INIT_DESTINATION_TYPES as readonly string[]).includes(existing.type)) destinationType = existing.type as InitDestinationType;
    out.push(`Kept ${configShown} (it exists; --force replaces it).`);
  }

  // A sample meta.activation for one model.
  const models = (manifest?.models ?? []).filter((m) => m.packageName === dbt.name);
  let model: ModelNode | undefined;
  if (flags.model !== undefined) {
    model = findModel(models, flags.model, manifest !== undefined);
  } else if (ask && models.length > 0) {
    model = await chooseModel(ask, models, io);
  }
  const envVars = write ? requiredEnvVars(destinationType, destinationName) : [];
  if (!model) {
    if (models.length > 0) {
      out.push(`No model chosen: \`activate init --model <name>\` adds a sample meta.activation to one (e.g. ${models.slice(0, 3).map((m) => m.name).join(', ')}).`);
    }
    out.push('', ...nextSteps(envVars, false));
    io.stdout(`${out.join('\n')}\n`);
    return EXIT_OK;
  }

  const columns = await modelColumns(model, flags, dbt, io, render);
  const primaryKey = flags.primaryKey ? split(flags.primaryKey) : guessKey(model.name, columns);
  const keyDefault = primaryKey.join(', ');
  const key = ask && !flags.primaryKey ? split(await ask.question('Primary key column(s)', keyDefault)) : primaryKey;
  const others = columns.filter((c) => !key.some((k) => k.toLowerCase() === c.toLowerCase())).slice(0, MAX_DEFAULT_FIELDS);
  const fields = flags.fields ? split(flags.fields) : ask ? split(await ask.question('Columns to send (comma-separated)', others.join(', '))) : others;
  for (const column of [...key, ...fields]) {
    if (columns.length > 0 && !columns.some((c) => c.toLowerCase() === column.toLowerCase())) {
      throw new ConfigError(`"${column}" is not a column of ${model.name}${didYouMean(column, columns)}; columns: ${columns.join(', ')}`);
    }
  }
  if (key.length === 0) throw new ConfigError(`name the primary key of ${model.name} with --primary-key <column>`);
  const block = activationTemplate({ model: model.name, destinationType, destinationName, primaryKey: key, fields });
  const added = await addActivation(dbt.dir, model, block);
  const syncId = `${model.name}__${destinationName}`;
  if (added.status === 'exists' || added.status === 'not-found') {
    const why = added.status === 'exists' ? `already has a meta.activation in ${added.file}; left as it is` : `has no entry in ${added.file} that init can edit`;
    out.push(`${model.name} ${why}. This is the block init would have added under config: meta: of the model:`, '', indentBlock(block));
  } else {
    out.push(`${added.status === 'created' ? 'Created' : 'Updated'} ${added.file}: meta.activation for ${model.name} (sync ${syncId}).`);
    if (columns.length === 0) out.push(`Columns of ${model.name} could not be read: edit primary_key and fields there.`);
  }
  out.push('', ...nextSteps(envVars, true));
  io.stdout(`${out.join('\n')}\n`);
  return EXIT_OK;
}

function nextSteps(envVars: readonly string[], modelDone: boolean): string[] {
  const steps: [string, string][] = [
    ...envVars.map((v): [string, string] => [`export ${v}=...`, `activate.yml reads it with env_var('${v}')`]),
    modelDone ? ['dbt parse', 'puts meta.activation into target/manifest.json'] : ["add meta.activation to a model's YAML", 'see docs/configuration.md; then dbt parse'],
    ['activate validate', 'checks activate.yml, the model and its columns'],
    ['activate plan', 'what would be sent; sends nothing'],
    ['activate run', 'sends it'],
  ];
  const width = Math.max(...steps.map(([c]) => c.length)) + 2;
  return ['Next:', ...steps.map(([command, why], i) => `  ${i + 1}. ${command.padEnd(width)}# ${why}`)];
}

function indentBlock(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

function split(list: string): string[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function destinationTypeOf(value: string): InitDestinationType {
  const type = value.trim().toLowerCase();
  if ((INIT_DESTINATION_TYPES as readonly string[]).includes(type)) return type as InitDestinationType;
  throw new ConfigError(
    `--destination-type: "${value}" is not a destination type init knows${didYouMean(type, INIT_DESTINATION_TYPES)}; use one of ${INIT_DESTINATION_TYPES.join(', ')}`,
  );
}

function findModel(models: readonly ModelNode[], name: string, haveManifest: boolean): ModelNode {
  if (!haveManifest) throw new ConfigError(`--model ${name}: target/manifest.json is needed to find the model; run \`dbt parse\` first`);
  const model = models.find((m) => m.name === name) ?? models.find((m) => m.name.toLowerCase() === name.toLowerCase());
  if (model) return model;
  throw new ConfigError(`--model: no model "${name}" in this project${didYouMean(name, models.map((m) => m.name))}`);
}

async function chooseModel(ask: Prompter, models: readonly ModelNode[], io: InitIO): Promise<ModelNode | undefined> {
  const shown = models.slice(0, 40);
  io.stderr(`Models:\n${shown.map((m, i) => `  ${String(i + 1).padStart(2)}. ${m.name}`).join('\n')}${models.length > shown.length ? `\n  ... ${models.length - shown.length} more (type a name)` : ''}\n`);
  for (;;) {
    const answer = await ask.question('Model to add a sample meta.activation to (number or name; empty to skip)', '');
    if (answer === '') return undefined;
    const n = Number(answer);
    const model = Number.isInteger(n) && n >= 1 && n <= shown.length ? shown[n - 1] : models.find((m) => m.name === answer);
    if (model) return model;
    io.stderr(`No model "${answer}"${didYouMean(answer, models.map((m) => m.name))}.\n`);
  }
}

/** The profile's warehouse type, when the profile can be read (unset env vars are no reason to stop). */
async function profileType(flags: InitFlags, dbt: DbtProject, io: InitIO, render: RenderOptions): Promise<string | undefined> {
  try {
    const target = await resolveProfileTarget({
      profilesDir: flags.profilesDir,
      profile: flags.profile,
      target: flags.target,
      projectDir: dbt.dir,
      projectProfile: dbt.profile,
      cwd: io.cwd,
      env: io.env,
      render,
    });
    return typeof target.output.type === 'string' ? target.output.type : undefined;
  } catch (error) {
    io.log.debug(`init: the dbt profile cannot be read: ${errorMessage(error)}`);
    return undefined;
  }
}

/**
 * The model's columns: from the warehouse (a zero-row query), else those its YAML documents.
 * Empty when neither knows.
 */
async function modelColumns(model: ModelNode, flags: InitFlags, dbt: DbtProject, io: InitIO, render: RenderOptions): Promise<string[]> {
  try {
    const target = await resolveProfileTarget({
      profilesDir: flags.profilesDir,
      profile: flags.profile,
      target: flags.target,
      projectDir: dbt.dir,
      projectProfile: dbt.profile,
      cwd: io.cwd,
      env: io.env,
      render,
    });
    const warehouse = await openWarehouse(target, io.cwd);
    try {
      const connection = await warehouse.connect();
      try {
        return await connection.describe(warehouse.dialect.columnsProbe(warehouse.dialect.modelRelation(model)));
      } finally {
        await connection.close();
      }
    } finally {
      await warehouse.close();
    }
  } catch (error) {
    io.log.info(`Columns of ${model.name} from its YAML (the warehouse could not be asked: ${errorMessage(error).split('\n')[0]})`);
    return [...model.columns];
  }
}

/** `id`, `<model>_id` (singular too), the first `*_id`, else the first column. */
export function guessKey(model: string, columns: readonly string[]): string[] {
  const lower = columns.map((c) => c.toLowerCase());
  const singular = model.replace(/s$/, '');
  const parts = model.split('_');
  const candidates = ['id', `${model}_id`, `${singular}_id`, `${parts.at(-1)?.replace(/s$/, '')}_id`];
  for (const c of candidates) {
    const i = lower.indexOf(c);
    if (i >= 0) return [columns[i]!];
  }
  const anyId = columns.find((c) => /(^|_)id$/i.test(c));
  if (anyId) return [anyId];
  return columns.length > 0 ? [columns[0]!] : [];
}

async function existingDestination(path: string, wanted: string | undefined): Promise<{ name: string; type: string | undefined } | undefined> {
  try {
    const data = parseDocument(await readFile(path, 'utf8')).toJS() as { destinations?: Record<string, { type?: unknown }> } | null;
    const entries = Object.entries(data?.destinations ?? {});
    const found = (wanted ? entries.find(([name]) => name === wanted) : undefined) ?? entries[0];
    return found ? { name: found[0], type: typeof found[1]?.type === 'string' ? found[1].type : undefined } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Puts the block under `config.meta` of the model's entry in its YAML file by inserting lines of
 * text, so the rest of the file stays byte for byte as it was (comments, folding, quoting);
 * creates `<model>.yml` beside the SQL file when no YAML describes the model.
 */
async function addActivation(
  projectDir: string,
  model: ModelNode,
  block: string,
): Promise<{ file: string; status: 'added' | 'created' | 'exists' | 'not-found' }> {
  const blockLines = block.trimEnd().split('\n');
  if (!model.yamlPath) {
    const file = join(dirname(model.sqlPath ?? `models/${model.name}.sql`), `${model.name}.yml`);
    const path = join(projectDir, file);
    if (existsSync(path)) return { file, status: 'exists' };
    const text = ['version: 2', '', 'models:', `  - name: ${model.name}`, '    config:', '      meta:', ...blockLines.map((l) => `        ${l}`), ''].join('\n');
    await writeFile(path, text, 'utf8');
    return { file, status: 'created' };
  }
  const file = model.yamlPath;
  const path = join(projectDir, file);
  const text = await readFile(path, 'utf8');
  const doc = parseDocument(text);
  const index = modelIndex(doc, model.name);
  if (index === undefined) return { file, status: 'not-found' };
  const has = (p: (string | number)[]) => doc.hasIn(['models', index, ...p]);
  if (has(['config', 'meta', 'activation']) || has(['meta', 'activation'])) return { file, status: 'exists' };
  const edited = insertUnderConfigMeta(text, doc, index, blockLines);
  if (edited === undefined) return { file, status: 'not-found' };
  // The edit must add the activation and change nothing else.
  const after = parseDocument(edited);
  const expected = doc.toJS() as { models: Record<string, unknown>[] };
  const activation = (parseDocument(block).toJS() as { activation: unknown }).activation;
  const entry = expected.models[index] as { config?: { meta?: Record<string, unknown> } };
  entry.config = { ...entry.config, meta: { ...entry.config?.meta, activation } };
  if (after.errors.length > 0 || JSON.stringify(after.toJS()) !== JSON.stringify(expected)) return { file, status: 'not-found' };
  await writeFile(path, edited, 'utf8');
  return { file, status: 'added' };
}

/** The text with `config:` / `meta:` (as far as missing) and the block appended to the model's block mapping. */
function insertUnderConfigMeta(text: string, doc: Document, index: number, blockLines: readonly string[]): string | undefined {
  const models = doc.get('models', true);
  if (!isSeq(models)) return undefined;
  let map: unknown = models.items[index];
  const missing: string[] = [];
  for (const key of ['config', 'meta']) {
    if (!isMap(map) || map.flow) return undefined;
    const child = map.get(key, true);
    if (child === undefined) {
      missing.push(key);
      continue;
    }
    if (missing.length > 0) return undefined;
    map = child;
  }
  if (!isMap(map) || map.flow || map.items.length === 0 || !map.range) return undefined;
  const firstKey = map.items[0]!.key as Node | null;
  if (!firstKey?.range) return undefined;
  const lineStart = text.lastIndexOf('\n', firstKey.range[0] - 1) + 1;
  const indent = firstKey.range[0] - lineStart;
  const lines = [
    ...missing.map((key, i) => `${' '.repeat(indent + 2 * i)}${key}:`),
    ...blockLines.map((l) => `${' '.repeat(indent + 2 * missing.length)}${l}`),
  ];
  const at = map.range[1];
  const before = text.slice(0, at);
  const prefix = before.endsWith('\n') ? '' : '\n';
  return `${before}${prefix}${lines.join('\n')}\n${text.slice(at)}`;
}

function modelIndex(doc: Document, name: string): number | undefined {
  const models = doc.get('models', true);
  if (!isSeq(models)) return undefined;
  const i = models.items.findIndex((item) => isMap(item) && item.get('name') === name);
  return i >= 0 ? i : undefined;
}

/** Questions on stderr, answers from stdin, one line each. */
class Prompter {
  readonly #rl;
  readonly #lines: AsyncIterator<string>;

  constructor(private readonly io: InitIO) {
    this.#rl = createInterface({ input: io.stdin!, terminal: false });
    this.#lines = this.#rl[Symbol.asyncIterator]();
  }

  async question(text: string, fallback: string): Promise<string> {
    this.io.stderr(`${text}${fallback ? ` [${fallback}]` : ''}: `);
    const next = await this.#lines.next();
    const answer = next.done ? '' : next.value.trim();
    return answer === '' ? fallback : answer;
  }

  close(): void {
    this.#rl.close();
  }
}
