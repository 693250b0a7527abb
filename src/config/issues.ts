import type { z } from 'zod';
import { type Document, LineCounter, isMap, isNode, isScalar } from 'yaml';
import { didYouMean } from '../suggest.js';

export type IssuePath = readonly PropertyKey[];

/** `a.b[0].c` from a zod / YAML path. */
export function formatPath(path: IssuePath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** Where a path points inside a parsed YAML file, for "line L, column C" in messages. */
export interface YamlSource {
  readonly doc: Document;
  readonly lines: LineCounter;
  /** Path of the YAML node that the issue paths are relative to. */
  readonly base?: IssuePath;
}

export function locate(source: YamlSource | undefined, path: IssuePath, options: { key?: boolean } = {}): string {
  if (!source) return '';
  const full = [...(source.base ?? []), ...path];
  if (options.key && full.length > 0) {
    // Where the key itself is written (an unknown key has no value worth pointing at).
    const parent = source.doc.getIn(full.slice(0, -1) as unknown[], true);
    const last = full.at(-1);
    if (isMap(parent)) {
      const pair = parent.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === last);
      const range = isNode(pair?.key) ? pair.key.range : undefined;
      if (range) {
        const { line, col } = source.lines.linePos(range[0]);
        return ` (line ${line}, column ${col})`;
      }
    }
  }
  // Walk up until a node with a position exists (a missing key points at its parent).
  for (let depth = full.length; depth >= 0; depth--) {
    const node = source.doc.getIn(full.slice(0, depth) as unknown[], true);
    if (isNode(node) && node.range) {
      const { line, col } = source.lines.linePos(node.range[0]);
      return ` (line ${line}, column ${col})`;
    }
  }
  return '';
}

/**
 * Every zod issue as one line, `file: path.to.key: message`, so a user sees all problems at
 * once. `prefix` is prepended to the path (e.g. the model a meta.activation belongs to).
 */
export function formatZodIssues(
  error: z.ZodError,
  file: string,
  options: {
    prefix?: string;
    source?: YamlSource;
    pathPrefix?: IssuePath;
    /** The schema that failed: an unknown key gets a "did you mean" among the keys it knows. */
    schema?: z.ZodType;
    /** More keys accepted at the top of `schema` (read by someone else before it). */
    extraKeys?: readonly string[];
    /** What was parsed: a value missing at an issue's path is reported as "is required". */
    input?: unknown;
  } = {},
): string[] {
  return error.issues.map((issue) => {
    const path = [...(options.pathPrefix ?? []), ...issue.path];
    const where = [options.prefix, formatPath(path)].filter(Boolean).join(': ');
    const known = () => [...knownKeysAt(options.schema, issue.path), ...(issue.path.length === 0 ? (options.extraKeys ?? []) : [])];
    const missing = options.input !== undefined && issue.path.length > 0 && valueAt(options.input, issue.path) === undefined;
    const message = missing && (issue.code === 'invalid_union' || issue.code === 'invalid_type') ? 'is required' : describeIssue(issue, known);
    const at =
      issue.code === 'unrecognized_keys' && issue.keys.length === 1
        ? locate(options.source, [...issue.path, issue.keys[0]!], { key: true })
        : locate(options.source, issue.path);
    return `${file}: ${where ? `${where}: ` : ''}${message}${at}`;
  });
}

function valueAt(value: unknown, path: IssuePath): unknown {
  let at = value;
  for (const part of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<PropertyKey, unknown>)[part as PropertyKey];
  }
  return at;
}

interface SchemaDef {
  readonly type?: string;
  readonly shape?: Record<string, { _zod: { def: SchemaDef } }>;
  readonly innerType?: { _zod: { def: SchemaDef } };
  readonly in?: { _zod: { def: SchemaDef } };
  readonly valueType?: { _zod: { def: SchemaDef } };
  readonly element?: { _zod: { def: SchemaDef } };
  readonly options?: readonly { _zod: { def: SchemaDef } }[];
  readonly left?: { _zod: { def: SchemaDef } };
  readonly right?: { _zod: { def: SchemaDef } };
}

/** The keys an object schema accepts at `path` (walking optional, default, pipe, record, array, union). */
export function knownKeysAt(schema: z.ZodType | undefined, path: IssuePath): string[] {
  if (!schema) return [];
  const defOf = (s: { _zod: { def: SchemaDef } } | undefined) => s?._zod.def;
  const candidates = (def: SchemaDef | undefined): SchemaDef[] => {
    if (!def) return [];
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
      case 'catch':
        return candidates(defOf(def.innerType));
      case 'pipe':
        return candidates(defOf(def.in));
      case 'union':
        return (def.options ?? []).flatMap((o) => candidates(defOf(o)));
      case 'intersection':
        return [...candidates(defOf(def.left)), ...candidates(defOf(def.right))];
      default:
        return [def];
    }
  };
  let level = candidates(defOf(schema as unknown as { _zod: { def: SchemaDef } }));
  for (const part of path) {
    level = level.flatMap((def) => {
      if (def.type === 'object') return typeof part === 'string' && def.shape?.[part] ? candidates(defOf(def.shape[part])) : [];
      if (def.type === 'record') return candidates(defOf(def.valueType));
      if (def.type === 'array') return typeof part === 'number' ? candidates(defOf(def.element)) : [];
      return [];
    });
  }
  return [...new Set(level.flatMap((def) => (def.type === 'object' ? Object.keys(def.shape ?? {}) : [])))];
}

function describeIssue(issue: z.core.$ZodIssue, known: () => string[] = () => []): string {
  if (issue.code === 'unrecognized_keys') {
    const keys = known();
    const suggestion = issue.keys.length === 1 ? didYouMean(issue.keys[0]!, keys) : '';
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}${suggestion}`;
  }
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) return 'is required';
  return issue.message;
}
