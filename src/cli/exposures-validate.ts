import { EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK } from '../errors.js';
import { writeExposures } from '../exposures/write.js';
import type { Logger } from '../logger.js';
import type { Project } from '../project/load-project.js';
import { validateProject } from '../validate/validate.js';

/** The flags of `activate exposures` and `activate validate` beyond the common ones. */
export interface ExposuresValidateFlags {
  select?: string[];
  exclude?: string[];
  json?: boolean;
  output?: string;
  check?: boolean;
  online?: boolean;
}

interface Output {
  readonly stdout: (text: string) => void;
}

/** `activate exposures [--output file] [--check]`: 0 written or up to date; 1 with --check when the file is stale (diff on stdout). */
export async function runExposuresCommand(project: Project, flags: ExposuresValidateFlags, log: Logger, io: Output): Promise<number> {
  if ((flags.select?.length ?? 0) > 0 || (flags.exclude?.length ?? 0) > 0) {
    log.warn('exposures: --select/--exclude are ignored: the exposures file always holds every sync');
  }
  const result = await writeExposures(project, { output: flags.output, check: flags.check ?? false });
  for (const warning of result.warnings) log.warn(warning);
  const redact = (text: string) => project.redactor.redact(text);
  const stale = (flags.check ?? false) && result.changed;
  if (flags.json) {
    const { path, display, changed, written, diff, exposures, warnings } = result;
    io.stdout(redact(JSON.stringify({ path, file: display, changed, written, stale, exposures, diff, warnings }, null, 2)) + '\n');
    return stale ? EXIT_FAILED : EXIT_OK;
  }
  const count = `${result.exposures} exposure${result.exposures === 1 ? '' : 's'}`;
  if (stale) {
    io.stdout(redact(result.diff));
    io.stdout(`${result.display} is out of date: run \`activate exposures\` to update it (${count}).\n`);
    return EXIT_FAILED;
  }
  if (result.written) {
    io.stdout(`Wrote ${count} to ${result.display}; \`dbt parse\` (or dbt build / dbt docs generate) puts them in dbt's lineage.\n`);
  } else if (result.exposures === 0 && !result.changed) {
    io.stdout(`No syncs, so no exposures to write (${result.display} not created).\n`);
  } else {
    io.stdout(`${result.display} is up to date (${count}).\n`);
  }
  return EXIT_OK;
}

/** `activate validate [--online]`: prints each problem as `model/sync: path: message`; 2 when there is any. */
export async function runValidateCommand(project: Project, flags: ExposuresValidateFlags, log: Logger, io: Output): Promise<number> {
  const result = await validateProject({ project, select: flags.select, exclude: flags.exclude, online: flags.online ?? false, log });
  for (const note of result.notes) log.info(note);
  const code = result.problems.length > 0 ? EXIT_BAD_INPUT : EXIT_OK;
  if (flags.json) {
    io.stdout(JSON.stringify({ problems: result.problems, syncs: result.syncs, notes: result.notes }, null, 2) + '\n');
    return code;
  }
  const syncs = `${result.syncs.length} sync${result.syncs.length === 1 ? '' : 's'} checked`;
  if (result.problems.length === 0) {
    io.stdout(`No problems: ${syncs}.\n`);
    return code;
  }
  const n = result.problems.length;
  io.stdout(`${result.problems.join('\n')}\n${n} problem${n === 1 ? '' : 's'} (${syncs}).\n`);
  return code;
}
