/**
 * Message templates: nunjucks (Jinja) with `{{ column }}` placeholders. Every value a template
 * outputs is escaped for Slack mrkdwn (`&`, `<`, `>` become `&amp;`, `&lt;`, `&gt;`), so a value
 * can neither break the formatting nor ping `<!channel>`; the template's own text is the
 * author's mrkdwn and is left as written (links like `<https://...|label>` work).
 *
 * Rendering uses nunjucks' autoescape (which escapes `&<>"'\`), then turns back the entities
 * Slack does not decode (`&quot;`, `&#39;`, `&#92;`) into their characters.
 */
import nunjucks from 'nunjucks';

/** nunjucks' own globals, usable in any template. */
const GLOBALS = ['range', 'cycler', 'joiner'];
const ENTITIES_SLACK_KEEPS_LITERAL: Readonly<Record<string, string>> = { '&quot;': '"', '&#39;': "'", '&#92;': '\\' };

const env = new nunjucks.Environment(null, { autoescape: true, throwOnUndefined: false });
const compiled = new Map<string, nunjucks.Template>();

/** Escapes text for Slack mrkdwn, as Slack asks for any text not meant as markup. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Why the template cannot be compiled, or undefined when it can. */
export function templateSyntaxError(source: string): string | undefined {
  try {
    compile(source);
    return undefined;
  } catch (error) {
    return firstLine(error);
  }
}

export function renderTemplate(source: string, context: Readonly<Record<string, unknown>>): string {
  return compile(source)
    .render({ ...context })
    .replace(/&quot;|&#39;|&#92;/g, (entity) => ENTITIES_SLACK_KEEPS_LITERAL[entity]!);
}

/**
 * The names a template reads from its context: every variable that is not bound inside the
 * template itself (`{% set %}`, `{% for %}`), not a filter or test name and not a global.
 */
export function templateNames(source: string): Set<string> {
  const root = (nunjucks as unknown as { parser: { parse(src: string): AstNode } }).parser.parse(source);
  const bound = new Set<string>(GLOBALS);
  collectSetTargets(root, bound);
  const out = new Set<string>();
  walk(root, bound, out);
  return out;
}

/** Names a template reads that `available` does not offer, in order of first use. */
export function unknownNames(source: string, available: Iterable<string>): string[] {
  const known = new Set(available);
  return [...templateNames(source)].filter((name) => !known.has(name));
}

function compile(source: string): nunjucks.Template {
  let template = compiled.get(source);
  if (!template) {
    // eagerCompile: syntax errors surface here, when the options are checked, not at the first record.
    template = new nunjucks.Template(source, env, 'message', true);
    compiled.set(source, template);
  }
  return template;
}

interface AstNode {
  readonly typename?: string;
  readonly fields?: readonly string[];
  readonly value?: unknown;
  readonly [field: string]: unknown;
}

function isNode(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && typeof (value as AstNode).typename === 'string';
}

function symbolNames(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(symbolNames);
  if (!isNode(node)) return [];
  if (node.typename === 'Symbol' && typeof node.value === 'string') return [node.value];
  if (Array.isArray(node.children)) return (node.children as unknown[]).flatMap(symbolNames);
  return [];
}

function collectSetTargets(node: unknown, bound: Set<string>): void {
  if (Array.isArray(node)) {
    for (const child of node) collectSetTargets(child, bound);
    return;
  }
  if (!isNode(node)) return;
  if (node.typename === 'Set') for (const name of symbolNames(node.targets)) bound.add(name);
  for (const field of node.fields ?? []) collectSetTargets(node[field], bound);
}

function walk(node: unknown, bound: ReadonlySet<string>, out: Set<string>): void {
  if (Array.isArray(node)) {
    for (const child of node) walk(child, bound, out);
    return;
  }
  if (!isNode(node)) return;
  switch (node.typename) {
    case 'Symbol':
      if (typeof node.value === 'string' && !bound.has(node.value)) out.add(node.value);
      return;
    case 'Filter':
    case 'FilterAsync':
      // `name` is the filter's name.
      walk(node.args, bound, out);
      return;
    case 'Is':
      // The right side is a test's name (`x is defined`).
      walk(node.left, bound, out);
      return;
    case 'Pair':
      // Keys of dict literals and keyword arguments are names, not variables.
      walk(node.value, bound, out);
      return;
    case 'For':
    case 'AsyncEach':
    case 'AsyncAll': {
      walk(node.arr, bound, out);
      const inner = new Set([...bound, ...symbolNames(node.name), 'loop']);
      walk(node.body, inner, out);
      walk(node.else_, bound, out);
      return;
    }
    case 'Set':
      walk(node.value, bound, out);
      walk(node.body, bound, out);
      return;
    case 'Macro':
    case 'Caller':
      return;
    default:
      for (const field of node.fields ?? []) walk(node[field], bound, out);
  }
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  // nunjucks: "(message) [Line 1, Column 12]\n  unexpected token: }}" -> keep both parts.
  return lines.join(' ').replace(/^\(message\)\s*/, '');
}
