/** Storage of the app: the blob layout, blob helpers and the job index (Table storage). */
export * from './paths.js';
export * from './blobs.js';
export * from './jobIndex.js';
export * from './segments.js';
export * from './sourceUrl.js';
export * from './uploadUrl.js';
export * from './blobSas.js';
