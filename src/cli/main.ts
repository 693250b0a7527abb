import { Command, CommanderError, Option } from 'commander';
import { ActivateError, ConfigError, EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, errorMessage } from '../errors.js';
import { createLogger } from '../logger.js';
import { loadProject, type Project, type ProjectOptions } from '../project/load-project.js';
import { selectSyncs } from '../project/select.js';
import { planProject, runProject, type ProjectReport, type RunOptions } from '../run/run-project.js';
import { Redactor } from '../secrets.js';
import { checkSyncIds, readStatus, resetSyncs } from '../run/state-commands.js';
import { INIT_DESTINATION_TYPES } from './init-templates.js';
import { runExposuresCommand, runValidateCommand, type ExposuresValidateFlags } from './exposures-validate.js';
import { appendStepSummary } from './github-summary.js';
import { runInitCommand, type InitFlags } from './init.js';
import { toJsonReport } from './json-output.js';
import { formatMarkdown, MARKDOWN_MARKER } from './markdown.js';
import { LiveProgress, PlainProgress, type Progress, type TerminalStream } from './progress.js';
import { formatReport, formatStatus, formatSyncList, syncListJson } from './report.js';
import { colorsFor, liveProgressWanted } from './terminal.js';

interface CommonFlags {
  projectDir?: string;
  profilesDir?: string;
  profile?: string;
  target?: string;
  targetPath?: string;
  config?: string;
  select?: string[];
  exclude?: string[];
  json?: boolean;
  logFormat?: 'text' | 'json';
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  quiet?: boolean;
}

interface RunFlags extends CommonFlags {
  fullRefresh?: boolean;
  allowLargeChanges?: boolean;
  maxRejections?: string;
  threads?: string;
  failFast?: boolean;
  failOnTestWarnings?: boolean;
  skipFailedModelsOk?: boolean;
  runs?: string;
  yes?: boolean;
  format?: OutputFormat;
  samples?: string;
}

type OutputFormat = 'text' | 'json' | 'markdown';

export interface CliIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Calls `handler` on SIGINT/SIGTERM until the returned function is called. */
  readonly onInterrupt?: (handler: (signal: string) => void) => () => void;
  /** stderr as a terminal, for the live progress display (absent or not a TTY: plain lines). */
  readonly stderrStream?: TerminalStream;
  /** Whether stdout is a terminal (colours in the summary). */
  readonly stdoutIsTTY?: boolean;
  /** Answers to `activate init`'s questions (asked only when it and stderr are terminals). */
  readonly stdin?: NodeJS.ReadableStream & { readonly isTTY?: boolean };
}

const defaultIO: CliIO = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
  cwd: process.cwd(),
  stderrStream: process.stderr,
  stdoutIsTTY: process.stdout.isTTY,
  stdin: process.stdin,
  onInterrupt: (handler) => {
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    return () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    };
  },
};

/** How long batches in flight may take to finish after an interrupt before they are abandoned. */
const IN_FLIGHT_GRACE_MS = 30_000;

/** Parses argv, runs one command, and is the only place that turns errors into exit codes. */
export async function main(argv: readonly string[], io: CliIO = defaultIO): Promise<number> {
  let redactor = new Redactor();
  let exitCode = EXIT_OK;
  let running: CommandKind | undefined;
  const program = buildProgram(io, async (kind, flags, args) => {
    running = kind;
    if (kind === 'init') {
      const log = createLogger({ format: flags.logFormat, level: flags.quiet ? 'warn' : flags.logLevel, write: (l) => io.stderr(l + '\n') });
      exitCode = await runInitCommand(flags as InitFlags, { ...io, log });
      return;
    }
    const project = await loadProject(projectOptions(flags, io));
    redactor = project.redactor;
    exitCode = await runCommand(kind, project, flags, io, args);
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return EXIT_OK;
      return EXIT_BAD_INPUT;
    }
    if (error instanceof ActivateError) {
      const prefix = error instanceof ConfigError ? 'Error in configuration' : 'Error';
      const text = redactor.redact(`${prefix}:\n${indent(error.message)}\n`);
      io.stderr(text);
      if (running === 'plan' || running === 'run') await summariseFailure(io, running, text);
      return error.exitCode;
    }
    io.stderr(redactor.redact(`Internal error (please report it): ${error instanceof Error ? (error.stack ?? error.message) : errorMessage(error)}\n`));
    return EXIT_FAILED;
  }
}

/** In a GitHub Actions job, a plan or run stopped by bad input says so in the job summary too. */
async function summariseFailure(io: CliIO, command: string, text: string): Promise<void> {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const markdown = [MARKDOWN_MARKER(command), `### activate ${command}: stopped before sending anything`, '', `${fence}text`, text.trimEnd(), fence, ''].join('\n');
  await appendStepSummary(io.env, markdown, (m) => io.stderr(`${m}\n`));
}

type CommandKind = 'ls' | 'plan' | 'run' | 'status' | 'reset' | 'exposures' | 'validate' | 'init';

function buildProgram(io: CliIO, action: (kind: CommandKind, flags: RunFlags, args: string[]) => Promise<void>): Command {
  const program = new Command('activate')
    .description('Reverse ETL for dbt: send the rows of dbt models that changed to the tools where people work.')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(run with --help for usage)');

  const common = (command: Command) =>
    command
      .option('--project-dir <dir>', 'the dbt project (default: nearest dbt_project.yml at or above the current directory)')
      .option('--profiles-dir <dir>', 'where profiles.yml is (default: as dbt finds it)')
      .option('--profile <name>', 'the profile to use instead of dbt_project.yml profile:')
      .option('-t, --target <name>', 'the profile target to use')
      .option('--target-path <dir>', "dbt's artifacts directory (default: target)")
      .option('--config <file>', 'activate.yml to use (default: beside dbt_project.yml)')
      .option('-s, --select <selector...>', 'dbt selectors: names, sync ids, tag:, path:, config.<key>:, package:, +model, model+, @model, a,b')
      .option('--exclude <selector...>', 'syncs to leave out')
      .option('--json', 'print the result as JSON on stdout')
      .addOption(new Option('--log-format <format>', 'log lines as text or JSON').choices(['text', 'json']).default('text'))
      .addOption(new Option('--log-level <level>').choices(['debug', 'info', 'warn', 'error']).default('info'))
      .option('-q, --quiet', 'only warnings, errors and results (and a progress line every few seconds on long syncs)')
      .showHelpAfterError('(run with --help for usage)')
      .exitOverride();
  const output = (command: Command) =>
    command.addOption(
      new Option('--format <format>', 'the result on stdout: a table, JSON (docs/json-output.md) or Markdown for a pull request').choices(['text', 'json', 'markdown']),
    );

  common(program.command('ls').description('list the syncs declared in meta.activation')).action((flags: RunFlags) => action('ls', flags, []));
  output(common(program.command('plan').description('compute what each sync would send, without sending or writing anything')))
    .option('--samples <n>', 'sample records per kind of change (added, changed, removed) in the result; 0 for none', '3')
    .option('--full-refresh', 'plan as if nothing had been sent before')
    .option('--allow-large-changes', 'do not stop at safety limits')
    .option('--fail-on-test-warnings', "a test that warned in dbt's run skips its model's syncs")
    .option('--skip-failed-models-ok', "syncs skipped by dbt's verdict do not fail the run")
    .action((flags: RunFlags) => action('plan', flags, []));
  output(common(program.command('run').description('send the changed rows and record what the destinations accepted')))
    .option('--full-refresh', "forget what was sent before and send every row again (deletes nothing)")
    .option('--allow-large-changes', 'send even when a sync exceeds its safety limits (mass deletes included)')
    .option('--max-rejections <n>', 'rejected records a sync may have before the run fails', '0')
    .option('--threads <n>', 'syncs delivered at once (destinations keep their shared rate limits)', '1')
    .option('--fail-fast', 'stop all syncs at the first one that fails')
    .option('--fail-on-test-warnings', "a test that warned in dbt's run skips its model's syncs")
    .option('--skip-failed-models-ok', "syncs skipped by dbt's verdict do not fail the run")
    .action((flags: RunFlags) => action('run', flags, []));
  common(program.command('status').description("each sync's last runs, open rejections and lease, read from the warehouse"))
    .option('--runs <n>', 'runs to show per sync', '3')
    .action((flags: RunFlags) => action('status', flags, []));
  common(program.command('reset').description('forget what syncs sent, so their next run sends every row again'))
    .argument('<sync...>', 'sync ids')
    .option('--yes', 'really forget (without it, only says what would be forgotten)')
    .action((ids: string[], flags: RunFlags) => action('reset', flags, ids));
  common(program.command('exposures').description("write a dbt exposure per sync (type: application) so syncs show in dbt's lineage"))
    .option('--output <file>', 'the exposures YAML file (default: models/activate_exposures.yml in the project)')
    .option('--check', 'write nothing; exit 1 and print a diff when the file is out of date (for CI)')
    .action((flags: RunFlags) => action('exposures', flags, []));
  common(program.command('validate').description('check config, manifest, env vars, profile and mapped columns without sending or writing anything'))
    .option('--online', "also ask each destination whether the mapped fields exist (sends no records)")
    .action((flags: RunFlags) => action('validate', flags, []));
  program
    .command('init')
    .description('start a project: write a commented activate.yml for the warehouse and a sample meta.activation for a model')
    .option('--project-dir <dir>', 'the dbt project (default: nearest dbt_project.yml at or above the current directory)')
    .option('--profiles-dir <dir>', 'where profiles.yml is (default: as dbt finds it)')
    .option('--profile <name>', 'the profile to use instead of dbt_project.yml profile:')
    .option('-t, --target <name>', 'the profile target to use')
    .option('--target-path <dir>', "dbt's artifacts directory (default: target)")
    .option('--destination-type <type>', `the kind of destination to start with: ${INIT_DESTINATION_TYPES.join(', ')} (default: webhook)`)
    .option('--destination <name>', 'its name in activate.yml (default: my_webhook, my_files or app_db)')
    .option('--model <name>', 'add a sample meta.activation to this model\'s YAML')
    .option('--primary-key <columns>', 'the model column(s) that identify a row, comma-separated (default: guessed from the columns)')
    .option('--fields <columns>', 'the columns to send, comma-separated (default: every other column)')
    .option('--force', 'replace an existing activate.yml')
    .option('--non-interactive', 'never ask; use the flags and defaults (also when stdin is not a terminal)')
    .addOption(new Option('--log-format <format>', 'log lines as text or JSON').choices(['text', 'json']).default('text'))
    .addOption(new Option('--log-level <level>').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .option('-q, --quiet', 'only warnings and errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .action((flags: RunFlags) => action('init', flags, []));
  return program;
}

function projectOptions(flags: RunFlags, io: CliIO): ProjectOptions {
  return {
    projectDir: flags.projectDir,
    profilesDir: flags.profilesDir,
    profile: flags.profile,
    target: flags.target,
    targetPath: flags.targetPath,
    config: flags.config,
    cwd: io.cwd,
    env: io.env,
  };
}

async function runCommand(kind: CommandKind, project: Project, flags: RunFlags, io: CliIO, args: readonly string[]): Promise<number> {
  const redact = (text: string) => project.redactor.redact(text);
  // Every stderr line goes through `writeLine`: while live progress is drawn, above it.
  let writeLine = (line: string) => io.stderr(`${line}\n`);
  const log = createLogger({
    format: flags.logFormat,
    level: flags.quiet ? 'warn' : flags.logLevel,
    redactor: project.redactor,
    write: (line) => writeLine(line),
  });
  const print = (value: unknown, text: () => string) => io.stdout(redact(flags.json ? JSON.stringify(value, null, 2) : text()) + '\n');
  if (kind === 'exposures') return runExposuresCommand(project, flags as RunFlags & ExposuresValidateFlags, log, io);
  if (kind === 'validate') return runValidateCommand(project, flags as RunFlags & ExposuresValidateFlags, log, io);
  if (kind === 'status') {
    const report = await readStatus(project, { select: flags.select, exclude: flags.exclude, runs: wholeNumber('--runs', flags.runs, 1), log });
    print(report, () => formatStatus(report));
    return EXIT_OK;
  }
  if (kind === 'reset') {
    if (!flags.yes) {
      checkSyncIds(project, args);
      const status = await readStatus(project, { select: args, log });
      io.stderr(status.map((s) => `Would forget ${s.syncedRecords} synced records of ${s.id}.`).join('\n') + '\nNothing changed: run again with --yes to forget them.\n');
      return EXIT_BAD_INPUT;
    }
    const results = await resetSyncs(project, args);
    print(results, () => results.map((r) => `Forgot ${r.forgotten} synced records of ${r.id}; its next run sends every row again.`).join('\n'));
    return EXIT_OK;
  }
  if (kind === 'ls') {
    const syncs = selectSyncs(project.syncs, project.manifest, flags.select, flags.exclude, log);
    io.stdout(redact(flags.json ? JSON.stringify(syncListJson(syncs), null, 2) : formatSyncList(syncs)) + '\n');
    return EXIT_OK;
  }
  if (kind !== 'plan' && kind !== 'run') throw new Error(`unknown command ${kind}`);
  const format = outputFormat(flags);
  const stop = new AbortController();
  const abandon = new AbortController();

  // Progress of delivery: live lines on a terminal, else a plain line per sync every few seconds.
  let progress: Progress | undefined;
  if (kind === 'run') {
    const stream = io.stderrStream;
    progress = liveProgressWanted(io.env, stream?.isTTY, flags)
      ? new LiveProgress(stream!, { colors: colorsFor(io.env, true), hideCursor: stream === process.stderr })
      : new PlainProgress(
          (line) => io.stderr(`${line}\n`),
          // Shown under --quiet too (a long job that prints nothing looks hung), not under --log-level warn/error.
          createLogger({ format: flags.logFormat, level: flags.quiet ? 'info' : flags.logLevel, redactor: project.redactor, write: (l) => io.stderr(`${l}\n`) }).info,
        );
    const shown = progress;
    writeLine = (line) => shown.line(line);
  }

  const options: RunOptions = {
    select: flags.select,
    exclude: flags.exclude,
    fullRefresh: flags.fullRefresh ?? false,
    allowLargeChanges: flags.allowLargeChanges ?? false,
    maxRejections: wholeNumber('--max-rejections', flags.maxRejections, 0),
    threads: wholeNumber('--threads', flags.threads, 1),
    failFast: flags.failFast ?? false,
    failOnTestWarnings: flags.failOnTestWarnings ?? false,
    skipFailedModelsOk: flags.skipFailedModelsOk ?? false,
    samples: wholeNumber('--samples', flags.samples ?? (kind === 'plan' ? '3' : '0'), 0),
    stop: stop.signal,
    signal: abandon.signal,
    log,
    onSyncStart: progress && ((id, planned) => progress.start(id, planned)),
    onProgress: progress && ((id, counts) => progress.update(id, counts)),
    onSyncDone: progress && ((report) => progress.finish(report)),
  };
  // First interrupt: send nothing new, let batches in flight finish and commit. Second: abandon them.
  const unsubscribe = io.onInterrupt?.((signal) => {
    if (stop.signal.aborted) {
      abandon.abort(new Error(`interrupted twice (${signal})`));
      return;
    }
    log.warn(`${signal}: stopping; waiting up to ${IN_FLIGHT_GRACE_MS / 1000} s for requests in flight (interrupt again to abandon them)`);
    stop.abort(new Error(signal));
    setTimeout(() => abandon.abort(new Error('requests in flight did not finish in time')), IN_FLIGHT_GRACE_MS).unref();
  });
  let report: ProjectReport;
  try {
    report = kind === 'plan' ? await planProject(project, options) : await runProject(project, options);
  } finally {
    unsubscribe?.();
    progress?.close();
    writeLine = (line) => io.stderr(`${line}\n`);
  }
  const code = stop.signal.aborted ? EXIT_CANCELLED : report.exitCode;
  const title = ['activate', kind, ...selectionArgs(flags)].join(' ');
  if (format === 'json') io.stdout(redact(JSON.stringify(toJsonReport(report, project, code), null, 2)) + '\n');
  else if (format === 'markdown') io.stdout(redact(formatMarkdown(report, { project, title })));
  else io.stdout(redact(formatReport(report, { colors: colorsFor(io.env, io.stdoutIsTTY) })) + '\n');
  await appendStepSummary(io.env, redact(formatMarkdown(report, { project, title })), (m) => log.warn(m));
  return code;
}

function outputFormat(flags: RunFlags): OutputFormat {
  if (flags.json && flags.format !== undefined && flags.format !== 'json') {
    throw new ConfigError(`--json and --format ${flags.format} ask for different outputs; use one of them`);
  }
  return flags.json ? 'json' : (flags.format ?? 'text');
}

function selectionArgs(flags: RunFlags): string[] {
  return [
    ...(flags.select?.length ? ['-s', ...flags.select] : []),
    ...(flags.exclude?.length ? ['--exclude', ...flags.exclude] : []),
    ...(flags.fullRefresh ? ['--full-refresh'] : []),
  ];
}

function wholeNumber(flag: string, value: string | undefined, min: number): number {
  const n = Number(value ?? min);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${flag}: "${value}" must be a whole number >= ${min}`);
  return n;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
