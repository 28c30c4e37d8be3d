/** The jobs: what every kind shares, each kind's contracts and job JSON, their ids and list entries. */
export * from './common.js';
export * from './ids.js';
export * from './imports.js';
export * from './exports.js';
export * from './recurring.js';
export * from './rejections.js';
export * from './groups.js';
export * from './listing.js';
