import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import slackDefault, { slack, type SlackOptions } from '../../destinations/slack/index.js';
import type { Change, Destination, MappedField, Mode, RecordResult, WriteContext } from '../../destinations/types.js';
import { DestinationError } from '../../src/errors.js';
import { createHttpClient } from '../../src/http/http-client.js';
import type { HttpClient, HttpLimits, RetryPolicy } from '../../src/http/types.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import { makeExampleProject, type ExampleProject } from '../support/example-project.js';
import { editActivation } from '../support/manifest-edit.js';
import { startSlackTwin, type SlackTwin, type SlackTwinOptions } from '../twins/slack-twin.js';

const FAST_RETRY: Partial<RetryPolicy> = { minDelayMs: 5, maxDelayMs: 40, retries: 2, throttleRetries: 10 };
const FAST_LIMITS: HttpLimits = { requests: 100, perSeconds: 1, concurrency: 1 };
const TOLERANCE_MS = 25;

let twin: SlackTwin;
let http: HttpClient | undefined;
let expectViolations = false;

async function restartTwin(options: SlackTwinOptions = {}): Promise<void> {
  await twin?.close();
  twin = await startSlackTwin({ rate: { perSecond: 100, burst: 100 }, ...options });
}

function connect(
  config: Record<string, unknown> = { webhook_url: twin.webhookUrl },
  options: { limits?: HttpLimits; log?: Logger } = {},
): Destination<SlackOptions> {
  const parsed = slack.config.parse({ type: 'slack', ...config });
  http = createHttpClient({ limits: options.limits ?? FAST_LIMITS, retry: FAST_RETRY });
  return slack.create(parsed, { http, log: options.log ?? silentLogger, name: 'alerts', cwd: process.cwd() });
}

const bot = (extra: Record<string, unknown> = {}) => ({ token: twin.token, base_url: twin.apiUrl, channel: '#alerts', ...extra });

function opts(input: Record<string, unknown> = {}): SlackOptions {
  return slack.options.parse({ message: '*{{ name }}* ({{ email }}) is at risk: {{ churn_risk }}', ...input });
}

function ctx(mode: Mode = 'mirror', signal?: AbortSignal): WriteContext {
  return { syncId: 'at_risk_alerts', runId: 'run-1', mode, signal };
}

function row(key: string, fields: Record<string, unknown>, kind: Change['kind'] = 'added'): Change {
  return {
    operation: kind === 'removed' ? 'delete' : 'upsert',
    kind,
    key,
    hash: `h${key}`,
    fields,
    identifier: {},
    previous: kind === 'added' ? null : fields,
    destinationId: null,
  };
}

const person = (i: number, kind: Change['kind'] = 'added') => row(String(i), { name: `Person ${i}`, email: `p${i}@example.com`, churn_risk: 0.9 }, kind);
const texts = () => twin.messages.map((m) => m.text);

beforeEach(async () => {
  await restartTwin();
  expectViolations = false;
});

afterEach(async () => {
  await http?.close();
  http = undefined;
  await twin.close();
  if (!expectViolations) twin.assertNoViolations();
});

describe('slack: one message per row', () => {
  it('posts each added row to the incoming webhook, values escaped for mrkdwn', async () => {
    const results = await connect().write(
      [
        row('1', { name: 'Ada <!channel> & co', email: 'ada@example.com', churn_risk: 0.91 }),
        row('2', { name: 'Bob', email: null, churn_risk: 0.75 }),
      ],
      opts(),
      ctx(),
    );
    expect(results).toEqual<RecordResult[]>([
      { key: '1', status: 'synced' },
      { key: '2', status: 'synced' },
    ]);
    expect(twin.requests.map((r) => [r.method, r.headers['content-type'], r.json])).toEqual([
      ['POST', 'application/json', { text: '*Ada &lt;!channel&gt; &amp; co* (ada@example.com) is at risk: 0.91' }],
      ['POST', 'application/json', { text: '*Bob* () is at risk: 0.75' }],
    ]);
    expect(twin.messages.map((m) => m.channel)).toEqual(['C0ALERTS', 'C0ALERTS']);
  });

  it('keeps the template\'s own mrkdwn and offers _key, _kind, _previous and _row', async () => {
    await connect().write(
      [row('42', { name: 'Ada', 'first-name': 'A"da', churn_risk: 0.8 }, 'changed')],
      opts({
        changed_message:
          "<https://crm.example.com/c/{{ _key }}|{{ name }}> {{ _kind }}: {{ _previous.churn_risk }} → {{ churn_risk | round(1) }} {{ _row['first-name'] }}",
      }),
      ctx(),
    );
    expect(texts()).toEqual(['<https://crm.example.com/c/42|Ada> changed: 0.8 → 0.8 A"da']);
  });

  it('posts changed and removed rows only when their template is set, and counts the others as done', async () => {
    const destination = connect();
    const quiet = await destination.write([person(1, 'changed'), person(2, 'added')], opts(), ctx());
    const gone = await destination.write([person(3, 'removed')], opts(), ctx());
    expect([...quiet, ...gone].every((r) => r.status === 'synced')).toBe(true);
    expect(texts()).toEqual(['*Person 2* (p2@example.com) is at risk: 0.9']);

    await destination.write([person(4, 'changed')], opts({ changed_message: '{{ name }} changed' }), ctx());
    await destination.write([person(5, 'removed')], opts({ removed_message: '{{ name }} is no longer at risk' }), ctx());
    expect(texts().slice(1)).toEqual(['Person 4 changed', 'Person 5 is no longer at risk']);
  });

  it('posts with a bot token to the channel of the destination, or of the sync', async () => {
    const destination = connect(bot());
    const first = await destination.write([person(1)], opts(), ctx());
    const second = await destination.write([person(2)], opts({ channel: 'C0GROWTH' }), ctx());

    const [a, b] = twin.messages;
    expect(first).toEqual([{ key: '1', status: 'synced', destinationId: `C0ALERTS:${a!.ts}` }]);
    expect(second).toEqual([{ key: '2', status: 'synced', destinationId: `C0GROWTH:${b!.ts}` }]);
    const request = twin.requests[0]!;
    expect(request.path).toBe('/api/chat.postMessage');
    expect(request.headers.authorization).toBe(`Bearer ${twin.token}`);
    expect(request.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(request.json).toEqual({ channel: '#alerts', text: '*Person 1* (p1@example.com) is at risk: 0.9' });
  });
});

describe('slack: summaries', () => {
  it('posts one message per batch and kind, listing at most max_lines rows', async () => {
    const batch = [...Array.from({ length: 12 }, (_, i) => person(i + 1)), person(13, 'changed')];
    const results = await connect().write(
      batch,
      opts({ summary: true, message: '• {{ name }}', max_lines: 5, summary_title: '*{{ count }} accounts became at-risk*', changed_message: '• {{ name }}' }),
      ctx(),
    );
    expect(results).toHaveLength(13);
    expect(results.every((r) => r.status === 'synced')).toBe(true);
    expect(texts()).toEqual([
      '1 changed row in at_risk_alerts\n• Person 13',
      '*12 accounts became at-risk*\n• Person 1\n• Person 2\n• Person 3\n• Person 4\n• Person 5\n…and 7 more',
    ]);
  });

  it('keeps a summary under the length Slack shows well, counting the rows left out', async () => {
    const long = Array.from({ length: 30 }, (_, i) => row(String(i), { name: 'x'.repeat(400) }));
    await connect().write(long, opts({ summary: true, message: '{{ name }}', max_lines: 100 }), ctx());
    const [text] = texts();
    expect(text!.length).toBeLessThan(4000);
    expect(text).toMatch(/^30 new rows in at_risk_alerts\n/);
    expect(text).toMatch(/…and 22 more$/);
  });
});

describe('slack: failures', () => {
  it('stops on a removed webhook, naming webhook_url but never its value', async () => {
    twin.revokeWebhook();
    const error = await connect()
      .write([person(1)], opts(), ctx())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DestinationError);
    expect((error as Error).message).toMatch(/refused to post \(HTTP 404 no_service\).*webhook_url/);
    expect((error as Error).message).not.toContain('twinsecret');
  });

  it('keeps the messages posted before a stop in the middle of a batch, and stops at the next write', async () => {
    twin.respondWith(() => (twin.messages.length >= 2 ? { status: 410, body: 'channel_is_archived' } : undefined));
    const destination = connect();
    const results = await destination.write([1, 2, 3, 4].map((i) => person(i)), opts(), ctx());

    expect(results.map((r) => [r.key, r.status, r.status === 'failed' && r.retryable])).toEqual([
      ['1', 'synced', false],
      ['2', 'synced', false],
      ['3', 'failed', true],
      ['4', 'failed', true],
    ]);
    expect(results[2]).toMatchObject({ message: expect.stringMatching(/not posted: .*HTTP 410 channel_is_archived/) });
    const count = twin.requests.length;
    await expect(destination.write([person(5)], opts(), ctx())).rejects.toThrow(/HTTP 410 channel_is_archived/);
    expect(twin.requests).toHaveLength(count);
  });

  it('stops on a refused bot token, naming token but never its value', async () => {
    const error = await connect(bot({ token: 'xoxb-not-the-right-one' }))
      .write([person(1)], opts(), ctx())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DestinationError);
    expect((error as Error).message).toMatch(/refused the credentials \(invalid_auth\).*token/);
    expect((error as Error).message).not.toContain('xoxb-not-the-right-one');
  });

  it('stops when the bot is not in the channel, saying what to do', async () => {
    await restartTwin({ channels: { alerts: { id: 'C0ALERTS', member: false } } });
    await expect(connect(bot()).write([person(1)], opts(), ctx())).rejects.toThrow(/cannot post to channel #alerts \(not_in_channel\); invite the app/);
  });

  it('marks a message Slack refuses as failed, not retryable, and goes on', async () => {
    twin.respondWith((_r, i) => (i === 0 ? { status: 400, body: 'invalid_payload' } : undefined));
    const results = await connect().write([person(1), person(2)], opts(), ctx());
    expect(results).toEqual([
      { key: '1', status: 'failed', message: 'HTTP 400 invalid_payload', retryable: false, code: 'invalid_payload' },
      { key: '2', status: 'synced' },
    ]);
  });

  it('marks a too long message failed (msg_too_long) with a bot token', async () => {
    const results = await connect(bot()).write([row('1', { name: 'x'.repeat(40_001) })], opts({ message: '{{ name }}' }), ctx());
    expect(results).toEqual([{ key: '1', status: 'failed', message: 'msg_too_long', retryable: false, code: 'msg_too_long' }]);
  });

  it('survives a storm of 429s (Retry-After) with every message posted once', async () => {
    twin.respondWith((_r, i) => (i < 6 ? { status: 429, headers: { 'retry-after': '0' }, body: 'rate_limited' } : undefined));
    const results = await connect().write([1, 2, 3, 4].map((i) => person(i)), opts(), ctx());
    expect(results.every((r) => r.status === 'synced')).toBe(true);
    expect(texts()).toEqual([1, 2, 3, 4].map((i) => `*Person ${i}* (p${i}@example.com) is at risk: 0.9`));
    expect(twin.requests.filter((r) => r.answer === 429)).toHaveLength(6);
  });

  it('never posts faster than its rate limit', async () => {
    await restartTwin({ rate: { perSecond: 8, burst: 8 } });
    const destination = connect({ webhook_url: twin.webhookUrl }, { limits: { requests: 8, perSeconds: 1, concurrency: 1 } });
    const results = await destination.write(Array.from({ length: 10 }, (_, i) => person(i + 1)), opts(), ctx());
    expect(results.every((r) => r.status === 'synced')).toBe(true);
    expect(twin.messages).toHaveLength(10);
    const times = twin.requests.map((r) => r.monotonicMs).sort((a, b) => a - b);
    const busiest = Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + 1000 - TOLERANCE_MS).length));
    expect(busiest).toBeLessThanOrEqual(8);
  });

  it('keeps what was posted when the run is abandoned mid-batch', async () => {
    const abort = new AbortController();
    twin.respondWith(() => {
      if (twin.messages.length === 2) abort.abort(new Error('abandoned'));
      return twin.messages.length >= 2 ? { status: 200, body: 'ok', delayMs: 200 } : undefined;
    });
    const results = await connect().write([1, 2, 3, 4].map((i) => person(i)), opts(), ctx('mirror', abort.signal));
    expect(results.map((r) => r.status)).toEqual(['synced', 'synced', 'failed', 'failed']);
    expect(results[2]).toMatchObject({ retryable: true, message: 'not posted: the run was cancelled' });
  });
});

describe('slack: configuration and validate --online', () => {
  const field = (name: string): MappedField => ({ field: name, column: name, columnType: 'VARCHAR', isIdentifier: false });

  it('exports the definition and declares what the engine needs', () => {
    expect(slackDefault).toBe(slack);
    expect(slack.modes).toEqual(['create', 'upsert', 'mirror']);
    expect(slack.secretKeys).toEqual(['webhook_url', 'token']);
    expect(slack.limits(slack.config.parse({ type: 'slack', webhook_url: 'https://hooks.slack.com/services/T/B/x' }))).toEqual({
      batchSize: 50,
      concurrency: 1,
      requests: 1,
      perSeconds: 1,
    });
  });

  it('takes a webhook or a bot token, not both, and no channel with a webhook', () => {
    const parse = (config: Record<string, unknown>) => slack.config.safeParse({ type: 'slack', ...config });
    expect(parse({ webhook_url: 'https://hooks.slack.com/services/T/B/x' }).success).toBe(true);
    expect(parse({ token: 'xoxb-1', channel: '#a' }).success).toBe(true);
    expect(parse({}).error?.issues[0]?.message).toMatch(/either webhook_url .* or token/);
    expect(parse({ webhook_url: 'https://hooks.slack.com/services/T/B/x', token: 'xoxb-1' }).success).toBe(false);
    expect(parse({ webhook_url: 'https://hooks.slack.com/services/T/B/x', channel: '#a' }).error?.issues[0]?.message).toMatch(/posts to the channel chosen/);
  });

  it('refuses a template that does not compile', () => {
    const result = slack.options.safeParse({ message: 'Hi {{ name ' });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/is not a valid template/);
    expect(slack.options.safeParse({}).success).toBe(false);
  });

  it('reports template names that are not mapped fields', async () => {
    const destination = connect();
    expect(await destination.checkMapping!([field('name'), field('email'), field('churn_risk')], opts())).toEqual([]);
    const problems = await destination.checkMapping!(
      [field('name')],
      opts({ message: '{{ naem }} {{ name }} {{ _key }}', summary_title: '{{ count }} in {{ model }}' }),
    );
    expect(problems).toEqual([
      'message: uses {{ naem }}, which is not a mapped field; available: name, _key, _kind, _previous, _row',
      'summary_title: uses {{ model }}, which is not a summary variable; available: count, sync, kind',
    ]);
    expect(twin.requests).toHaveLength(0);
  });

  it('warns once when a template reads a name no record has', async () => {
    const warnings: string[] = [];
    const destination = connect(undefined, { log: { ...silentLogger, warn: (m) => void warnings.push(m) } });
    await destination.write([person(1), person(2)], opts({ message: '{{ naem }}!' }), ctx());
    expect(warnings).toEqual([expect.stringContaining('uses {{ naem }}, which is not a mapped field')]);
  });
});

describe('activate run → Slack (example project)', () => {
  let project: ExampleProject;

  beforeEach(async () => {
    project = await makeExampleProject({ SLACK_WEBHOOK_URL: twin.webhookUrl });
    await project.writeActivateYml(
      [
        'destinations:',
        '  alerts:',
        '    type: slack',
        `    webhook_url: "{{ env_var('SLACK_WEBHOOK_URL') }}"`,
        '    rate_limit: { requests: 100, per_seconds: 1 }',
        '    retry: { attempts: 1, throttle_attempts: 10, min_delay_seconds: 0.01, max_delay_seconds: 0.05 }',
        'state:',
        '  schema: activate',
        '',
      ].join('\n'),
    );
    await editActivation(project.dir, 'customer_scores', () => ({
      name: 'new_customers_digest',
      destination: 'alerts',
      mode: 'create',
      primary_key: 'customer_id',
      fields: { first_name: 'first_name', last_name: 'last_name', plan: 'plan' },
      summary: true,
      summary_title: '*{{ count }} new customers*',
      message: '• {{ first_name }} {{ last_name }} ({{ plan }})',
      max_lines: 5,
    }));
    await editActivation(project.dir, 'at_risk_customers', () => ({
      name: 'at_risk_alerts',
      destination: 'alerts',
      mode: 'mirror',
      primary_key: 'customer_id',
      fields: { email: 'email', first_name: 'first_name', churn_risk: 'churn_risk' },
      message: ':warning: *{{ first_name }}* ({{ email }}) is at risk of churning ({{ churn_risk }})',
      removed_message: ':white_check_mark: {{ first_name }} is no longer at risk',
    }));
  });

  afterEach(async () => {
    await project.cleanup();
  });

  const atRisk = () => project.query<{ customer_id: number; first_name: string }>('SELECT customer_id, first_name FROM main.at_risk_customers ORDER BY customer_id');

  it('posts a message per row entering the model, nothing when unchanged, and one when a row leaves', async () => {
    const first = await project.cli('run', '-s', 'at_risk_alerts');
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const rows = await atRisk();
    expect(twin.messages).toHaveLength(rows.length);
    expect(texts().every((t) => t.startsWith(':warning: *'))).toBe(true);

    let mark = twin.messages.length;
    expect((await project.cli('run', '-s', 'at_risk_alerts')).code).toBe(0);
    expect(twin.messages).toHaveLength(mark);

    // A changed row posts nothing (no changed_message), a row entering and a row leaving post one each.
    const [leaving, changing] = rows;
    await project.sql(`UPDATE main.at_risk_customers SET churn_risk = 0.99, email = 'x<y>&z@example.com' WHERE customer_id = ${changing!.customer_id}`);
    await project.sql(`DELETE FROM main.at_risk_customers WHERE customer_id = ${leaving!.customer_id}`);
    await project.sql(
      `INSERT INTO main.at_risk_customers SELECT customer_id, email, first_name, plan, lifetime_value, last_order_date, 0.97
       FROM main.customer_scores WHERE churn_risk < 0.7 ORDER BY customer_id LIMIT 1`,
    );
    const [entering] = await project.query<{ first_name: string }>(
      `SELECT first_name FROM main.at_risk_customers WHERE churn_risk = 0.97`,
    );
    mark = twin.messages.length;
    const third = await project.cli('run', '-s', 'at_risk_alerts');
    expect(third.code, third.stderr + third.stdout).toBe(0);
    expect(texts().slice(mark)).toEqual([
      `:white_check_mark: ${leaving!.first_name} is no longer at risk`,
      expect.stringMatching(new RegExp(`^:warning: \\*${entering!.first_name}\\* .* \\(0\\.97\\)$`)),
    ]);
  });

  it('posts one digest for many new rows, with "and N more"', async () => {
    const run = await project.cli('run', '-s', 'new_customers_digest');
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(twin.messages).toHaveLength(1);
    const lines = twin.messages[0]!.text.split('\n');
    expect(lines[0]).toBe('*20 new customers*');
    expect(lines.slice(1, 6).every((l) => l.startsWith('• '))).toBe(true);
    expect(lines[6]).toBe('…and 15 more');
    const [state] = await project.query<{ n: number }>(`SELECT count(*) AS n FROM activate.activate_state WHERE sync_id = 'new_customers_digest'`);
    expect(Number(state!.n)).toBe(20);
  });

  it('stops when the webhook is removed, keeping what was posted, and posts only the rest next time', async () => {
    twin.respondWith(() => (twin.messages.length >= 2 ? { status: 404, body: 'no_service' } : undefined));
    const run = await project.cli('run', '-s', 'at_risk_alerts');
    expect(run.code).toBe(1);
    expect(run.stdout + run.stderr).toMatch(/HTTP 404 no_service.*webhook_url/);
    expect(run.stdout + run.stderr).not.toContain('twinsecret');
    const [state] = await project.query<{ n: number }>(`SELECT count(*) AS n FROM activate.activate_state WHERE sync_id = 'at_risk_alerts'`);
    expect(Number(state!.n)).toBe(2);

    twin.respondWith(undefined);
    const again = await project.cli('run', '-s', 'at_risk_alerts');
    expect(again.code, again.stderr + again.stdout).toBe(0);
    const rows = await atRisk();
    expect(twin.messages).toHaveLength(rows.length);
    expect(new Set(texts()).size).toBe(rows.length);
  });

  it('survives a storm of 429s with every message posted once', async () => {
    let throttled = 0;
    twin.respondWith(() => (throttled++ < 5 ? { status: 429, headers: { 'retry-after': '0' }, body: 'rate_limited' } : undefined));
    const run = await project.cli('run', '-s', 'at_risk_alerts');
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const rows = await atRisk();
    expect(twin.messages).toHaveLength(rows.length);
    expect(new Set(texts()).size).toBe(rows.length);
  });
});
