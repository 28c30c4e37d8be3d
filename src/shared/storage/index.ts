/** Storage of the app: the blob layout, blob helpers and the job index (Table storage). */
export * from './paths.js';
export * from './blobs.js';
export * from './jobIndex.js';
