/**
 * File names: `{{ sync }}`, `{{ run_id }}`, `{{ date }}`, `{{ timestamp }}`, `{{ operation }}` and
 * `{{ part }}`, replaced by a small replacer (not a template engine: a file name needs no logic,
 * and nothing in it may run code or read the environment).
 */
export const PLACEHOLDERS = ['sync', 'run_id', 'date', 'timestamp', 'operation', 'part'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** The placeholder names a template uses, in order. */
export function placeholdersOf(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

/** Problems with a file name template, as messages (empty when it is usable). */
export function templateProblems(template: string, layout: 'per_operation' | 'single'): string[] {
  const problems: string[] = [];
  const used = placeholdersOf(template);
  const unknown = used.filter((name) => !(PLACEHOLDERS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    problems.push(`unknown placeholder ${unknown.map((u) => `{{ ${u} }}`).join(', ')}; use ${PLACEHOLDERS.map((p) => `{{ ${p} }}`).join(', ')}`);
  }
  const rest = template.replace(PLACEHOLDER, '');
  if (rest.includes('{{') || rest.includes('}}') || rest.includes('{%')) problems.push('has an unclosed or unknown {{ }} or {% %} block');
  if (!used.includes('run_id') && !used.includes('timestamp')) {
    problems.push(
      'must contain {{ run_id }} or {{ timestamp }} so that each run writes new files, e.g. ' +
        '"{{ sync }}/{{ timestamp }}-{{ operation }}"',
    );
  }
  if (layout === 'per_operation' && !used.includes('operation')) {
    problems.push('must contain {{ operation }} with layout: per_operation (upserts and deletes go to separate files)');
  }
  if (template.startsWith('/') || /^[A-Za-z]:[\\/]/.test(template)) problems.push('must be relative to path');
  if (template.split(/[\\/]/).some((segment) => segment === '..')) problems.push('must not contain ".." (files stay under path)');
  return problems;
}

export type TemplateValues = Readonly<Record<Placeholder, string>>;

/** The template with every placeholder replaced; `{{ part }}` is appended when the template has none. */
export function renderFileName(template: string, values: TemplateValues): string {
  const withPart = placeholdersOf(template).includes('part') ? template : `${template}-{{ part }}`;
  return withPart.replace(PLACEHOLDER, (_all, name: string) => values[name as Placeholder] ?? '');
}

/** `YYYY-MM-DD` (UTC). */
export function dateStamp(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** `YYYYMMDDTHHMMSSZ` (UTC): sorts as time does and is safe in file names everywhere. */
export function timeStamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}
