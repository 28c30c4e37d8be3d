/** The job model of the import pipeline. */
export * from './model.js';
