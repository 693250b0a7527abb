import nunjucks from 'nunjucks';
import { formatPath, type IssuePath } from './issues.js';

/**
 * Renders dbt-style Jinja in config values: `{{ env_var('NAME') }}`,
 * `{{ env_var('NAME', 'default') }}` and the filters dbt offers in profiles
 * (`as_number`, `as_bool`, `as_text`, `int`, `float`). As in dbt's "native" rendering, a value
 * that is one expression ending in `as_number`/`int`/`float`/`as_bool` keeps that type.
 */
export interface RenderOptions {
  readonly env: NodeJS.ProcessEnv;
  /** Called with every value that came from an environment variable. */
  readonly onEnvValue?: (value: string) => void;
  /**
   * Render only the `{{ ... }}` blocks that call env_var and leave every other block as
   * written: activate.yml holds connector templates (`file_name: "{{ sync }}/{{ run_id }}"`)
   * that are the connector's to fill, not activate's.
   */
  readonly envVarOnly?: boolean;
}

const EXPRESSION_BLOCK = /\{\{(?:(?!\}\}).)*\}\}/gs;

export class TemplateError extends Error {
  constructor(
    message: string,
    readonly path: IssuePath,
  ) {
    super(message);
  }
}

const NUMBER_FILTER = /\|\s*(as_number|int|float)\s*\}\}\s*$/;
const BOOL_FILTER = /\|\s*as_bool\s*\}\}\s*$/;
const SINGLE_EXPRESSION = /^\s*\{\{(?:(?!\}\}).)*\}\}\s*$/s;

export function renderString(text: string, options: RenderOptions, path: IssuePath = []): unknown {
  if (!text.includes('{{') && !text.includes('{%')) return text;
  if (options.envVarOnly) {
    const blocks = text.match(EXPRESSION_BLOCK) ?? [];
    if (!blocks.some((b) => b.includes('env_var'))) return text;
    if (blocks.length > 1 || !SINGLE_EXPRESSION.test(text)) {
      // Mixed text: render each env_var block alone, keep the rest of the string verbatim.
      return text.replace(EXPRESSION_BLOCK, (block) =>
        block.includes('env_var') ? String(renderString(block, { ...options, envVarOnly: false }, path)) : block,
      );
    }
  }
  let missing: string | undefined;
  const env = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: false });
  env.addGlobal('env_var', (name: unknown, fallback?: unknown) => {
    const key = String(name);
    const value = options.env[key];
    if (value !== undefined) {
      options.onEnvValue?.(value);
      return value;
    }
    if (fallback !== undefined) return fallback;
    missing = key;
    throw new Error(`environment variable ${key} is not set`);
  });
  env.addFilter('as_number', (v: unknown) => v);
  env.addFilter('as_bool', (v: unknown) => v);
  env.addFilter('as_text', (v: unknown) => (v === undefined || v === null ? '' : String(v)));
  env.addFilter('as_native', (v: unknown) => v);

  let rendered: string;
  try {
    rendered = env.renderString(text, {});
  } catch (error) {
    if (missing !== undefined) {
      throw new TemplateError(`environment variable ${missing} is not set and has no default`, path);
    }
    const reason = error instanceof Error ? error.message.split('\n').pop()?.trim() : String(error);
    throw new TemplateError(`cannot render template ${JSON.stringify(text)}: ${reason}`, path);
  }
  if (SINGLE_EXPRESSION.test(text)) {
    if (NUMBER_FILTER.test(text)) {
      const n = Number(rendered.trim());
      if (rendered.trim() === '' || Number.isNaN(n)) {
        throw new TemplateError(`"${rendered}" is not a number (from ${JSON.stringify(text)})`, path);
      }
      return n;
    }
    if (BOOL_FILTER.test(text)) {
      const b = rendered.trim().toLowerCase();
      if (b === 'true' || b === '1' || b === 'yes') return true;
      if (b === 'false' || b === '0' || b === 'no' || b === '') return false;
      throw new TemplateError(`"${rendered}" is not a boolean (from ${JSON.stringify(text)})`, path);
    }
  }
  return rendered;
}

/** Renders every string inside a parsed YAML value; collects all problems instead of stopping at one. */
export function renderDeep(
  value: unknown,
  options: RenderOptions,
  problems: TemplateError[],
  path: IssuePath = [],
): unknown {
  if (typeof value === 'string') {
    try {
      return renderString(value, options, path);
    } catch (error) {
      if (error instanceof TemplateError) {
        problems.push(error);
        return value;
      }
      throw error;
    }
  }
  if (Array.isArray(value)) return value.map((item, i) => renderDeep(item, options, problems, [...path, i]));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = renderDeep(v, options, problems, [...path, k]);
    return out;
  }
  return value;
}

export function describeTemplateError(file: string, error: TemplateError): string {
  const where = formatPath(error.path);
  return `${file}: ${where ? `${where}: ` : ''}${error.message}`;
}
