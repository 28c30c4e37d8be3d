/** Storage of the import pipeline: the blob layout and blob helpers. */
export * from './paths.js';
export * from './blobs.js';
export * from './segments.js';
export * from './sourceUrl.js';
export * from './uploadUrl.js';
