import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { formatZodIssues, locate } from './issues.js';
import { renderDeep, describeTemplateError, type RenderOptions, type TemplateError } from './render.js';
import { readYamlFile, type YamlFile } from './yaml-file.js';
import { destinationDefinition, destinationTypes } from '../../destinations/registry.js';
import type { AnyDestinationDefinition } from '../../destinations/types.js';
import type { Redactor } from '../secrets.js';
import type { RetryPolicy } from '../http/types.js';
import { didYouMean } from '../suggest.js';
import { MATURITIES, type Maturity } from './sync-spec.js';

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be letters, digits and underscores');

export const activateFileSchema = z.strictObject({
  destinations: z.record(identifier, z.looseObject({ type: z.string() })).default({}),
  state: z
    .strictObject({
      schema: identifier.default('activate'),
      database: z.string().optional(),
      /** `records` also keeps a per-record changelog (activate_changelog). */
      audit: z.enum(['runs', 'records']).default('runs'),
    })
    .default({ schema: 'activate', audit: 'runs' }),
  defaults: z
    .strictObject({
      owner: z.strictObject({ name: z.string().optional(), email: z.string().optional() }).optional(),
      maturity: z.enum(MATURITIES).optional(),
    })
    .optional(),
});

export interface ConfiguredDestination {
  readonly name: string;
  readonly type: string;
  readonly definition: AnyDestinationDefinition;
  /** Parsed by the connector's own schema. */
  readonly config: unknown;
  /** Retry settings every destination accepts (`retry:` in activate.yml), for the shared HTTP layer. */
  readonly retry: Partial<RetryPolicy>;
  /** `rate_limit:` in activate.yml: replaces the connector's declared requests per interval. */
  readonly rateLimit: { readonly requests: number; readonly perSeconds: number } | undefined;
}

/** Keys every destination entry accepts, read by the engine before the connector sees the rest. */
export const ENGINE_DESTINATION_KEYS = ['retry', 'rate_limit'] as const;

export const retrySchema = z
  .strictObject({
    attempts: z.number().int().min(0).max(50).optional(),
    throttle_attempts: z.number().int().min(0).max(500).optional(),
    min_delay_seconds: z.number().min(0).optional(),
    max_delay_seconds: z.number().positive().optional(),
  })
  .optional();

export const rateLimitSchema = z
  .strictObject({
    requests: z.number().int().positive(),
    per_seconds: z.number().positive(),
  })
  .optional();

export interface ActivateConfig {
  readonly file: string;
  readonly destinations: ReadonlyMap<string, ConfiguredDestination>;
  readonly state: { readonly schema: string; readonly database: string | undefined; readonly audit: 'runs' | 'records' };
  /** Defaults for the dbt exposures `activate exposures` writes (a sync's own values win). */
  readonly defaults: { readonly owner?: { readonly name?: string; readonly email?: string }; readonly maturity?: Maturity };
}

export async function readActivateConfig(
  path: string,
  display: string,
  options: { render: RenderOptions; redactor: Redactor; explicit: boolean },
): Promise<ActivateConfig> {
  const file = await readYamlFile(path, display);
  if (!file) {
    throw new ConfigError(
      options.explicit
        ? `${display}: not found (--config ${path})`
        : `${display}: not found. Create ${path} (beside dbt_project.yml): \`activate init\` writes a commented one, ` +
            `or write at least\n` +
            `  destinations:\n    my_webhook:\n      type: webhook\n      url: "{{ env_var('MY_WEBHOOK_URL') }}"\n` +
            `and point a model's meta.activation at it (docs/configuration.md).`,
    );
  }
  return parseActivateConfig(file, options);
}

export function parseActivateConfig(
  file: YamlFile,
  options: { render: RenderOptions; redactor: Redactor },
): ActivateConfig {
  const templateProblems: TemplateError[] = [];
  const rendered = renderDeep(file.data ?? {}, { ...options.render, envVarOnly: true }, templateProblems);
  const problems = templateProblems.map((p) => describeTemplateError(file.display, p) + locate(file.source, p.path));

  const parsed = activateFileSchema.safeParse(rendered);
  if (!parsed.success) {
    throw new ConfigError([...problems, ...formatZodIssues(parsed.error, file.display, { source: file.source, schema: activateFileSchema, input: rendered })]);
  }
  const destinations = new Map<string, ConfiguredDestination>();
  const unrendered = new Set(templateProblems.map((p) => (p.path[0] === 'destinations' ? String(p.path[1]) : '')));
  for (const [name, entry] of Object.entries(parsed.data.destinations)) {
    // Its template could not be rendered: the connector would only complain about the raw text.
    if (unrendered.has(name)) continue;
    const definition = destinationDefinition(entry.type);
    if (!definition) {
      problems.push(
        `${file.display}: destinations.${name}.type: unknown destination type "${entry.type}"` +
          `${didYouMean(entry.type, Object.keys(destinationTypes))}; known types: ${Object.keys(destinationTypes).join(', ')}`,
      );
      continue;
    }
    const { retry: retryInput, rate_limit: rateLimitInput, ...connectorEntry } = entry as Record<string, unknown>;
    const retry = retrySchema.safeParse(retryInput);
    if (!retry.success) {
      problems.push(
        ...formatZodIssues(retry.error, file.display, {
          pathPrefix: ['destinations', name, 'retry'],
          source: { ...file.source, base: ['destinations', name, 'retry'] },
          schema: retrySchema,
        }),
      );
    }
    const rateLimit = rateLimitSchema.safeParse(rateLimitInput);
    if (!rateLimit.success) {
      problems.push(
        ...formatZodIssues(rateLimit.error, file.display, {
          pathPrefix: ['destinations', name, 'rate_limit'],
          source: { ...file.source, base: ['destinations', name, 'rate_limit'] },
          schema: rateLimitSchema,
        }),
      );
    }
    const config = definition.config.safeParse(connectorEntry);
    if (!config.success) {
      problems.push(
        ...formatZodIssues(config.error, file.display, {
          pathPrefix: ['destinations', name],
          source: { ...file.source, base: ['destinations', name] },
          schema: definition.config,
          extraKeys: ENGINE_DESTINATION_KEYS,
        }),
      );
      continue;
    }
    for (const key of definition.secretKeys) collectSecrets((entry as Record<string, unknown>)[key], options.redactor);
    if (!retry.success || !rateLimit.success) continue;
    const r = retry.data ?? {};
    destinations.set(name, {
      name,
      type: entry.type,
      definition,
      config: config.data,
      retry: {
        retries: r.attempts,
        throttleRetries: r.throttle_attempts,
        minDelayMs: r.min_delay_seconds === undefined ? undefined : r.min_delay_seconds * 1000,
        maxDelayMs: r.max_delay_seconds === undefined ? undefined : r.max_delay_seconds * 1000,
      },
      rateLimit: rateLimit.data && { requests: rateLimit.data.requests, perSeconds: rateLimit.data.per_seconds },
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    file: file.display,
    destinations,
    state: { schema: parsed.data.state.schema, database: parsed.data.state.database, audit: parsed.data.state.audit },
    defaults: parsed.data.defaults ?? {},
  };
}

function collectSecrets(value: unknown, redactor: Redactor): void {
  if (typeof value === 'string') redactor.add(value);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) collectSecrets(v, redactor);
}
