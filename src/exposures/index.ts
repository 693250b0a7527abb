export { buildExposures, exposureName, refOf, ownerFromMeta, EXPOSURE_TAG, SYNC_META_KEY, type Exposure, type ExposureOwner } from './build.js';
export { renderExposuresFile, exposureYaml, type RenderExposuresOptions } from './render.js';
export { writeExposures, DEFAULT_EXPOSURES_FILE, type WriteExposuresOptions, type WriteExposuresResult } from './write.js';
export { unifiedDiff } from './diff.js';
export { parseDbtVersion, type DbtVersion } from './dbt-version.js';
