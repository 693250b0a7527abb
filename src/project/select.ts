import type { SyncSpec } from '../config/sync-spec.js';
import type { Manifest, ManifestNode, ManifestResource } from '../dbt/manifest.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import { didYouMean } from '../suggest.js';
import { fnmatch, globMatch, hasWildcard, segments } from './fnmatch.js';

/**
 * `--select` / `--exclude` with dbt's node selection grammar, over the manifest's graph.
 *
 * One criterion is `[@][N+][method[.arg...]:]value[+[N]]` (dbt-core graph/selector_spec.py).
 * Space-separated criteria and repeated flags are a union, commas within one term an intersection,
 * `--exclude` (same grammar) is subtracted last; no `--select` means every sync.
 *
 * Syncs join dbt's graph as leaves under their model, like exposures: a sync is selected when
 * its model is in the selected node set, or when the sync itself is (a bare name or `fqn:`
 * value equal to a sync id, wildcards allowed). So `crm_contacts` picks one sync, `customers`
 * all syncs of that model, `+crm_contacts` that sync and every sync of its model and of the
 * models upstream, `--exclude crm_contacts` removes only that sync.
 */
export function selectSyncs(
  syncs: readonly SyncSpec[],
  manifest: Manifest,
  select: readonly string[] | undefined,
  exclude: readonly string[] | undefined,
  log: Logger,
): SyncSpec[] {
  const selectTerms = terms(select);
  const excludeTerms = terms(exclude);
  if (selectTerms.length === 0 && excludeTerms.length === 0) return [...syncs];
  // Parse everything first: a bad selector is bad input (exit 2) before anything else happens.
  const selectSpecs = selectTerms.map((t) => parseTerm(t, '--select'));
  const excludeSpecs = excludeTerms.map((t) => parseTerm(t, '--exclude'));

  const graph = new SelectionGraph(syncs, manifest);
  const chosen = selectSpecs.length > 0 ? graph.union(selectSpecs, log) : new Set(graph.syncKeys);
  const removed = graph.union(excludeSpecs, log);
  const picked = syncs.filter((_, i) => {
    const key = graph.syncKeys[i]!;
    return chosen.has(key) && !removed.has(key);
  });
  log.debug(`Selection picks ${picked.length} of ${syncs.length} syncs`, {
    select: selectTerms,
    exclude: excludeTerms,
    syncs: picked.map((s) => s.id),
  });
  return picked;
}

/** Methods activate evaluates, as dbt does. */
export const SELECTOR_METHODS = [
  'fqn',
  'tag',
  'path',
  'file',
  'package',
  'config',
  'resource_type',
  'source',
  'exposure',
  'group',
  'access',
] as const;

/** dbt methods that need state, results or resources activate does not read. */
const DBT_ONLY_METHODS = [
  'test_name',
  'test_type',
  'state',
  'result',
  'source_status',
  'metric',
  'semantic_model',
  'saved_query',
  'unit_test',
  'version',
  'wildcard',
];

export interface SelectionCriterion {
  readonly raw: string;
  readonly method: string;
  /** `config.meta.pii` -> [`meta`, `pii`]. */
  readonly args: readonly string[];
  readonly value: string;
  /** Whether the method was written or implied (bare names are `fqn`, `path` or `file`). */
  readonly explicitMethod: boolean;
  readonly childrensParents: boolean;
  readonly parents: boolean;
  readonly parentsDepth: number | undefined;
  readonly children: boolean;
  readonly childrenDepth: number | undefined;
}

/** One space-separated term: criteria joined by commas (an intersection). */
interface Term {
  readonly raw: string;
  readonly criteria: readonly SelectionCriterion[];
}

const CRITERION = /^(?<at>@)?(?:(?<parentsDepth>\d*)(?<parents>\+))?(?:(?<method>[\w.]+):)?(?<value>.*?)(?:(?<children>\+)(?<childrenDepth>\d*))?$/s;

/** Parses one criterion as dbt does; bad input is a ConfigError naming the flag. */
export function parseCriterion(raw: string, flag = '--select'): SelectionCriterion {
  const match = CRITERION.exec(raw);
  const g = match?.groups;
  if (!g) throw new ConfigError(`${flag}: "${raw}" is not a valid selector`);
  const value = g.value ?? '';
  if (value === '') throw new ConfigError(`${flag}: "${raw}" has no value to select (e.g. tag:nightly, +orders)`);
  if (g.at && g.children) {
    throw new ConfigError(`${flag}: "${raw}": the "@" prefix and a "+" suffix cannot be combined (@ already includes every descendant)`);
  }
  let method: string;
  let args: string[] = [];
  if (g.method !== undefined) {
    [method, ...args] = g.method.split('.') as [string, ...string[]];
    checkMethod(method, raw, flag);
    if (method === 'config' && args.length === 0) {
      throw new ConfigError(`${flag}: "${raw}": name the config key, e.g. config.materialized:table or config.meta.owner:growth`);
    }
  } else {
    method = defaultMethod(value);
  }
  checkValue(method, value, raw, flag);
  const depth = (digits: string | undefined) => (digits ? Number(digits) : undefined);
  return {
    raw,
    method,
    args,
    value,
    explicitMethod: g.method !== undefined,
    childrensParents: g.at !== undefined,
    parents: g.parents !== undefined,
    parentsDepth: depth(g.parentsDepth),
    children: g.children !== undefined,
    childrenDepth: depth(g.childrenDepth),
  };
}

function checkMethod(method: string, raw: string, flag: string): void {
  if ((SELECTOR_METHODS as readonly string[]).includes(method)) return;
  const supported = `activate supports ${SELECTOR_METHODS.map((m) => `${m}:`).join(', ')}`;
  if (DBT_ONLY_METHODS.includes(method)) {
    throw new ConfigError(`${flag}: "${raw}": "${method}:" is a dbt selector method activate does not support; ${supported}`);
  }
  const suggestion = didYouMean(method, [...SELECTOR_METHODS, ...DBT_ONLY_METHODS]);
  throw new ConfigError(`${flag}: "${raw}": "${method}" is not a selector method${suggestion}; ${supported}`);
}

const RESOURCE_TYPES = [
  'model', 'seed', 'snapshot', 'test', 'unit_test', 'source', 'exposure', 'analysis', 'operation',
  'sql_operation', 'metric', 'semantic_model', 'saved_query', 'function',
];

/** The value shapes dbt rejects, rejected before anything runs. */
function checkValue(method: string, value: string, raw: string, flag: string): void {
  if (method === 'source' && value.split('.').length > 3) {
    throw new ConfigError(`${flag}: "${raw}": select sources as source:<source>, source:<source>.<table> or source:<package>.<source>.<table>`);
  }
  if (method === 'exposure' && value.split('.').length > 2) {
    throw new ConfigError(`${flag}: "${raw}": select exposures as exposure:<name> or exposure:<package>.<name>`);
  }
  if (method === 'resource_type' && !RESOURCE_TYPES.includes(value)) {
    throw new ConfigError(`${flag}: "${raw}": "${value}" is not a dbt resource type${didYouMean(value, RESOURCE_TYPES)}`);
  }
}

/** dbt: a value with a path separator is a path, one ending in a file extension is a file, else an fqn. */
function defaultMethod(value: string): string {
  if (value.includes('/') || value.includes('\\')) return 'path';
  if (/\.(sql|py|csv)$/i.test(value)) return 'file';
  return 'fqn';
}

function terms(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(/\s+/)).filter(Boolean);
}

function parseTerm(raw: string, flag: string): Term {
  const parts = raw.split(',').filter(Boolean);
  return { raw, criteria: parts.map((p) => parseCriterion(p, flag)) };
}

/** What a selector method sees of a manifest entry, whatever its kind. */
interface Entry {
  readonly id: string;
  readonly kind: 'node' | 'source' | 'exposure';
  readonly resourceType: string;
  readonly name: string;
  readonly packageName: string;
  readonly fqn: readonly string[];
  readonly tags: readonly string[];
  /** `original_file_path`, `/`-separated. */
  readonly file: string | undefined;
  /** The YAML that documents it (patch_path without `package://`), `/`-separated. */
  readonly yaml: string | undefined;
  readonly config: Readonly<Record<string, unknown>> | undefined;
  readonly versioned: boolean;
  readonly raw: ManifestNode | ManifestResource;
}

class SelectionGraph {
  readonly syncKeys: readonly string[];
  private readonly entries: Entry[];
  private readonly byId = new Map<string, Entry>();
  private readonly syncsOfModel = new Map<string, string[]>();
  private readonly modelOfSync = new Map<string, string>();
  private readonly parentMap: Readonly<Record<string, readonly string[]>>;
  private readonly childMap: Readonly<Record<string, readonly string[]>>;

  constructor(
    private readonly syncs: readonly SyncSpec[],
    private readonly manifest: Manifest,
  ) {
    // Syncs are keyed by position: ids are unique in a loaded project, but keys must never collide with dbt ids.
    this.syncKeys = syncs.map((_, i) => `\u0000sync:${i}`);
    syncs.forEach((s, i) => {
      const key = this.syncKeys[i]!;
      this.modelOfSync.set(key, s.model.uniqueId);
      const list = this.syncsOfModel.get(s.model.uniqueId) ?? [];
      list.push(key);
      this.syncsOfModel.set(s.model.uniqueId, list);
    });
    this.entries = [
      ...Object.entries(manifest.nodes).map(([id, n]) => nodeEntry(id, n)),
      ...Object.entries(manifest.sources).map(([id, r]) => resourceEntry(id, r, 'source')),
      ...Object.entries(manifest.exposures).map(([id, r]) => resourceEntry(id, r, 'exposure')),
    ];
    for (const e of this.entries) this.byId.set(e.id, e);
    // dbt writes both maps; a manifest without them (hand-made, or a tool that strips them) falls back to depends_on.
    if (Object.keys(manifest.parentMap).length > 0) {
      this.parentMap = manifest.parentMap;
      this.childMap = manifest.childMap;
    } else {
      [this.parentMap, this.childMap] = mapsFromDependsOn(manifest);
    }
  }

  /** The union of the terms' selections, warning about each term that selects no sync. */
  union(list: readonly Term[], log: Logger): Set<string> {
    const out = new Set<string>();
    for (const term of list) {
      const selected = this.term(term);
      const syncs = [...selected].filter((k) => this.modelOfSync.has(k));
      if (syncs.length === 0) log.warn(this.noMatchMessage(term, selected));
      for (const k of syncs) out.add(k);
    }
    return out;
  }

  private term(term: Term): Set<string> {
    let result: Set<string> | undefined;
    for (const criterion of term.criteria) {
      const selected = this.criterion(criterion);
      result = result === undefined ? selected : new Set([...result].filter((k) => selected.has(k)));
    }
    return result ?? new Set();
  }

  /** Node ids and sync keys one criterion selects, graph operators applied, syncs of selected models added. */
  private criterion(c: SelectionCriterion): Set<string> {
    const base = this.search(c);
    let selected: Set<string>;
    if (c.childrensParents) {
      // @x: x, all its descendants, and all ancestors of those (dbt select_childrens_parents).
      const down = union(base, this.walk(base, 'children', undefined));
      selected = union(down, this.walk(down, 'parents', undefined));
    } else {
      selected = new Set(base);
      if (c.parents) for (const id of this.walk(base, 'parents', c.parentsDepth)) selected.add(id);
      if (c.children) for (const id of this.walk(base, 'children', c.childrenDepth)) selected.add(id);
    }
    for (const id of [...selected]) for (const key of this.syncsOfModel.get(id) ?? []) selected.add(key);
    return selected;
  }

  /** Everything reachable from `start` in `depth` steps or fewer (all when undefined); `start` itself only if reached again. */
  private walk(start: Iterable<string>, direction: 'parents' | 'children', depth: number | undefined): Set<string> {
    const seen = new Set<string>();
    let frontier = [...start];
    for (let step = 0; frontier.length > 0 && (depth === undefined || step < depth); step++) {
      const next: string[] = [];
      for (const id of frontier) {
        for (const n of direction === 'parents' ? this.parentsOf(id) : this.childrenOf(id)) {
          if (!seen.has(n)) {
            seen.add(n);
            next.push(n);
          }
        }
      }
      frontier = next;
    }
    return seen;
  }

  private parentsOf(id: string): readonly string[] {
    const model = this.modelOfSync.get(id);
    return model !== undefined ? [model] : (this.parentMap[id] ?? []);
  }

  private childrenOf(id: string): readonly string[] {
    // A model's syncs are added after the walk (criterion()), so sync keys are never children here.
    return this.childMap[id] ?? [];
  }

  /** The entries (and, for names, syncs) a criterion selects before graph operators. */
  private search(c: SelectionCriterion): Set<string> {
    const out = new Set<string>();
    const add = (predicate: (e: Entry) => boolean, kinds?: readonly Entry['kind'][]) => {
      for (const e of this.entries) if ((!kinds || kinds.includes(e.kind)) && predicate(e)) out.add(e.id);
    };
    const v = c.value;
    switch (c.method) {
      case 'fqn': {
        add((e) => fqnMatches(e.fqn, v, e.versioned), ['node']);
        // activate: a node's unique_id selects it, and sync ids behave like model names.
        if (this.byId.has(v)) out.add(v);
        this.syncs.forEach((s, i) => {
          if (s.id === v || (hasWildcard(v) && fnmatch(s.id, v))) out.add(this.syncKeys[i]!);
        });
        break;
      }
      case 'tag':
        add((e) => e.tags.some((t) => fnmatch(t, v)));
        break;
      case 'path':
        add((e) => pathMatches(e, v));
        break;
      case 'file':
        add((e) => {
          if (e.file === undefined) return false;
          const name = e.file.slice(e.file.lastIndexOf('/') + 1);
          const stem = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : name;
          return fnmatch(name, v) || fnmatch(stem, v);
        });
        break;
      case 'package': {
        // dbt 1.6+: `package:this` is the root project.
        const pattern = v === 'this' && this.manifest.projectName ? this.manifest.projectName : v;
        add((e) => fnmatch(e.packageName, pattern));
        break;
      }
      case 'config':
        add((e) => configMatches(e, c.args, v), ['node', 'source']);
        break;
      case 'resource_type':
        add((e) => e.resourceType === v);
        break;
      case 'group':
        add((e) => e.config?.group === v, ['node']);
        break;
      case 'access':
        add((e) => e.resourceType === 'model' && (e.raw as Record<string, unknown>).access === v, ['node']);
        break;
      case 'source': {
        const parts = v.split('.');
        const [pkg, source, table] = parts.length === 3 ? parts : parts.length === 2 ? ['*', ...parts] : ['*', parts[0]!, '*'];
        add(
          (e) => fnmatch(e.packageName, pkg!) && fnmatch((e.raw as ManifestResource).source_name ?? '', source!) && fnmatch(e.name, table!),
          ['source'],
        );
        break;
      }
      case 'exposure': {
        const parts = v.split('.');
        const [pkg, name] = parts.length === 2 ? parts : ['*', parts[0]!];
        add((e) => fnmatch(e.packageName, pkg!) && fnmatch(e.name, name!), ['exposure']);
        break;
      }
    }
    return out;
  }

  private noMatchMessage(term: Term, selected: ReadonlySet<string>): string {
    const head = `The selection criterion "${term.raw}" does not match any sync`;
    if (selected.size > 0) {
      const n = selected.size;
      return `${head}: the ${n} dbt node${n === 1 ? '' : 's'} it selects ${n === 1 ? 'has' : 'have'} no meta.activation`;
    }
    // Suggest for the first criterion that matches nothing, keeping the rest of the term as written.
    const c = term.criteria.find((x) => this.criterion(x).size === 0);
    if (!c) return head;
    const core = c.explicitMethod ? `${c.method}${c.args.map((a) => `.${a}`).join('')}:${c.value}` : c.value;
    const at = term.raw.indexOf(core);
    if (at < 0) return head;
    const rewrite = (name: string) => term.raw.slice(0, at) + name + term.raw.slice(at + core.length);
    return `${head}${didYouMean(term.raw, [...this.suggestions()].map(rewrite))}`;
  }

  private suggestions(): Set<string> {
    const names = new Set<string>();
    for (const s of this.syncs) {
      names.add(s.id);
      names.add(s.model.name);
      for (const t of s.model.tags) names.add(`tag:${t}`);
      names.add(`package:${s.model.packageName}`);
    }
    return names;
  }
}

function union<T>(a: Iterable<T>, b: Iterable<T>): Set<T> {
  const out = new Set(a);
  for (const x of b) out.add(x);
  return out;
}

function slashes(path: string | null | undefined): string | undefined {
  return path ? path.replace(/\\/g, '/') : undefined;
}

function yamlOf(patchPath: string | null | undefined): string | undefined {
  if (!patchPath) return undefined;
  const at = patchPath.indexOf('://');
  return slashes(at >= 0 ? patchPath.slice(at + 3) : patchPath);
}

function nodeEntry(id: string, n: ManifestNode): Entry {
  const config = n.config as Record<string, unknown> | undefined;
  let effective = config;
  if (n.resource_type === 'model' && (n.meta || config?.meta)) {
    // As ModelNode does: top-level meta under config.meta (config wins); dbt writes both the same.
    effective = { ...config, meta: { ...(n.meta ?? {}), ...((config?.meta as Record<string, unknown> | undefined) ?? {}) } };
  }
  return {
    id,
    kind: 'node',
    resourceType: n.resource_type,
    name: n.name,
    packageName: n.package_name,
    fqn: n.fqn ?? [n.package_name, n.name],
    tags: n.tags ?? [],
    file: slashes(n.original_file_path),
    yaml: yamlOf(n.patch_path),
    config: effective,
    versioned: n.resource_type === 'model' && n.version !== undefined && n.version !== null,
    raw: n,
  };
}

function resourceEntry(id: string, r: ManifestResource, kind: 'source' | 'exposure'): Entry {
  const packageName = r.package_name ?? '';
  const name = r.name ?? id.split('.').pop() ?? id;
  return {
    id,
    kind,
    resourceType: r.resource_type ?? kind,
    name,
    packageName,
    fqn: r.fqn ?? [packageName, name],
    tags: r.tags ?? [],
    file: slashes(r.original_file_path),
    yaml: yamlOf(r.patch_path),
    config: r.config,
    versioned: false,
    raw: r,
  };
}

/** parent_map / child_map rebuilt from every entry's depends_on.nodes. */
function mapsFromDependsOn(manifest: Manifest): [Record<string, string[]>, Record<string, string[]>] {
  const parents: Record<string, string[]> = {};
  const children: Record<string, string[]> = {};
  const all: [string, { depends_on?: { nodes?: readonly string[] | undefined } | undefined }][] = [
    ...Object.entries(manifest.nodes),
    ...Object.entries(manifest.exposures),
    ...Object.entries(manifest.unitTests),
  ];
  for (const [id, entry] of all) {
    const deps = entry.depends_on?.nodes ?? [];
    parents[id] = [...deps];
    for (const d of deps) (children[d] ??= []).push(id);
  }
  return [parents, children];
}

/**
 * dbt's fqn match (graph/selector_methods.py `is_selected_node`, tried with and without the
 * package): the model name; a dotted prefix of the fqn (package, folders); wildcards match the
 * rest of the fqn from the first part that has one. Plus dbt Fusion's shortcut: a pattern
 * without dots also matches the bare name, so `stg_*` finds models in subfolders.
 */
function fqnMatches(fqn: readonly string[], selector: string, versioned: boolean): boolean {
  if (selectedNode(fqn, selector, versioned) || selectedNode(fqn.slice(1), selector, versioned)) return true;
  const leaf = versioned ? fqn[fqn.length - 2] : fqn[fqn.length - 1];
  return !selector.includes('.') && hasWildcard(selector) && leaf !== undefined && fnmatch(leaf, selector);
}

function selectedNode(fqn: readonly string[], selector: string, versioned: boolean): boolean {
  if (fqn.length === 0) return false;
  const parts = selector.split('.');
  if (versioned) {
    if (fqn[fqn.length - 2] === selector) return true;
    if (fqn.slice(-2).join('_') === parts.slice(-2).join('_')) return true;
  } else if (fqn[fqn.length - 1] === selector) {
    return true;
  }
  const flat = fqn.flatMap((segment) => segment.split('.'));
  if (flat.length < parts.length) return false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (hasWildcard(part)) return fnmatch(flat.slice(i).join('.'), parts.slice(i).join('.'));
    if (flat[i] !== part) return false;
  }
  return true;
}

/**
 * dbt's `path:`: the pattern (relative to the project root, glob allowed) names the node's
 * file, its YAML file, or a folder above the file.
 */
function pathMatches(e: Entry, pattern: string): boolean {
  if (e.file !== undefined) {
    if (globMatch(e.file, pattern)) return true;
    const dirs = segments(e.file).slice(0, -1);
    for (let i = dirs.length; i > 0; i--) if (globMatch(dirs.slice(0, i).join('/'), pattern)) return true;
  }
  return e.yaml !== undefined && globMatch(e.yaml, pattern);
}

/**
 * dbt's `config.<key>[.<key>...]:value`: descend config keys; a list matches when it contains
 * the value, anything else when equal to it; `true`/`false` (any case) also match booleans.
 * Values are compared as text, as dbt compares them, so a number in YAML is not matched.
 */
function configMatches(e: Entry, args: readonly string[], selector: string): boolean {
  let value: unknown = e.config;
  for (const key of args) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, key)) return false;
    value = (value as Record<string, unknown>)[key];
  }
  const lower = selector.toLowerCase();
  const caseInsensitive = args.length === 1 && args[0] === 'severity';
  const equal = (v: unknown) =>
    (typeof v === 'string' && (caseInsensitive ? v.toLowerCase() === lower : v === selector)) ||
    (lower === 'true' && v === true) ||
    (lower === 'false' && v === false);
  return Array.isArray(value) ? value.some(equal) : equal(value);
}
