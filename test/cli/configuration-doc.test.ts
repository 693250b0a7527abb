import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { destinationTypes } from '../../destinations/registry.js';
import { activateFileSchema, ENGINE_DESTINATION_KEYS, rateLimitSchema, retrySchema } from '../../src/config/activate-config.js';
import { activationSchema } from '../../src/config/sync-spec.js';
import { repoRoot } from '../support/example-project.js';

/**
 * docs/configuration.md cannot drift from the zod schemas activate parses with: every key they
 * accept is documented (and every enum value), and every key the reference tables list exists.
 */
const doc = readFileSync(join(repoRoot, 'docs', 'configuration.md'), 'utf8');

interface Def {
  type?: string;
  shape?: Record<string, { _zod: { def: Def } }>;
  innerType?: { _zod: { def: Def } };
  in?: { _zod: { def: Def } };
  options?: { _zod: { def: Def } }[];
  entries?: Record<string, string>;
  element?: { _zod: { def: Def } };
}

interface Key {
  readonly path: string;
  readonly values: readonly string[];
  /** An object whose own keys are listed (so the key itself needs no row). */
  readonly parent: boolean;
}

/** Every key (dotted path) of an object schema, with the values of enums, descending into nested objects (not records). */
function keysOf(schema: z.ZodType, prefix = ''): Key[] {
  const unwrap = (def: Def): Def[] => {
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
        return unwrap(def.innerType!._zod.def);
      case 'pipe':
        return unwrap(def.in!._zod.def);
      case 'union':
        return def.options!.flatMap((o) => unwrap(o._zod.def));
      default:
        return [def];
    }
  };
  const out: Key[] = [];
  const walk = (def: Def, at: string) => {
    for (const [key, child] of Object.entries(def.shape ?? {})) {
      const path = at ? `${at}.${key}` : key;
      const variants = unwrap(child._zod.def);
      const values = variants.flatMap((v) => (v.type === 'enum' ? Object.values(v.entries ?? {}) : []));
      const parent = variants.some((v) => v.type === 'object');
      out.push({ path, values, parent });
      for (const v of variants) if (v.type === 'object') walk(v, path);
    }
  };
  for (const def of unwrap((schema as unknown as { _zod: { def: Def } })._zod.def)) if (def.type === 'object') walk(def, prefix);
  return out;
}

/** The rows' first cells (`key`) of the tables in the part of the doc from `from` to `to`. */
function tableKeys(from: string, to: string | undefined): string[] {
  const start = doc.indexOf(from);
  const end = to ? doc.indexOf(to, start) : doc.length;
  expect(start, from).toBeGreaterThanOrEqual(0);
  return [...doc.slice(start, end).matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!);
}

const mentioned = (text: string, word: string) => text.includes(`\`${word}\``);

describe('docs/configuration.md against the schemas', () => {
  const activation = keysOf(activationSchema);
  const file = keysOf(activateFileSchema);
  const common: Key[] = [{ path: 'type', values: [], parent: false }, ...keysOf(retrySchema, 'retry'), ...keysOf(rateLimitSchema, 'rate_limit')];

  it('documents every key of meta.activation and activate.yml, and every value of their enums', () => {
    const missing: string[] = [];
    for (const key of [...activation, ...file, ...common]) {
      if (!key.parent && !mentioned(doc, key.path)) missing.push(key.path);
      for (const value of key.values) if (!mentioned(doc, value)) missing.push(`${key.path}: ${value}`);
    }
    expect(missing).toEqual([]);
    // The nested keys really are walked (a broken walker would pass the check above vacuously).
    expect(activation.map((k) => k.path)).toEqual(expect.arrayContaining(['safety.max_deletes', 'owner.email', 'on_delete']));
    expect(activation.find((k) => k.path === 'mode')?.values).toEqual(['upsert', 'update', 'create', 'mirror', 'audience']);
    expect(file.map((k) => k.path)).toEqual(expect.arrayContaining(['state.schema', 'state.audit', 'defaults.owner.name']));
    expect(ENGINE_DESTINATION_KEYS.every((k) => common.some((c) => c.path.startsWith(k)))).toBe(true);
  });

  it('lists no key the schemas do not have', () => {
    const activationKeys = new Set(activation.map((k) => k.path));
    expect(tableKeys('## `meta.activation`', '## `activate.yml`').filter((k) => !activationKeys.has(k))).toEqual([]);
    const fileKeys = new Set([...file.map((k) => k.path), ...common.map((k) => k.path)]);
    const listed = tableKeys('## `activate.yml`', '### `type: webhook`');
    expect(listed.filter((k) => !fileKeys.has(k))).toEqual([]);
    expect(listed.length).toBeGreaterThan(10);
  });

  it('documents every key of every destination, here or in docs/destinations/<type>.md', () => {
    const missing: string[] = [];
    for (const [type, definition] of Object.entries(destinationTypes)) {
      const page = join(repoRoot, 'docs', 'destinations', `${type}.md`);
      const here = doc.includes(`### \`type: ${type}\``);
      if (!here && !existsSync(page)) missing.push(`type ${type}: neither docs/destinations/${type}.md nor a section here`);
      const text = here ? doc : existsSync(page) ? readFileSync(page, 'utf8') : '';
      for (const key of [...keysOf(definition.config), ...keysOf(definition.options)]) {
        const top = key.path.split('.')[0]!;
        if (top !== 'type' && !mentioned(text, top)) missing.push(`${type}: ${top}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('the webhook tables list only keys the webhook has', () => {
    const webhook = destinationTypes.webhook!;
    const keys = new Set([...keysOf(webhook.config), ...keysOf(webhook.options)].map((k) => k.path.split('.')[0]));
    expect(tableKeys('### `type: webhook`', '### Other destinations').filter((k) => !keys.has(k))).toEqual([]);
  });
});
