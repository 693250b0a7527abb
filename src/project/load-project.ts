import { join, relative, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { readActivateConfig, type ActivateConfig } from '../config/activate-config.js';
import type { RenderOptions } from '../config/render.js';
import { syncSpecsOfModel, type SyncSpec } from '../config/sync-spec.js';
import { readManifest, type Manifest, type ModelNode } from '../dbt/manifest.js';
import { isMap, isSeq } from 'yaml';
import type { YamlSource } from '../config/issues.js';
import { readYamlFile } from '../config/yaml-file.js';
import { findProjectDir, readDbtProject, type DbtProject } from '../dbt/project.js';
import { resolveProfileTarget, type ProfileTarget } from '../dbt/profiles.js';
import { Redactor } from '../secrets.js';

export interface ProjectOptions {
  readonly projectDir?: string;
  readonly profilesDir?: string;
  readonly profile?: string;
  readonly target?: string;
  readonly targetPath?: string;
  /** activate.yml path; default beside dbt_project.yml. */
  readonly config?: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface Project {
  readonly dbt: DbtProject;
  readonly manifest: Manifest;
  readonly config: ActivateConfig;
  readonly syncs: readonly SyncSpec[];
  readonly redactor: Redactor;
  readonly options: ProjectOptions;
  /** Renders templates with the same environment and secret tracking as the project. */
  readonly render: RenderOptions;
}

/** Reads dbt_project.yml, activate.yml and manifest.json; every problem is reported at once. */
export async function loadProject(options: ProjectOptions = {}): Promise<Project> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const redactor = new Redactor();
  const render: RenderOptions = { env, onEnvValue: (v) => redactor.add(v) };

  const dir = findProjectDir(options.projectDir, env, cwd);
  const dbt = await readDbtProject(dir, { targetPath: options.targetPath, env, render });
  const configPath = options.config ? resolve(cwd, options.config) : join(dir, 'activate.yml');
  const config = await readActivateConfig(configPath, displayPath(dir, configPath), {
    render,
    redactor,
    explicit: options.config !== undefined,
  });
  const manifestPath = join(dbt.targetPath, 'manifest.json');
  const manifest = await readManifest(manifestPath, displayPath(dir, manifestPath));

  let problems: string[] = [];
  let syncs = manifest.models.flatMap((model) => syncSpecsOfModel(model, config, problems));
  if (problems.length > 0) {
    // Again with each model's YAML at hand, so that every problem says where it is (line, column).
    const located: string[] = [];
    const again: SyncSpec[] = [];
    for (const model of manifest.models) {
      if (model.meta.activation === undefined || model.meta.activation === null) continue;
      again.push(...syncSpecsOfModel(model, config, located, await activationSource(dir, model)));
    }
    problems = located;
    syncs = again;
  }
  const firstOrigin = new Map<string, string>();
  for (const sync of syncs) {
    const earlier = firstOrigin.get(sync.id);
    if (earlier) {
      problems.push(`${sync.origin}: sync id "${sync.id}" is already used by ${earlier}; give one of them a name:`);
    } else {
      firstOrigin.set(sync.id, sync.origin);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { dbt, manifest, config, syncs, redactor, options: { ...options, cwd, env }, render };
}

export async function resolveProfile(project: Project): Promise<ProfileTarget> {
  return resolveProfileTarget({
    profilesDir: project.options.profilesDir,
    profile: project.options.profile,
    target: project.options.target,
    projectDir: project.dbt.dir,
    projectProfile: project.dbt.profile,
    cwd: project.options.cwd ?? process.cwd(),
    env: project.options.env ?? process.env,
    render: project.render,
  });
}

/** The model's YAML file, with `base` at its `activation:` (under `config.meta` or `meta`), when it is there. */
async function activationSource(projectDir: string, model: ModelNode): Promise<YamlSource | undefined> {
  if (!model.yamlPath) return undefined;
  try {
    const file = await readYamlFile(join(projectDir, model.yamlPath), model.yamlPath);
    if (!file) return undefined;
    const models = file.source.doc.get('models', true);
    if (!isSeq(models)) return undefined;
    const index = models.items.findIndex((item) => isMap(item) && item.get('name') === model.name);
    if (index < 0) return undefined;
    for (const path of [['config', 'meta', 'activation'], ['meta', 'activation']]) {
      const base = ['models', index, ...path];
      if (file.source.doc.hasIn(base)) return { ...file.source, base };
    }
    return undefined;
  } catch {
    return undefined; // a YAML file dbt could parse but we cannot: no positions, same messages
  }
}

function displayPath(projectDir: string, path: string): string {
  const rel = relative(projectDir, path);
  return rel.startsWith('..') ? path : rel;
}
