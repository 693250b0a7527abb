import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { profilesCandidates, resolveProfileTarget, type ProfileLookup } from '../../src/dbt/profiles.js';
import { ConfigError, EXIT_BAD_INPUT } from '../../src/errors.js';
import { makeTempDir } from '../support/fixtures.js';

const tmp = makeTempDir('profiles');
afterAll(() => tmp.remove());

function writeProfiles(dir: string, text: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'profiles.yml');
  writeFileSync(path, text);
  return path;
}

/** A profiles.yml whose only output says which file it came from. */
const labelled = (label: string) => `
shop:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: ${label}.duckdb
`;

function lookup(root: string, extra: Partial<ProfileLookup> = {}): ProfileLookup {
  return {
    projectDir: join(root, 'project'),
    projectProfile: 'shop',
    cwd: join(root, 'cwd'),
    home: join(root, 'home'),
    env: {},
    render: { env: extra.env ?? {} },
    ...extra,
  };
}

async function rejection(promise: Promise<unknown>): Promise<ConfigError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).exitCode).toBe(EXIT_BAD_INPUT);
  return error as ConfigError;
}

describe('where profiles.yml is found', () => {
  const root = join(tmp.dir, 'order');
  const files = {
    flag: writeProfiles(join(root, 'flag'), labelled('flag')),
    env: writeProfiles(join(root, 'envdir'), labelled('env')),
    cwd: writeProfiles(join(root, 'cwd'), labelled('cwd')),
    home: writeProfiles(join(root, 'home', '.dbt'), labelled('home')),
    project: writeProfiles(join(root, 'project'), labelled('project')),
  };
  const pathOf = async (extra: Partial<ProfileLookup>) => {
    const target = await resolveProfileTarget(lookup(root, extra));
    return [target.file, target.output.path];
  };

  it('--profiles-dir beats DBT_PROFILES_DIR beats cwd beats ~/.dbt beats the project dir', async () => {
    const flag = { profilesDir: join(root, 'flag') };
    const env = { env: { DBT_PROFILES_DIR: join(root, 'envdir') } };
    expect(await pathOf({ ...flag, ...env })).toEqual([files.flag, 'flag.duckdb']);
    expect(await pathOf(env)).toEqual([files.env, 'env.duckdb']);
    expect(await pathOf({})).toEqual([files.cwd, 'cwd.duckdb']);
    rmSync(files.cwd);
    expect(await pathOf({})).toEqual([files.home, 'home.duckdb']);
    rmSync(files.home);
    expect(await pathOf({})).toEqual([files.project, 'project.duckdb']);
  });

  it('a relative --profiles-dir or DBT_PROFILES_DIR is resolved against cwd', () => {
    const l = lookup(root, { profilesDir: '../flag' });
    expect(profilesCandidates(l)).toEqual([files.flag]);
    expect(profilesCandidates(lookup(root, { env: { DBT_PROFILES_DIR: '../envdir' } }))).toEqual([files.env]);
  });

  it('an explicit directory without profiles.yml does not fall back to the others', async () => {
    const error = await rejection(resolveProfileTarget(lookup(root, { profilesDir: join(root, 'empty') })));
    expect(error.message).toContain(join(root, 'empty', 'profiles.yml'));
    expect(error.message).toContain('--profiles-dir');
    expect(error.message).not.toContain(files.project);
  });

  it('nothing found lists every place it looked', async () => {
    const bare = join(tmp.dir, 'bare');
    const error = await rejection(resolveProfileTarget(lookup(bare)));
    expect(error.message).toContain(join(bare, 'cwd', 'profiles.yml'));
    expect(error.message).toContain(join(bare, 'home', '.dbt', 'profiles.yml'));
    expect(error.message).toContain(join(bare, 'project', 'profiles.yml'));
  });
});

describe('which profile and target are used', () => {
  const root = join(tmp.dir, 'targets');
  writeProfiles(
    join(root, 'cwd'),
    `
config:
  send_anonymous_usage_stats: false
shop:
  target: "{{ env_var('SHOP_TARGET', 'dev') }}"
  outputs:
    dev:
      type: duckdb
      path: dev.duckdb
      threads: "{{ env_var('THREADS', '4') | as_number }}"
    prod:
      type: postgres
      host: db.internal
      password: "{{ env_var('PROD_PASSWORD') }}"
      port: "{{ env_var('PROD_PORT', '5432') | int }}"
    ci:
      type: duckdb
      path: ci.duckdb
warehouse:
  outputs:
    default:
      type: duckdb
      path: default.duckdb
    other:
      type: duckdb
      path: other.duckdb
analytics:
  target: prod
  outputs:
    dev:
      type: duckdb
`,
  );
  const resolveWith = (extra: Partial<ProfileLookup>) => resolveProfileTarget(lookup(root, extra));
  const withEnv = (env: NodeJS.ProcessEnv, extra: Partial<ProfileLookup> = {}) =>
    resolveWith({ env, render: { env }, ...extra });

  it('uses the profile target: (rendered with env_var) when nothing else is given', async () => {
    const target = await resolveWith({});
    expect([target.profile, target.target]).toEqual(['shop', 'dev']);
    expect(target.output).toEqual({ type: 'duckdb', path: 'dev.duckdb', threads: 4 });
    expect((await withEnv({ SHOP_TARGET: 'ci' })).target).toBe('ci');
  });

  it('DBT_TARGET beats the profile target:, --target beats DBT_TARGET', async () => {
    expect((await withEnv({ DBT_TARGET: 'ci', SHOP_TARGET: 'dev' })).target).toBe('ci');
    const prod = await withEnv({ DBT_TARGET: 'ci', PROD_PASSWORD: 's3cret' }, { target: 'prod' });
    expect(prod.target).toBe('prod');
    expect(prod.output).toEqual({ type: 'postgres', host: 'db.internal', password: 's3cret', port: 5432 });
  });

  it('uses the target named "default" when the profile has no target:', async () => {
    const target = await resolveWith({ projectProfile: 'warehouse' });
    expect([target.profile, target.target, target.output.path]).toEqual(['warehouse', 'default', 'default.duckdb']);
  });

  it('--profile and DBT_PROFILE override dbt_project.yml profile:', async () => {
    expect((await resolveWith({ profile: 'warehouse' })).profile).toBe('warehouse');
    expect((await withEnv({ DBT_PROFILE: 'warehouse' })).profile).toBe('warehouse');
  });

  it('a missing profile lists the profiles that exist', async () => {
    const error = await rejection(resolveWith({ projectProfile: 'shopp' }));
    expect(error.message).toContain('profile "shopp" not found');
    expect(error.message).toContain('profiles in this file: shop, warehouse, analytics');
    // `config:` is dbt's settings block, not a profile.
    expect(error.message).not.toMatch(/profiles in this file: .*config/);
  });

  it('a missing target lists the targets of the profile', async () => {
    const error = await rejection(resolveWith({ target: 'staging' }));
    expect(error.message).toContain('target "staging" not found in profile "shop"');
    expect(error.message).toContain('targets: dev, prod, ci');
    const declared = await rejection(resolveWith({ projectProfile: 'analytics' }));
    expect(declared.message).toContain('target "prod" not found in profile "analytics"; targets: dev');
  });

  it('renders env vars only in the selected output', async () => {
    // PROD_PASSWORD is unset: fine for dev ...
    await expect(resolveWith({ target: 'dev' })).resolves.toMatchObject({ target: 'dev' });
    // ... but selecting prod needs it, and the message names the variable and where it is.
    const error = await rejection(resolveWith({ target: 'prod' }));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toContain('shop.outputs.prod.password');
    expect(error.problems[0]).toContain('PROD_PASSWORD');
  });

  it('reports env values to onEnvValue so they can be redacted', async () => {
    const seen: string[] = [];
    const env = { PROD_PASSWORD: 'hunter22' };
    await resolveWith({ target: 'prod', env, render: { env, onEnvValue: (v) => void seen.push(v) } });
    expect(seen).toEqual(['hunter22']);
  });

  it('no profile anywhere is bad input', async () => {
    const error = await rejection(resolveWith({ projectProfile: undefined }));
    expect(error.message).toContain('profile:');
  });
});
