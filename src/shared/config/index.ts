/** Configuration: the schema, app settings, and the one loader that reads process.env. */
export * from './schema.js';
export * from './settings.js';
export * from './load.js';
