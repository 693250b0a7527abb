import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseActivateConfig } from '../../src/config/activate-config.js';
import { TemplateError, renderDeep, renderString } from '../../src/config/render.js';
import { DEFAULT_MAX_DELETES, mappedColumns, syncSpecsOfModel, type SyncSpec } from '../../src/config/sync-spec.js';
import { parseYamlText } from '../../src/config/yaml-file.js';
import { ConfigError, EXIT_BAD_INPUT } from '../../src/errors.js';
import { loadProject } from '../../src/project/load-project.js';
import { Redactor } from '../../src/secrets.js';
import { exampleProjectDir, makeTempDir } from '../support/fixtures.js';
import { WEBHOOKS_YAML, activateConfig, manifestOf, modelWithActivation } from './helpers.js';

/** Runs `fn`, returns what it threw (fails the test when it throws nothing). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

function configError(fn: () => unknown): ConfigError {
  const error = thrown(fn);
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).exitCode).toBe(EXIT_BAD_INPUT);
  return error as ConfigError;
}

describe('renderString / renderDeep', () => {
  const env = { HOST: 'db.internal', PORT: '5432', FLAG: 'True', OFF: 'no', EMPTY: '' };

  it('renders env_var with and without a default', () => {
    expect(renderString("{{ env_var('HOST') }}", { env })).toBe('db.internal');
    expect(renderString("{{ env_var('NOPE', 'fallback') }}", { env })).toBe('fallback');
    // A set variable beats the default, even when it is empty.
    expect(renderString("{{ env_var('HOST', 'fallback') }}", { env })).toBe('db.internal');
    expect(renderString("{{ env_var('EMPTY', 'fallback') }}", { env })).toBe('');
    expect(renderString("postgres://{{ env_var('HOST') }}:{{ env_var('PORT') }}/db", { env })).toBe(
      'postgres://db.internal:5432/db',
    );
    expect(renderString('{{ env_var("HOST") }}', { env })).toBe('db.internal');
  });

  it('a missing variable without default is a TemplateError naming the variable and the key path', () => {
    const error = thrown(() => renderString("{{ env_var('API_TOKEN') }}", { env }, ['destinations', 'crm', 'token']));
    expect(error).toBeInstanceOf(TemplateError);
    expect((error as TemplateError).message).toContain('API_TOKEN');
    expect((error as TemplateError).message).toMatch(/not set/);
    expect((error as TemplateError).path).toEqual(['destinations', 'crm', 'token']);
  });

  it('as_number and int give numbers, as_bool gives booleans', () => {
    expect(renderString("{{ env_var('PORT') | as_number }}", { env })).toBe(5432);
    expect(renderString("{{ env_var('PORT') | int }}", { env })).toBe(5432);
    expect(renderString("{{ env_var('NOPE', '8') | as_number }}", { env })).toBe(8);
    expect(renderString("{{ env_var('FLAG') | as_bool }}", { env })).toBe(true);
    expect(renderString("{{ env_var('OFF') | as_bool }}", { env })).toBe(false);
    // Without the filter the value stays text, as in dbt.
    expect(renderString("{{ env_var('PORT') }}", { env })).toBe('5432');
    // A filter inside a longer string does not make the whole value a number.
    expect(renderString("port {{ env_var('PORT') | as_number }}", { env })).toBe('port 5432');
  });

  it('as_number on text that is no number is an error, not NaN', () => {
    expect(() => renderString("{{ env_var('HOST') | as_number }}", { env })).toThrow(TemplateError);
    expect(() => renderString("{{ env_var('HOST') | as_bool }}", { env })).toThrow(/not a boolean/);
  });

  it('leaves plain strings and non-strings untouched', () => {
    for (const text of ['hello', '', 'price: {not a template}', 'a } b { c', '100%']) {
      expect(renderString(text, { env })).toBe(text);
    }
    const problems: TemplateError[] = [];
    const input = { n: 3, b: false, nothing: null, list: ['x', 1], nested: { s: 'plain' } };
    expect(renderDeep(input, { env }, problems)).toEqual(input);
    expect(problems).toEqual([]);
  });

  it('renderDeep renders nested values and collects every problem with its path', () => {
    const problems: TemplateError[] = [];
    const out = renderDeep(
      { a: { port: "{{ env_var('PORT') | as_number }}", token: "{{ env_var('T1') }}" }, list: ["{{ env_var('T2') }}", 'ok'] },
      { env },
      problems,
    );
    expect((out as { a: { port: unknown } }).a.port).toBe(5432);
    expect(problems.map((p) => p.path)).toEqual([
      ['a', 'token'],
      ['list', 0],
    ]);
    expect(problems[0]!.message).toContain('T1');
    expect(problems[1]!.message).toContain('T2');
  });

  it('onEnvValue receives the values that came from the environment (not defaults)', () => {
    const seen: string[] = [];
    const options = { env: { TOKEN: 'tok-123', HOST: 'h.example' }, onEnvValue: (v: string) => void seen.push(v) };
    renderDeep(
      { a: "{{ env_var('TOKEN') }}", b: "{{ env_var('MISSING', 'the-default') }}", c: "x{{ env_var('HOST') }}", d: 'plain' },
      options,
      [],
    );
    expect(seen.sort()).toEqual(['h.example', 'tok-123']);
  });
});

describe('parseActivateConfig', () => {
  const parse = (text: string, env: NodeJS.ProcessEnv = {}, redactor = new Redactor()) =>
    activateConfig(text, env, redactor);

  it('accepts a webhook destination and applies defaults', () => {
    const config = parse(`
destinations:
  hook:
    type: webhook
    url: "{{ env_var('HOOK_URL') }}"
    batch_size: 25
`, { HOOK_URL: 'https://hooks.example.com/x' });
    expect(config.file).toBe('activate.yml');
    expect([...config.destinations.keys()]).toEqual(['hook']);
    const hook = config.destinations.get('hook')!;
    expect(hook.type).toBe('webhook');
    expect(hook.definition.type).toBe('webhook');
    expect(hook.config).toMatchObject({ url: 'https://hooks.example.com/x', batch_size: 25, timeout_seconds: 30 });
    expect(config.state).toEqual({ schema: 'activate', database: undefined, audit: 'runs' });
  });

  it('reads the state schema', () => {
    const config = parse('destinations: {}\nstate:\n  schema: reverse_etl\n');
    expect(config.state.schema).toBe('reverse_etl');
    expect(config.destinations.size).toBe(0);
  });

  it('an unknown destination type suggests the closest known one', () => {
    const error = configError(() => parse('destinations:\n  hook:\n    type: webhok\n    url: https://x.example\n'));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^activate\.yml: destinations\.hook\.type: unknown destination type "webhok"/);
    expect(error.problems[0]).toContain('(did you mean "webhook"?)');
    expect(error.problems[0]).toContain('known types: webhook');
  });

  it('an unknown top-level key is reported with its line and column', () => {
    const error = configError(() =>
      parse('destinations:\n  hook:\n    type: webhook\n    url: https://x.example\ndestinatons: {}\n'),
    );
    expect(error.message).toContain('activate.yml');
    expect(error.message).toContain('unknown key "destinatons"');
    expect(error.message).toMatch(/line \d+, column \d+/);
  });

  it('a bad url is reported at its key path and line', () => {
    const error = configError(() => parse('destinations:\n  hook:\n    type: webhook\n    url: ftp://files.example.com/x\n'));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toBe(
      'activate.yml: destinations.hook.url: must be an http:// or https:// URL (line 4, column 10)',
    );
  });

  it('an unknown key in a destination is reported', () => {
    const error = configError(() =>
      parse('destinations:\n  hook:\n    type: webhook\n    url: https://x.example\n    tokn: abc\n'),
    );
    expect(error.message).toMatch(/destinations\.hook: unknown key "tokn"/);
  });

  it('a missing env var names the file, the key path and the variable', () => {
    const error = configError(() =>
      parse("destinations:\n  hook:\n    type: webhook\n    url: \"{{ env_var('HOOK_URL') }}\"\n"),
    );
    expect(error.problems[0]).toBe(
      'activate.yml: destinations.hook.url: environment variable HOOK_URL is not set and has no default (line 4, column 10)',
    );
  });

  it('reports several problems at once', () => {
    const error = configError(() =>
      parse(`
destinations:
  one:
    type: hubspot_v9
  two:
    type: webhook
    url: not a url
    batch_size: 0
  three:
    type: webhook
    url: "{{ env_var('THREE_URL') }}"
`),
    );
    const text = error.problems.join('\n');
    expect(text).toContain('destinations.one.type: unknown destination type "hubspot_v9"');
    expect(text).toContain('destinations.two.url:');
    expect(text).toContain('destinations.two.batch_size:');
    expect(text).toContain('destinations.three.url: environment variable THREE_URL is not set');
    expect(error.problems.length).toBeGreaterThanOrEqual(4);
  });

  it('a YAML syntax error names the line and column', () => {
    const text = 'destinations:\n  hook:\n    type: webhook\n    url: "https://x.example\n';
    const error = configError(() => parseYamlText(text, '/p/activate.yml', 'activate.yml'));
    expect(error.problems[0]).toMatch(/^activate\.yml: invalid YAML: .*\(line \d+, column \d+\)$/);

    const dup = configError(() => parseYamlText('a: 1\nb: 2\na: 3\n', '/p/activate.yml', 'activate.yml'));
    expect(dup.problems[0]).toMatch(/^activate\.yml: invalid YAML: .*\(line 3, column 1\)$/);
  });

  it('puts secret config values into the Redactor', () => {
    const redactor = new Redactor();
    parse(
      `
destinations:
  hook:
    type: webhook
    url: https://hooks.example.com/public-path
    secret: whsec_c2VjcmV0LWtleS1ieXRlcw==
    headers:
      Authorization: Bearer sk_live_abcdef123456
`,
      {},
      redactor,
    );
    const line = 'webhook hook failed: Bearer sk_live_abcdef123456 / whsec_c2VjcmV0LWtleS1ieXRlcw==';
    expect(redactor.redact(line)).toBe('webhook hook failed: **** / ****');
    // Also in the forms secrets take on the way out (URL-encoded, base64).
    expect(redactor.redact(encodeURIComponent('Bearer sk_live_abcdef123456'))).toBe('****');
    expect(redactor.redact(Buffer.from('Bearer sk_live_abcdef123456').toString('base64'))).toBe('****');
  });

  it('puts values read from the environment into the Redactor (through loadProject)', async () => {
    const tmp = makeTempDir('config-env');
    try {
      cpSync(exampleProjectDir, tmp.dir, { recursive: true, filter: (src) => !src.endsWith('.duckdb') });
      const url = 'https://hooks.example.com/t0ken-in-the-path';
      const project = await loadProject({ projectDir: tmp.dir, cwd: tmp.dir, env: { ACTIVATE_WEBHOOK_URL: url } });
      const hook = project.config.destinations.get('crm_webhook')!;
      expect((hook.config as { url: string }).url).toBe(url);
      expect(project.redactor.redact(`failed: ${url}`)).toBe('failed: ****');
      // The URL-encoded form is masked too.
      expect(project.redactor.redact(encodeURIComponent(url))).toBe('****');
    } finally {
      tmp.remove();
    }
  });
});

describe('syncSpecsOfModel', () => {
  const config = activateConfig(WEBHOOKS_YAML);
  const base = { destination: 'crm_webhook', primary_key: 'customer_id', fields: { email: 'email', ltv: 'lifetime_value' } };

  function specs(activation: unknown): { specs: SyncSpec[]; problems: string[] } {
    const problems: string[] = [];
    return { specs: syncSpecsOfModel(modelWithActivation(activation), config, problems), problems };
  }
  function one(activation: unknown): SyncSpec {
    const out = specs(activation);
    expect(out.problems).toEqual([]);
    expect(out.specs).toHaveLength(1);
    return out.specs[0]!;
  }
  function problemsOf(activation: unknown): string[] {
    const out = specs(activation);
    expect(out.specs).toEqual([]);
    expect(out.problems.length).toBeGreaterThan(0);
    return out.problems;
  }

  it('normalises a minimal activation', () => {
    const spec = one(base);
    expect(spec.id).toBe('customers__crm_webhook');
    expect(spec.mode).toBe('upsert');
    expect(spec.primaryKey).toEqual(['customer_id']);
    expect(spec.fields).toEqual({ email: 'email', ltv: 'lifetime_value' });
    expect(spec.identifier).toEqual({});
    expect(spec.destination.name).toBe('crm_webhook');
    expect(spec.safety).toEqual({ maxDeletes: DEFAULT_MAX_DELETES, maxChanges: undefined });
    expect(spec.fingerprint).toMatch(/^[0-9a-f]{16}$/);
  });

  it('passes the keys the engine does not own to the connector as options', () => {
    expect(one({ ...base, object: 'contacts' }).options).toEqual({ object: 'contacts' });
    const problems = problemsOf({ ...base, objcet: 'contacts' });
    expect(problems.join('\n')).toContain('unknown key "objcet"');
  });

  it('an unknown destination name suggests the closest one and names the YAML file and activate.yml', () => {
    const [problem, ...rest] = problemsOf({ ...base, destination: 'crm_webhok' });
    expect(rest).toEqual([]);
    expect(problem).toBe(
      'models/marts/customers.yml: customers: meta.activation.destination: unknown destination "crm_webhok" ' +
        '(did you mean "crm_webhook"?); destinations in activate.yml: hook, crm_webhook',
    );
  });

  it('a mode the destination does not support is refused, listing the ones it does', () => {
    const [problem] = problemsOf({ ...base, mode: 'update' });
    expect(problem).toContain('meta.activation.mode: "update" is not supported by webhook destinations');
    expect(problem).toContain('upsert, create, mirror');
  });

  it('a mode that does not exist is refused', () => {
    const [problem] = problemsOf({ ...base, mode: 'upsret' });
    expect(problem).toMatch(/^models\/marts\/customers\.yml: customers: meta\.activation: mode: /);
  });

  it('needs at least one mapped column', () => {
    const [problem] = problemsOf({ destination: 'hook', primary_key: 'id' });
    expect(problem).toBe('models/marts/customers.yml: customers: meta.activation: map at least one column under fields: (destination field: model column)');
    // An identifier alone is enough.
    expect(one({ destination: 'hook', primary_key: 'id', identifier: { email: 'email' } }).identifier).toEqual({ email: 'email' });
  });

  it('requires destination and primary_key', () => {
    const problems = problemsOf({ fields: { a: 'a' } });
    expect(problems.join('\n')).toContain('meta.activation: destination: is required');
    expect(problems.join('\n')).toContain('meta.activation: primary_key:');
  });

  it('rejects a bad safety value and an unknown safety key', () => {
    const [problem] = problemsOf({ ...base, safety: { max_deletes: 'lots' } });
    expect(problem).toContain('safety.max_deletes');
    expect(problem).toContain('must be a count (e.g. 500) or a percentage (e.g. "5%")');
    expect(problemsOf({ ...base, safety: { max_delets: 5 } }).join('\n')).toContain('unknown key "max_delets"');
    expect(problemsOf({ ...base, safety: { max_deletes: -1 } }).join('\n')).toContain('safety.max_deletes');
  });

  it('parses limits as a count or a percentage', () => {
    expect(one({ ...base, safety: { max_deletes: '5%', max_changes: 500 } }).safety).toEqual({
      maxDeletes: { kind: 'percent', value: 5 },
      maxChanges: { kind: 'count', value: 500 },
    });
    expect(one({ ...base, safety: { max_deletes: 0, max_changes: ' 12.5 % ' } }).safety).toEqual({
      maxDeletes: { kind: 'count', value: 0 },
      maxChanges: { kind: 'percent', value: 12.5 },
    });
  });

  it('skips a disabled activation without a problem', () => {
    expect(specs({ ...base, enabled: false })).toEqual({ specs: [], problems: [] });
  });

  it('a list reports problems per entry and keeps the good ones', () => {
    const out = specs([base, { ...base, destination: 'nowhere' }, { ...base, destination: 'hook', name: 'bad name!' }]);
    expect(out.specs.map((s) => s.id)).toEqual(['customers__crm_webhook']);
    expect(out.problems).toHaveLength(2);
    expect(out.problems[0]).toContain('meta.activation[1].destination: unknown destination "nowhere"');
    expect(out.problems[1]).toContain('meta.activation[2]: name:');
  });

  it('the fingerprint changes with what is sent, not with owner, safety or name', () => {
    const fp = (a: Record<string, unknown>) => one({ ...base, ...a }).fingerprint;
    const original = fp({});
    expect(fp({})).toBe(original);
    // Owner, safety and the sync's name do not change what the destination receives.
    expect(fp({ owner: { name: 'Growth', email: 'growth@example.com' } })).toBe(original);
    expect(fp({ owner: { name: 'Sales' } })).toBe(original);
    expect(fp({ safety: { max_deletes: '1%' } })).toBe(original);
    expect(fp({ name: 'renamed' })).toBe(original);
    // Mappings, key, mode and connector options do.
    const changed = [
      fp({ fields: { email: 'email' } }),
      fp({ fields: { email: 'email', ltv: 'lifetime_value', plan: 'plan' } }),
      fp({ fields: { email: 'email_address', ltv: 'lifetime_value' } }),
      fp({ fields: { mail: 'email', ltv: 'lifetime_value' } }),
      fp({ identifier: { email: 'email' } }),
      fp({ primary_key: ['customer_id', 'region'] }),
      fp({ mode: 'mirror' }),
      fp({ object: 'contacts' }),
    ];
    for (const f of changed) expect(f).not.toBe(original);
    expect(new Set(changed).size).toBe(changed.length);
    // Another destination of the same type is another account: everything must reach it.
    expect(fp({ destination: 'hook' })).not.toBe(original);
  });

  it('reordering mapped fields in YAML changes neither the fingerprint nor the hashed column order', () => {
    const a = one({ ...base, fields: { email: 'email', ltv: 'lifetime_value', plan: 'plan' } });
    const b = one({ ...base, fields: { plan: 'plan', ltv: 'lifetime_value', email: 'email' } });
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(mappedColumns(b)).toEqual(mappedColumns(a));
    expect(mappedColumns(a).map(([field]) => field)).toEqual(['email', 'ltv', 'plan']);
  });
});

describe('loadProject: sync ids are unique across models', () => {
  const tmp = makeTempDir('dup-ids');
  afterAll(() => tmp.remove());

  function copyProject(name: string, edit?: (manifest: { nodes: Record<string, { config: { meta: Record<string, unknown> } }> }) => void) {
    const dir = join(tmp.dir, name);
    cpSync(exampleProjectDir, dir, { recursive: true, filter: (src) => !src.endsWith('.duckdb') });
    if (edit) {
      const path = join(dir, 'target', 'manifest.json');
      const manifest = JSON.parse(readFileSync(path, 'utf8'));
      edit(manifest);
      writeFileSync(path, JSON.stringify(manifest));
    }
    return dir;
  }

  it('the example project loads with two syncs', async () => {
    const dir = copyProject('as-is');
    const project = await loadProject({ projectDir: dir, cwd: dir, env: {} });
    expect(project.syncs.map((s) => s.id).sort()).toEqual(['at_risk_customers__crm_webhook', 'crm_contacts']);
  });

  it('two models declaring the same sync id is a ConfigError naming both places', async () => {
    const dir = copyProject('dup', (manifest) => {
      const node = manifest.nodes['model.jaffle_activate.at_risk_customers']!;
      const [activation] = node.config.meta.activation as Record<string, unknown>[];
      node.config.meta.activation = [{ ...activation, name: 'crm_contacts' }];
    });
    const error = await loadProject({ projectDir: dir, cwd: dir, env: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(EXIT_BAD_INPUT);
    const [problem, ...rest] = (error as ConfigError).problems;
    expect(rest).toEqual([]);
    expect(problem).toContain('sync id "crm_contacts" is already used');
    expect(problem).toContain('at_risk_customers: meta.activation[0]');
    expect(problem).toContain('customer_scores: meta.activation');
  });

  it('a manifest problem and an activation problem in the project are both bad input', async () => {
    const dir = copyProject('bad-dest', (manifest) => {
      const node = manifest.nodes['model.jaffle_activate.customer_scores']!;
      node.config.meta.activation = { ...(node.config.meta.activation as object), destination: 'crm_webhok' };
    });
    await expect(loadProject({ projectDir: dir, cwd: dir, env: {} })).rejects.toThrow(/did you mean "crm_webhook"/);
  });
});

describe('a model without YAML', () => {
  it('names its SQL file in messages', () => {
    const manifest = manifestOf([{ name: 'leads', configMeta: { activation: { destination: 'nope', primary_key: 'id', fields: { a: 'a' } } } }]);
    const raw = manifest.models[0]!;
    const model = { ...raw, yamlPath: undefined };
    const problems: string[] = [];
    syncSpecsOfModel(model, activateConfig(WEBHOOKS_YAML), problems);
    expect(problems[0]).toMatch(/^models\/marts\/leads\.sql: leads: meta\.activation\.destination/);
  });
});

// parseActivateConfig is exercised above through the helper; this checks that it also takes
// a file whose data is empty (an activate.yml with only comments).
describe('an empty activate.yml', () => {
  it('has no destinations and the default state schema', () => {
    const file = parseYamlText('# nothing yet\n', '/p/activate.yml', 'activate.yml');
    const config = parseActivateConfig(file, { render: { env: {} }, redactor: new Redactor() });
    expect(config.destinations.size).toBe(0);
    expect(config.state.schema).toBe('activate');
  });
});

describe('activate.yml renders env_var and leaves connector placeholders alone', () => {
  it('keeps {{ sync }} and friends, renders env_var blocks beside them', () => {
    const config = activateConfig(
      [
        'destinations:',
        '  exports:',
        '    type: file',
        `    path: "{{ env_var('EXPORT_DIR') }}"`,
        `    file_name: "{{ env_var('PREFIX') }}/{{ sync }}/{{ run_id }}-{{ operation }}"`,
      ].join('\n'),
      { EXPORT_DIR: '/data/out', PREFIX: 'crm' },
    );
    expect(config.destinations.get('exports')!.config).toMatchObject({
      path: '/data/out',
      file_name: 'crm/{{ sync }}/{{ run_id }}-{{ operation }}',
    });
  });
});
