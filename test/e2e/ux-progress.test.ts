import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '../twins/webhook-receiver.js';
import { makeExampleProject, repoRoot, webhookActivateYml, WEBHOOK_SECRET, type ExampleProject } from '../support/example-project.js';
import { cliWith } from '../cli/support.js';

/** Progress of `activate run`: live on a terminal (a fake TTY in process, a real pseudo-terminal), plain lines otherwise. */
const EXTRA = 300;
const TOTAL = EXTRA + 20;
let receiver: WebhookReceiver;
let project: ExampleProject;

beforeEach(async () => {
  receiver = await startWebhookReceiver({ secret: WEBHOOK_SECRET });
  project = await makeExampleProject({ ACTIVATE_WEBHOOK_URL: receiver.url });
  await project.writeActivateYml(webhookActivateYml({ batchSize: 20 }));
  await project.sql(
    `INSERT INTO main.customer_scores (customer_id, email, first_name, last_name, plan, lifetime_value, order_count, last_order_date, churn_risk, is_active)
     SELECT 1000 + i, 'user' || i || '@example.com', 'First' || i, 'Last' || i, 'free', 10.5, 1, DATE '2025-01-01', 0.5, true FROM range(${EXTRA}) t(i)`,
  );
});

afterEach(async () => {
  receiver.assertNoViolations();
  await receiver.close();
  await project.cleanup();
});

const FRAME = new RegExp(`crm_contacts {2}[█░]{24} +\\d+% {2}[\\d,]+/${TOTAL} `);

describe('on a terminal', () => {
  it('draws a live line per running sync on stderr (a fake TTY through the real CLI), then the summary on stdout', async () => {
    let terminal = '';
    const stderrStream = { isTTY: true, columns: 120, rows: 40, write: (t: string) => ((terminal += t), true) };
    const run = await cliWith(project, ['run', '-s', 'crm_contacts'], { stderrStream, stderr: (t) => void (terminal += t) });
    expect(run.code, terminal).toBe(0);
    const plain = stripVTControlCharacters(terminal);
    expect(plain).toMatch(FRAME);
    expect(terminal).toContain('\x1b[2K'); // frames are erased and redrawn in place, by log-update
    expect(plain).toContain(`OK crm_contacts: ${TOTAL} delivered, 0 rejected in `);
    expect(plain).toContain('Planning crm_contacts'); // log lines still appear, above the live lines
    expect(run.stdout).not.toContain('\x1b'); // stdout is not a terminal here: no colour
    expect(run.stdout).toMatch(new RegExp(`crm_contacts\\s+upsert\\s+\\+${TOTAL} ~0 -0\\s+${TOTAL}\\s+0\\s+0\\s+\\d+\\.\\ds\\s+OK`));
  });

  it('draws in a real pseudo-terminal (script from util-linux), restores the cursor, and exits with the run\'s code', async () => {
    if (spawnSync('script', ['--version']).status !== 0) {
      console.warn('skipped: `script` (util-linux) is not installed');
      return;
    }
    const command = [process.execPath, join(repoRoot, 'bin', 'activate.js'), 'run', '-s', 'crm_contacts'].map(shellQuote).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd: project.dir,
      env: { PATH: process.env.PATH, HOME: project.dir, TERM: 'xterm-256color', ...project.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let transcript = '';
    child.stdout.on('data', (d: Buffer) => (transcript += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, transcript).toBe(0);
    const plain = stripVTControlCharacters(transcript);
    expect(plain).toMatch(FRAME);
    expect(transcript).toContain('\x1b[2K');
    expect(transcript).toContain('\x1b[?25l'); // cursor hidden while drawing...
    expect(transcript.lastIndexOf('\x1b[?25h')).toBeGreaterThan(transcript.lastIndexOf('\x1b[?25l')); // ...and shown again
    expect(plain).toContain(`OK crm_contacts: ${TOTAL} delivered`);
    expect(plain).toContain(`Done. PASS=1 WARN=0 ERROR=0 SKIP=0 TOTAL=1`);
  });
});

describe('off a terminal', () => {
  it('NO_COLOR, --quiet and --log-format json draw nothing live, even on a TTY', async () => {
    for (const [args, env] of [
      [['--quiet'], {}],
      [[], { NO_COLOR: '1' }],
      [['--log-format', 'json'], {}],
    ] as const) {
      let terminal = '';
      const stderrStream = { isTTY: true, columns: 120, rows: 40, write: (t: string) => ((terminal += t), true) };
      await project.cli('run', '-s', 'crm_contacts', '--full-refresh');
      const run = await cliWith(project, ['run', '-s', 'crm_contacts', '--full-refresh', ...args], {
        stderrStream,
        stderr: (t) => void (terminal += t),
        env: { PATH: process.env.PATH, HOME: project.dir, ...project.env, ...env },
      });
      expect(run.code, terminal).toBe(0);
      expect(terminal, JSON.stringify(args)).not.toContain('\x1b');
      expect(terminal).not.toMatch(FRAME);
      if (args[0] === '--log-format') {
        for (const line of terminal.trimEnd().split('\n')) expect(() => JSON.parse(line), line).not.toThrow();
      }
      if (args[0] === '--quiet') expect(terminal).not.toContain('Planning');
    }
  });
});

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}
