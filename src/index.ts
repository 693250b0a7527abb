export { loadProject, resolveProfile, type Project, type ProjectOptions } from './project/load-project.js';
export { planProject, runProject, type ProjectReport, type SyncReport, type RunOptions } from './run/run-project.js';
export { readManifest, parseManifest, type Manifest, type ModelNode } from './dbt/manifest.js';
export type { SyncSpec } from './config/sync-spec.js';
export { createLogger, silentLogger, type Logger } from './logger.js';
export * from './errors.js';
export type * from '../destinations/types.js';
export { buildExposures, renderExposuresFile, writeExposures, exposureName, type Exposure, type WriteExposuresResult } from './exposures/index.js';
export { validateProject, type ValidateOptions, type ValidateResult } from './validate/validate.js';
