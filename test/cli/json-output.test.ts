import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLE_PLAN, renderJsonOutputDoc } from '../../src/cli/json-output-doc.js';
import { changedFields, jsonReportSchema, toJsonReport } from '../../src/cli/json-output.js';
import { code, escape, formatMarkdown } from '../../src/cli/markdown.js';
import { formatReport } from '../../src/cli/report.js';
import type { ProjectReport, SyncReport } from '../../src/run/run-project.js';
import { repoRoot } from '../support/example-project.js';
import { schemaErrors } from './support.js';

describe('docs/json-output.md', () => {
  it('is generated from the zod schema and up to date (run `npm run docs` after changing src/cli/json-output.ts)', async () => {
    const committed = await readFile(join(repoRoot, 'docs', 'json-output.md'), 'utf8');
    expect(committed).toBe(renderJsonOutputDoc());
  });

  it('its example validates against its JSON Schema, which rejects undocumented and missing fields', async () => {
    expect(await schemaErrors(EXAMPLE_PLAN)).toEqual([]);
    expect(await schemaErrors({ ...EXAMPLE_PLAN, extra: 1 })).not.toEqual([]);
    const { summary: _summary, ...withoutSummary } = EXAMPLE_PLAN;
    expect(await schemaErrors(withoutSummary)).not.toEqual([]);
    const badStatus = { ...EXAMPLE_PLAN, syncs: [{ ...EXAMPLE_PLAN.syncs[0]!, status: 'done' }] };
    expect(await schemaErrors(badStatus)).not.toEqual([]);
  });
});

function sync(overrides: Partial<SyncReport>): SyncReport {
  return {
    id: 'crm_contacts',
    model: 'customer_scores',
    destination: 'crm',
    mode: 'upsert',
    runId: 'r1',
    status: 'planned',
    counts: { added: 0, changed: 0, removed: 0, modelRows: 0, syncedRecords: 0 },
    run: undefined,
    delivered: 0,
    rejected: 0,
    skipped: 0,
    seconds: 0,
    message: undefined,
    violations: [],
    samples: [],
    rejectionSamples: [],
    ...overrides,
  };
}

function report(syncs: SyncReport[], command: 'plan' | 'run' = 'run'): ProjectReport {
  return { command, warehouse: 'duckdb', dbtVerdict: { verdict: 'missing', note: 'No run_results.json' }, syncs, exitCode: 1 };
}

describe('the report in each format', () => {
  it('JSON: undefined becomes null, changed fields are listed, and the result parses with the schema', () => {
    const json = toJsonReport(
      report([
        sync({
          status: 'partial',
          runId: undefined,
          rejected: 1,
          message: '1 records rejected; e.g. 12: bad email',
          rejectionSamples: ['12: bad email'],
          samples: [{ kind: 'changed', key: '3', before: { plan: 'pro', email: 'a@x' }, after: { plan: 'team', email: 'a@x' } }],
        }),
      ]),
      undefined,
      1,
    );
    expect(jsonReportSchema.parse(json)).toEqual(json);
    expect(json.syncs[0]).toMatchObject({ runId: null, destinationType: null, result: 'warn', samples: [{ changedFields: ['plan'] }] });
    expect(json.summary).toEqual({ pass: 0, warn: 1, error: 0, skip: 0, total: 1 });
    expect(changedFields({ a: 1, b: null }, { a: 1, b: 0, c: null })).toEqual(['b']);
  });

  it('human: rejections and failures are spelled out under their row; no colour unless asked', () => {
    const text = formatReport(
      report([
        sync({ status: 'partial', delivered: 19, rejected: 1, rejectionSamples: ['12: invalid email'], message: '1 records rejected; e.g. 12: invalid email', seconds: 1.25 }),
        sync({ id: 'win_back', mode: 'mirror', status: 'failed', message: 'HTTP 401 from the destination: check its credentials', seconds: 0.5 }),
      ]),
    );
    expect(text.split('\n')).toEqual([
      'sync          mode    changes   delivered  rejected  skipped  time  result',
      'crm_contacts  upsert  +0 ~0 -0         19         1        0  1.3s  WARN (rejections)',
      '    rejected 1: 12: invalid email',
      'win_back      mirror  +0 ~0 -0          0         0        0  0.5s  ERROR',
      '    HTTP 401 from the destination: check its credentials',
      '',
      'Done. PASS=0 WARN=1 ERROR=1 SKIP=0 TOTAL=2',
    ]);
    expect(formatReport(report([]))).toBe('Done. PASS=0 WARN=0 ERROR=0 SKIP=0 TOTAL=0');
  });

  it('Markdown: values cannot break the table, open HTML or start emphasis', () => {
    expect(code('a|b')).toBe('`a\\|b`');
    expect(code('has `tick`')).toBe('`` has `tick` ``'); // CommonMark: a longer fence, padded when the text ends in a backtick
    expect(escape('<script> *x* _y_ | [z]')).toBe('&lt;script&gt; \\*x\\* \\_y\\_ \\| \\[z\\]');
    const md = formatMarkdown(
      report(
        [
          sync({
            counts: { added: 1, changed: 0, removed: 0, modelRows: 1, syncedRecords: 0 },
            samples: [{ kind: 'added', key: '1', before: undefined, after: { note: 'a | b\nc <b>', n: 1 } }],
          }),
        ],
        'plan',
      ),
    );
    const row = md.split('\n').find((l) => l.startsWith('| + |'))!;
    expect(row).toBe('| + | `1` | note: `"a \\| b\\nc <b>"`<br>n: `1` |');
  });

  it('Markdown: a long report keeps under the limit and says what it left out', () => {
    const many = Array.from({ length: 400 }, (_, i) =>
      sync({ id: `sync_${i}`, destination: `dest_${i}`, message: 'x'.repeat(300), status: 'failed' }),
    );
    const md = formatMarkdown(report(many), { limit: 20_000 });
    expect(md.length).toBeLessThanOrEqual(20_000 + 30_000); // the overview table is always whole
    expect(md).toMatch(/_Details of \d+ destinations left out to keep this report short; see the job log\._/);
    expect(md.trimEnd().endsWith('`Done. PASS=0 WARN=0 ERROR=400 SKIP=0 TOTAL=400`')).toBe(true);
  });
});
