import { z } from 'zod';
import { ConfigError } from '../../errors.js';
import { formatZodIssues } from '../../config/issues.js';
import type { ProfileTarget } from '../../dbt/profiles.js';

const integer = z.union([z.number().int().nonnegative(), z.string().regex(/^\s*\d+\s*$/).transform((s) => Number(s))]);

/**
 * The keys of a dbt-bigquery output that activate reads (dbt-bigquery's credentials; Dataproc
 * and other keys are dbt's business). Aliases as in dbt-bigquery: database = project,
 * schema = dataset, timeout_seconds = job_execution_timeout_seconds, retries = job_retries.
 */
export const bigqueryOutputSchema = z.looseObject({
  type: z.literal('bigquery'),
  method: z.enum(['oauth', 'service-account', 'service-account-json', 'oauth-secrets', 'external-oauth-wif']),
  project: z.string().min(1).optional(),
  database: z.string().min(1).optional(),
  dataset: z.string().min(1).optional(),
  schema: z.string().min(1).optional(),
  execution_project: z.string().min(1).optional(),
  quota_project: z.string().min(1).optional(),
  location: z.string().min(1).optional(),
  priority: z.enum(['interactive', 'batch']).optional(),
  maximum_bytes_billed: integer.optional(),
  job_execution_timeout_seconds: integer.optional(),
  timeout_seconds: integer.optional(),
  job_retries: integer.optional(),
  retries: integer.optional(),
  keyfile: z.string().min(1).optional(),
  keyfile_json: z.record(z.string(), z.unknown()).optional(),
  token: z.string().optional(),
  refresh_token: z.string().optional(),
  client_id: z.string().optional(),
  client_secret: z.string().optional(),
  token_uri: z.string().optional(),
  impersonate_service_account: z.string().min(1).optional(),
  scopes: z.array(z.string()).optional(),
  api_endpoint: z.string().min(1).optional(),
});

export type BigQueryOutput = z.infer<typeof bigqueryOutputSchema>;

export type BigQueryAuth =
  /** Application-default credentials (gcloud, GOOGLE_APPLICATION_CREDENTIALS, metadata server). */
  | { readonly kind: 'adc' }
  /** A service-account key file, read when connecting. */
  | { readonly kind: 'keyfile'; readonly path: string }
  /** A service-account key given inline. */
  | { readonly kind: 'key'; readonly key: Readonly<Record<string, unknown>> }
  /** An OAuth access token, refreshable when refresh_token, client_id and client_secret are set. */
  | {
      readonly kind: 'oauth-secrets';
      readonly token: string | undefined;
      readonly refreshToken: string | undefined;
      readonly clientId: string | undefined;
      readonly clientSecret: string | undefined;
      readonly tokenUri: string | undefined;
    };

export interface BigQueryConfig {
  readonly auth: BigQueryAuth;
  /** Where the models live; undefined means the credentials' default project. */
  readonly project: string | undefined;
  /** The project jobs run in and are billed to (execution_project, else project). */
  readonly executionProject: string | undefined;
  readonly dataset: string;
  readonly location: string | undefined;
  readonly priority: 'INTERACTIVE' | 'BATCH';
  readonly maximumBytesBilled: string | undefined;
  readonly jobTimeoutMs: number | undefined;
  readonly retries: number;
  readonly scopes: readonly string[];
  readonly apiEndpoint: string | undefined;
}

/** dbt-bigquery's default scopes (Drive lets queries read Sheets-backed tables). */
export const DEFAULT_SCOPES = [
  'https://www.googleapis.com/auth/bigquery',
  'https://www.googleapis.com/auth/cloud-platform',
  'https://www.googleapis.com/auth/drive',
] as const;

/** Reads a dbt-bigquery output into the adapter's config. Pure; bad or unsupported settings throw ConfigError. */
export function parseBigQueryOutput(target: ProfileTarget): BigQueryConfig {
  const where = `${target.profile}.outputs.${target.target}`;
  const parsed = bigqueryOutputSchema.safeParse(target.output);
  if (!parsed.success) throw new ConfigError(formatZodIssues(parsed.error, target.file, { prefix: where }));
  const o = parsed.data;
  const problems: string[] = [];
  const problem = (key: string, message: string) => problems.push(`${target.file}: ${where}.${key}: ${message}`);
  const aliased = <K extends keyof BigQueryOutput>(key: K, alias: keyof BigQueryOutput): BigQueryOutput[K] => {
    if (o[key] !== undefined && o[alias] !== undefined && o[key] !== o[alias]) {
      problem(String(alias), `is an alias of ${String(key)}; set only one of them`);
    }
    return (o[key] ?? o[alias]) as BigQueryOutput[K];
  };
  const project = aliased('project', 'database');
  const dataset = aliased('dataset', 'schema');
  const timeout = aliased('job_execution_timeout_seconds', 'timeout_seconds');
  const retries = aliased('job_retries', 'retries');
  if (!dataset) problem('dataset', 'is required');

  let auth: BigQueryAuth | undefined;
  switch (o.method) {
    case 'oauth':
      auth = { kind: 'adc' };
      break;
    case 'service-account':
      if (!o.keyfile) problem('keyfile', 'is required with method service-account (the path of the service account JSON key)');
      else auth = { kind: 'keyfile', path: o.keyfile };
      break;
    case 'service-account-json':
      if (!o.keyfile_json) problem('keyfile_json', 'is required with method service-account-json (the service account key as a mapping)');
      else if (typeof o.keyfile_json.client_email !== 'string' || typeof o.keyfile_json.private_key !== 'string') {
        problem('keyfile_json', 'must be a service account key with client_email and private_key');
      } else auth = { kind: 'key', key: o.keyfile_json };
      break;
    case 'oauth-secrets': {
      const refreshable = o.refresh_token && o.client_id && o.client_secret;
      if (!o.token && !refreshable) {
        problem('token', 'is required with method oauth-secrets (or refresh_token, client_id and client_secret)');
      } else {
        auth = {
          kind: 'oauth-secrets',
          token: o.token || undefined,
          refreshToken: o.refresh_token || undefined,
          clientId: o.client_id || undefined,
          clientSecret: o.client_secret || undefined,
          tokenUri: o.token_uri || undefined,
        };
      }
      break;
    }
    case 'external-oauth-wif':
      problem('method', 'external-oauth-wif is not supported by activate yet; use service-account, service-account-json or oauth (application-default credentials)');
      break;
  }
  if (o.impersonate_service_account) {
    problem('impersonate_service_account', 'is not supported by activate yet; give the service account key itself (method service-account)');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    auth: auth!,
    project,
    executionProject: o.execution_project ?? project,
    dataset: dataset!,
    location: o.location,
    priority: o.priority === 'batch' ? 'BATCH' : 'INTERACTIVE',
    maximumBytesBilled: o.maximum_bytes_billed !== undefined ? String(o.maximum_bytes_billed) : undefined,
    jobTimeoutMs: timeout !== undefined && timeout > 0 ? timeout * 1000 : undefined,
    retries: retries ?? 1,
    scopes: o.scopes && o.scopes.length > 0 ? o.scopes : [...DEFAULT_SCOPES],
    apiEndpoint: o.api_endpoint,
  };
}
