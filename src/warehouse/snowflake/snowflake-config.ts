import { z } from 'zod';
import { ConfigError } from '../../errors.js';
import { formatZodIssues } from '../../config/issues.js';
import type { ProfileTarget } from '../../dbt/profiles.js';

/** A number as YAML gives it, or as an env var renders it (`"{{ env_var('PORT') }}"`). */
const integer = z.union([z.number().int(), z.string().regex(/^\s*\d+\s*$/).transform((s) => Number(s))]);
const boolean = z.union([z.boolean(), z.enum(['true', 'false', 'True', 'False']).transform((s) => s.toLowerCase() === 'true')]);

/**
 * The keys of a dbt-snowflake output that activate reads (dbt-snowflake's credentials; other
 * keys such as `threads`, `retry_on_database_errors` or `reuse_connections` are dbt's business).
 */
export const snowflakeOutputSchema = z
  .looseObject({
    type: z.literal('snowflake'),
    account: z.string().min(1),
    user: z.string().min(1).optional(),
    password: z.string().optional(),
    role: z.string().min(1).optional(),
    database: z.string().min(1),
    warehouse: z.string().min(1).optional(),
    schema: z.string().min(1),
    authenticator: z.string().min(1).optional(),
    token: z.string().optional(),
    oauth_client_id: z.string().optional(),
    oauth_client_secret: z.string().optional(),
    private_key_path: z.string().min(1).optional(),
    private_key: z.string().min(1).optional(),
    private_key_passphrase: z.string().optional(),
    query_tag: z.string().optional(),
    client_session_keep_alive: boolean.optional(),
    host: z.string().min(1).optional(),
    port: integer.optional(),
    protocol: z.enum(['https', 'http']).optional(),
    proxy_host: z.string().optional(),
    proxy_port: integer.optional(),
    connect_retries: integer.optional(),
    connect_timeout: integer.optional(),
    insecure_mode: boolean.optional(),
  })
  .superRefine((o, ctx) => {
    if (o.private_key !== undefined && o.private_key_path !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['private_key'], message: 'set either private_key or private_key_path, not both' });
    }
  });

export type SnowflakeOutput = z.infer<typeof snowflakeOutputSchema>;

export type SnowflakeAuth =
  | { readonly kind: 'password'; readonly password: string }
  | { readonly kind: 'keypair'; readonly privateKeyPath?: string; readonly privateKey?: string; readonly passphrase?: string }
  | { readonly kind: 'oauth'; readonly token: string }
  | { readonly kind: 'pat'; readonly token: string };

/** What the adapter needs, resolved from the output: where to connect, as whom, and the session's context. */
export interface SnowflakeConfig {
  /** The account identifier as written (`xy12345.eu-central-1`, `myorg-my_account`). */
  readonly account: string;
  /** `https://<account>.snowflakecomputing.com` (underscores become hyphens), or from `host`/`port`/`protocol`. */
  readonly accessUrl: string;
  readonly user: string | undefined;
  readonly auth: SnowflakeAuth;
  readonly role: string | undefined;
  readonly database: string;
  readonly schema: string;
  readonly warehouse: string | undefined;
  /** The session's QUERY_TAG: the profile's `query_tag`, else `dbt-activate`, so activate's queries can be found. */
  readonly queryTag: string;
  readonly connectRetries: number;
  readonly clientSessionKeepAlive: boolean | undefined;
  readonly insecureMode: boolean;
  readonly proxy: { readonly host: string; readonly port: number | undefined } | undefined;
}

export const DEFAULT_QUERY_TAG = 'dbt-activate';

/** Login flows that need a person at a browser or phone; activate runs unattended. */
const INTERACTIVE: Readonly<Record<string, string>> = {
  externalbrowser: 'opens a web browser for SSO',
  username_password_mfa: 'waits for a multi-factor approval',
  oauth_authorization_code: 'opens a web browser for OAuth consent',
};

/**
 * Reads a dbt-snowflake output into the adapter's config. Pure: files (the private key) are
 * read when connecting. Bad or unsupported settings throw ConfigError naming the key.
 */
export function parseSnowflakeOutput(target: ProfileTarget): SnowflakeConfig {
  const where = `${target.profile}.outputs.${target.target}`;
  const parsed = snowflakeOutputSchema.safeParse(target.output);
  if (!parsed.success) throw new ConfigError(formatZodIssues(parsed.error, target.file, { prefix: where }));
  const o = parsed.data;
  const problem = (key: string, message: string) => new ConfigError(`${target.file}: ${where}.${key}: ${message}`);

  const authenticator = o.authenticator?.toLowerCase();
  const keyPair = o.private_key !== undefined || o.private_key_path !== undefined;
  let auth: SnowflakeAuth;
  if (authenticator && (INTERACTIVE[authenticator] || authenticator.startsWith('https://'))) {
    const what = INTERACTIVE[authenticator] ?? 'signs in through Okta interactively';
    throw problem(
      'authenticator',
      `"${o.authenticator}" ${what}, which is not supported in CI/headless runs (activate runs unattended); ` +
        'use key-pair auth (private_key_path or private_key, with private_key_passphrase if the key is encrypted) or a programmatic access token for this target',
    );
  } else if (authenticator === 'oauth' || authenticator === 'jwt') {
    if (o.oauth_client_id !== undefined || o.oauth_client_secret !== undefined) {
      throw problem(
        'authenticator',
        'oauth with oauth_client_id/oauth_client_secret (token as a refresh token) is not supported by activate; give an access token in token, or use key-pair auth',
      );
    }
    if (!o.token) throw problem('token', `is required with authenticator ${o.authenticator} (the OAuth access token)`);
    auth = { kind: 'oauth', token: o.token };
  } else if (authenticator === 'programmatic_access_token') {
    const token = o.token ?? o.password;
    if (!token) throw problem('token', 'is required with authenticator programmatic_access_token');
    auth = { kind: 'pat', token };
  } else if (authenticator === undefined || authenticator === 'snowflake' || authenticator === 'snowflake_jwt') {
    if (keyPair) {
      auth = {
        kind: 'keypair',
        ...(o.private_key_path !== undefined ? { privateKeyPath: o.private_key_path } : {}),
        ...(o.private_key !== undefined ? { privateKey: o.private_key } : {}),
        ...(o.private_key_passphrase ? { passphrase: o.private_key_passphrase } : {}),
      };
    } else if (authenticator === 'snowflake_jwt') {
      throw problem('private_key_path', 'is required with authenticator snowflake_jwt (or private_key)');
    } else if (o.password !== undefined && o.password !== '') {
      auth = { kind: 'password', password: o.password };
    } else {
      throw problem('password', 'is required (or key-pair auth: private_key_path or private_key)');
    }
  } else if (authenticator === 'workload_identity') {
    throw problem('authenticator', 'workload_identity is not supported by activate yet; use key-pair auth or a programmatic access token');
  } else {
    throw problem(
      'authenticator',
      `"${o.authenticator}" is not a Snowflake authenticator activate supports (unset for password or key pair, oauth, jwt, programmatic_access_token)`,
    );
  }
  if (!o.user && auth.kind !== 'oauth' && auth.kind !== 'pat') throw problem('user', 'is required');

  return {
    account: bareAccount(o.account),
    accessUrl: accessUrl(o),
    user: o.user,
    auth,
    role: o.role,
    database: o.database,
    schema: o.schema,
    warehouse: o.warehouse,
    queryTag: o.query_tag && o.query_tag !== '' ? o.query_tag : DEFAULT_QUERY_TAG,
    connectRetries: o.connect_retries ?? 1,
    clientSessionKeepAlive: o.client_session_keep_alive,
    insecureMode: o.insecure_mode ?? false,
    proxy: o.proxy_host ? { host: o.proxy_host, port: o.proxy_port } : undefined,
  };
}

/** dbt-snowflake's host rules: `host` wins; else the account's host, whose underscores become hyphens. */
function accessUrl(o: SnowflakeOutput): string {
  const protocol = o.protocol ?? 'https';
  const port = o.port !== undefined ? `:${o.port}` : '';
  if (o.host) return `${protocol}://${o.host.replace(/^https?:\/\//, '').replace(/\/+$/, '')}${port}`;
  const account = bareAccount(o.account);
  const domain = /\.cn-|^cn-/i.test(account) ? 'snowflakecomputing.cn' : 'snowflakecomputing.com';
  return `${protocol}://${account.replaceAll('_', '-')}.${domain}${port}`;
}

/** The account identifier without a pasted URL around it. */
function bareAccount(account: string): string {
  return account.replace(/^https?:\/\//, '').replace(/\.snowflakecomputing\.(com|cn)\/?$/i, '');
}
