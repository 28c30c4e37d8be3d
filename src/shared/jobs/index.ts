/** The jobs: what every kind shares, each kind's contracts and job JSON, and their ids. */
export * from './common.js';
export * from './ids.js';
export * from './imports.js';
export * from './exports.js';
export * from './recurring.js';
