import { appendFile } from 'node:fs/promises';
import { errorMessage } from '../errors.js';

/**
 * Appends Markdown to the GitHub Actions job summary when `GITHUB_STEP_SUMMARY` names its file
 * (GitHub sets it in every step). A file that cannot be written only costs a warning.
 */
export async function appendStepSummary(
  env: NodeJS.ProcessEnv,
  markdown: string,
  warn: (message: string) => void,
): Promise<boolean> {
  const path = env.GITHUB_STEP_SUMMARY;
  if (!path) return false;
  try {
    await appendFile(path, markdown.endsWith('\n') ? `${markdown}\n` : `${markdown}\n\n`, 'utf8');
    return true;
  } catch (error) {
    warn(`GITHUB_STEP_SUMMARY: cannot append the summary to ${path}: ${errorMessage(error)}`);
    return false;
  }
}
